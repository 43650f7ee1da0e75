"""The Pulumi component provider: `SecretsStore`, `VersionedSecret` and `Worker` for every Pulumi
language (TypeScript, Go, YAML, C#, Java), run from this package's Python code.

Use (the plugin is the folder `pulumi-plugin/`, see its README):

    pulumi package add <path to this repository>/pulumi-plugin
    pulumi package add github.com/<org>/<repository>/pulumi-plugin@<tag>

Entry point: Pulumi's Python language host runs a source plugin as `python <plugin folder>
<engine address>`, which executes that folder's `__main__.py`. The repository root's
`__main__.py` is the stack-file Pulumi program, so the plugin has a folder of its own whose
`__main__.py` calls `main()` below. `python -m secrets_store.plugin --schema-summary` prints
the schema's components, inputs and outputs.

The schema is inferred by the SDK's component analyzer (`pulumi.provider.experimental`), which
wants `__init__(self, name: str, args: <TypedDict>, opts)` and annotations it can read as
objects. The public components take `args: X | None = None` or keyword arguments, and their
modules use `from __future__ import annotations` (every annotation is text). So this module
hosts, per component:

- the public `...Args` TypedDict rebuilt with its annotations evaluated: same keys, types and
  optional keys, so a field added to a public Args type reaches the schema with no change here;
- a subclass with the public class's name (hence its type token `secrets-store:index:<Name>`),
  that strict signature, the public docstring and output annotations, which turns what the
  engine sends to Construct into what the public component reads (`engine_maps`);

and `SecretsStoreProvider`, the SDK's `ComponentProvider` whose schema is finished in one
place, `finish_schema`: secret inputs marked secret, descriptions from the public docstrings.

This module has no `from __future__ import annotations`, on purpose: the analyzer reads its
`__init__` annotations as objects.
"""

import inspect
import json
import sys
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ForwardRef, NotRequired, TypedDict, TypeVar, cast

import pulumi
from pulumi.provider import main as serve
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case

import secrets_store
from secrets_store import secret, store, worker
from secrets_store.errors import Problem, SpecError

PACKAGE = "secrets-store"
"""The package name: type tokens are `secrets-store:index:<Component>`, as the components use."""

T = TypeVar("T")
C = TypeVar("C", bound=type)
A = TypeVar("A", bound=Mapping[str, object])


def token(name: str) -> str:
    return f"{PACKAGE}:index:{name}"


# ---- the public types, as the analyzer reads them -------------------------------------------


def evaluated_annotations(cls: type) -> dict[str, Any]:
    """`cls`'s own annotations as objects, evaluated in its module.

    Under `from __future__ import annotations` a class keeps its annotations as text (a
    TypedDict as ForwardRefs); this evaluates that text in the defining module, as
    `inspect.get_annotations(eval_str=True)` does for plain classes.
    """
    namespace = vars(sys.modules[cls.__module__])
    evaluated: dict[str, Any] = {}
    for field, annotation in inspect.get_annotations(cls).items():
        if isinstance(annotation, ForwardRef):
            annotation = annotation.__forward_arg__
        # The module's own annotation text, evaluated where it was written.
        evaluated[field] = (
            eval(annotation, namespace) if isinstance(annotation, str) else annotation
        )
    return evaluated


def strict_args(public: type, name: str | None = None, **retyped: Any) -> Any:
    """The TypedDict `public` with its annotations evaluated (same keys, types, optional keys).

    `name` renames it (a schema type is named after its class); `retyped` replaces the type of
    some fields (a field typed with another public TypedDict takes its strict version).
    """
    fields = {**evaluated_annotations(public), **retyped}
    strict = TypedDict(name or public.__name__, fields)  # type: ignore[misc]  # built at runtime
    strict.__doc__ = public.__doc__
    return strict


SecretBindingType = strict_args(worker.SecretBindingArgs, name="SecretBinding")
"""Schema type `secrets-store:index:SecretBinding` (`SecretBindingArgs` in the generated SDKs):
what `secrets_store.SecretBinding(secret, fallback=...)` builds in Python."""

if TYPE_CHECKING:  # the checker sees the public types, which have the same shape
    from secrets_store.secret import VersionedSecretArgs
    from secrets_store.store import SecretsStoreArgs
    from secrets_store.worker import WorkerArgs
else:
    SecretsStoreArgs = strict_args(store.SecretsStoreArgs)
    # Map keys are strings in every other language: versions are "1", "2" there. And only
    # Python passes `store=`, which lets it leave out the account id.
    VersionedSecretArgs = strict_args(
        secret.VersionedSecretArgs,
        account_id=pulumi.Input[str],
        values=NotRequired[Mapping[str, pulumi.Input[str]]],
        import_ids=NotRequired[Mapping[str, str]],
    )
    # extra_bindings from other languages: maps of the provider's binding fields (snake_case),
    # read by Worker like the dicts Python may pass.
    WorkerArgs = strict_args(
        worker.WorkerArgs,
        bindings=NotRequired[Mapping[str, SecretBindingType]],
        extra_bindings=NotRequired[Sequence[Mapping[str, Any]]],
    )


def hosted(public: type) -> Callable[[C], C]:
    """Give a hosting subclass its public component's docstring and output annotations."""

    def host(cls: C) -> C:
        if cls.__name__ != public.__name__:
            raise TypeError(f"{cls.__name__} must be named {public.__name__} (its type token)")
        cls.__doc__ = inspect.cleandoc(public.__doc__ or "")
        cls.__annotations__ = evaluated_annotations(public)
        return cls

    return host


# ---- what the engine sends to Construct ------------------------------------------------------


class _Waiting(Exception):
    """An Output whose value has not arrived yet."""


def _run_now(step: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that has nothing to wait for to its end, without an event loop."""
    try:
        step.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    step.close()
    raise _Waiting


def settled(output: pulumi.Output[Any]) -> tuple[bool, Any]:
    """(is known, value) of an Output whose value has already arrived; (False, None) otherwise.

    Every input of Construct is such an Output: the SDK sets its data before the component is
    constructed, so `Output.is_known()` and `Output.future()` return without suspending. Only
    Construct's inputs are read this way (map keys, a known null): never a secret's value.
    """
    try:
        known = _run_now(output.is_known())
        value = _run_now(output.future(with_unknowns=True))
    except _Waiting:
        return False, None
    return known, value


def per_key(whole: pulumi.Output[Any], where: str) -> dict[str, pulumi.Output[Any]]:
    """A map that arrived as one Output, as one Output per key (each keeps its secrecy and
    dependencies). SpecError when its keys are not known yet."""
    known, value = settled(whole)
    if not known or not isinstance(value, Mapping):
        raise SpecError(
            [
                Problem(
                    where,
                    "needs its keys when the component is constructed, got a map that is not "
                    "known yet (pass a map literal; its values may be outputs)",
                )
            ]
        )
    return {str(key): whole.apply(itemgetter(key)) for key in value}


def engine_maps(args: A, fields: Iterable[str], where: str) -> A:
    """`args` with each map of `fields` a plain map, as the public component reads it.

    The engine hands Construct a secret input (and an input that depends on a resource
    without output values) whole, as one Output: Pulumi's SDKs wrap every input the schema
    marks secret in `secret(...)`. The components need a map's keys (versions, binding names)
    when constructed, so such a map becomes one Output per key.
    """
    plain: dict[str, Any] = dict(args)
    for field in fields:
        value = plain.get(field)
        if isinstance(value, pulumi.Output):
            plain[field] = per_key(value, f"{where}.{field}")
    return cast(A, plain)


def without_null_fallback(binding: Mapping[str, Any]) -> dict[str, Any]:
    """A SecretBinding without `fallback_secret_name` when it is known to be null.

    Other languages wire `fallbackSecretName: secret.fallbackName`, which is null while the
    secret is steady: then the Worker binds no fallback. Still unknown (a version this deploy
    creates, during preview), it is a name to come and stays.
    """
    fallback = binding.get("fallback_secret_name")
    if isinstance(fallback, pulumi.Output):
        known, value = settled(fallback)
        if known and value is None:
            return {k: v for k, v in binding.items() if k != "fallback_secret_name"}
    return dict(binding)


# ---- the hosted components -------------------------------------------------------------------


@hosted(store.SecretsStore)
class SecretsStore(store.SecretsStore):
    def __init__(
        self, name: str, args: SecretsStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, args, opts)


@hosted(secret.VersionedSecret)
class VersionedSecret(secret.VersionedSecret):
    def __init__(
        self, name: str, args: VersionedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, engine_maps(args, ("values",), f"VersionedSecret {name}"), opts)


@hosted(worker.Worker)
class Worker(worker.Worker):
    def __init__(
        self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        maps = ("vars", "kv_namespaces", "services", "secret_texts")
        settings = engine_maps(args, maps, f"Worker {name}")
        if "bindings" in settings:
            bindings = {b: without_null_fallback(t) for b, t in settings["bindings"].items()}
            settings = cast(WorkerArgs, {**settings, "bindings": bindings})
        super().__init__(name, settings, opts)


COMPONENTS: tuple[type[pulumi.ComponentResource], ...] = (SecretsStore, VersionedSecret, Worker)


# ---- the schema ------------------------------------------------------------------------------

SECRET_INPUTS: dict[str, tuple[str, ...]] = {
    "VersionedSecret": ("values",),
    "Worker": ("secretTexts",),
}
"""Inputs that carry secret values, by component. The analyzer cannot mark secrets:
`finish_schema` does, so every generated SDK wraps them in `secret(...)`."""

DOCUMENTED_BY: dict[str, tuple[type, type | None]] = {
    "SecretsStore": (store.SecretsStoreArgs, store.SecretsStore),
    "VersionedSecret": (secret.VersionedSecretArgs, secret.VersionedSecret),
    "Worker": (worker.WorkerArgs, worker.Worker),
    "SecretBinding": (worker.SecretBindingArgs, None),
}
"""Schema name -> the public classes whose field docstrings describe its inputs (or a type's
properties) and its outputs."""


def finish_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The analyzer's schema, finished. The one place the schema is changed after analysis:

    1. secrets: each input of `SECRET_INPUTS` is marked `secret` and is no longer `plain` (a
       secret travels as an Output whatever the schema says, so every SDK may take one);
    2. descriptions: every property, component and type gets its public class's docstring.
    """
    for component, names in SECRET_INPUTS.items():
        inputs = schema["resources"][token(component)]["inputProperties"]
        for name in names:
            inputs[name]["secret"] = True
            inputs[name].pop("plain", None)

    docs = Analyzer(PACKAGE)  # reads a class's field docstrings from its source
    for name, (fields, outputs) in DOCUMENTED_BY.items():
        if token(name) in schema["resources"]:
            resource = schema["resources"][token(name)]
            _describe(resource["inputProperties"], fields, docs)
            _describe(resource["properties"], outputs, docs)
        else:
            described = schema["types"][token(name)]
            described["description"] = inspect.cleandoc(fields.__doc__ or "")
            _describe(described["properties"], fields, docs)
    schema["description"] = (secrets_store.__doc__ or "").strip().splitlines()[0]
    return schema


def _describe(properties: dict[str, Any], cls: type | None, docs: Analyzer) -> None:
    if cls is None:
        return
    python_names = {camel_case(field): field for field in inspect.get_annotations(cls)}
    for name, spec in properties.items():
        text = docs.get_docstring(cls, python_names[name])
        if text:
            spec["description"] = inspect.cleandoc(text)


class SecretsStoreProvider(ComponentProvider):
    """The provider `pulumi package add` starts: the SDK's ComponentProvider hosting
    `COMPONENTS`, with its schema finished by `finish_schema`."""

    def __init__(self) -> None:
        super().__init__(list(COMPONENTS), PACKAGE, version=secrets_store.__version__)
        self.schema = json.dumps(finish_schema(json.loads(self.schema or "{}")), indent=2)


def schema_summary(schema: Mapping[str, Any]) -> str:
    """The schema on one screen: each component's inputs and outputs, and each type."""

    def kind(spec: Mapping[str, Any]) -> str:
        if "$ref" in spec:
            return str(spec["$ref"]).rsplit(":", 1)[-1]
        if spec.get("type") == "array":
            return f"list<{kind(spec['items'])}>"
        if spec.get("type") == "object" and "additionalProperties" in spec:
            return f"map<{kind(spec['additionalProperties'])}>"
        return str(spec.get("type", "any"))

    def fields(properties: Mapping[str, Any], required: Iterable[str]) -> str:
        needed = set(required)
        return ", ".join(
            f"{name}{'' if name in needed else '?'}: {kind(spec)}"
            + (" [secret]" if spec.get("secret") else "")
            for name, spec in properties.items()
        )

    resources, types = schema.get("resources", {}), schema.get("types", {})
    lines = [
        f"{schema['name']} {schema['version']}: {len(resources)} components, {len(types)} "
        "type(s) (`?` optional, [secret] marked secret)"
    ]
    for name, resource in resources.items():
        lines += [
            name,
            f"  inputs:  {fields(resource['inputProperties'], resource['requiredInputs'])}",
            f"  outputs: {fields(resource['properties'], resource['required'])}",
        ]
    for name, described in types.items():
        required = described.get("required", [])
        lines += [f"{name} (type)", f"  properties: {fields(described['properties'], required)}"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `pulumi-plugin/__main__.py` and `python -m secrets_store.plugin`.

    `--schema-summary` prints `schema_summary`; `--schema` prints the schema JSON. Otherwise it
    serves the provider over gRPC as the engine starts it (`<engine address> [flags]`), which
    is what `component_provider_host` does, here with `SecretsStoreProvider` (the host takes
    component classes only, so it has no place for `finish_schema`).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--schema-summary" in args or "--schema" in args:
        schema = SecretsStoreProvider().schema or "{}"
        text = schema + "\n" if "--schema" in args else schema_summary(json.loads(schema))
        sys.stdout.write(text)
        return
    serve(SecretsStoreProvider(), args)


if __name__ == "__main__":
    main()
