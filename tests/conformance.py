"""Registrations checked against the provider SDKs' own generated input types.

mypy does not follow `pulumi_cloudflare` (pyproject: a cold check of its ~780 generated
modules took a minute), so nothing checks the resource arguments statically. This does it
at test time, from the same source: for each registration of a `cloudflare:` or `random:`
resource, its `<Resource>Args` class (and, for nested values, the `...Args` classes in
`_inputs.py`) in site-packages gives

- the field names, on the wire (camelCase, from each property's `@pulumi.getter(name=...)`);
- the required fields (`__init__` parameters without a default);
- the scalar kind of each field (str, int, bool, list, map, object);
- the allowed values of an enum-like field (the generated docstring's `Available values:
  "a", "b"` or `Valid values are \\`a\\`, \\`b\\``);
- the fields the resource marks secret (`pulumi.Output.secret(<field>)` in its
  `_internal_init`): such an input must reach the engine as a Pulumi secret.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
from typing import Any

from secretsctl.offline.mockrun import SECRET_SIG, SIG_KEY, Registration

PACKAGES = {"cloudflare": "pulumi_cloudflare", "random": "pulumi_random"}
AVAILABLE = re.compile(r"Available values:\s*((?:\"[^\"]*\"(?:,\s*)?)+)")
VALID_ARE = re.compile(r"Valid values are ((?:`[^`]+`(?:,?\s*and\s*|,\s*)?)+)")
NESTED = re.compile(r"ForwardRef\('(\w+Args)'\)")
SECRET_FIELD = re.compile(r"__props__\.__dict__\[\"(\w+)\"\] = .*pulumi\.Output\.secret\(")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache
def resource_args(type_token: str) -> tuple[type, frozenset[str]] | None:
    """(the Args class, wire names of the fields it marks secret) of a resource type token,
    `cloudflare:index/secretsStoreSecret:SecretsStoreSecret`; None for other packages."""
    package, module_path, name = type_token.split(":")
    if package not in PACKAGES:
        return None
    module = importlib.import_module(f"{PACKAGES[package]}.{_snake(module_path.split('/')[-1])}")
    args = getattr(module, f"{name}Args")
    source = inspect.getsource(getattr(module, name)._internal_init)
    wire = {python: w for w, (python, _) in fields(args).items()}
    return args, frozenset(wire[f] for f in SECRET_FIELD.findall(source) if f in wire)


@functools.cache
def fields(args: type) -> dict[str, tuple[str, property]]:
    """Wire name -> (Python name, property) of every field of an `@pulumi.input_type` class."""
    out = {}
    for python, member in vars(args).items():
        if isinstance(member, property):
            out[getattr(member.fget, "_pulumi_name", python)] = (python, member)
    return out


@functools.cache
def required(args: type) -> frozenset[str]:
    params = inspect.signature(args.__init__).parameters.values()  # type: ignore[misc]
    return frozenset(
        p.name for p in params if p.default is inspect.Parameter.empty and p.name != "__self__"
    )


def allowed_values(doc: str) -> set[str] | None:
    """The values a field's generated docstring allows (markdown turned `_` into `*`)."""
    text = " ".join(doc.split())
    if found := AVAILABLE.search(text):
        return {v.replace("*", "_") for v in re.findall(r"\"([^\"]*)\"", found[1])}
    if found := VALID_ARE.search(text):
        return set(re.findall(r"`([^`]+)`", found[1]))
    return None


def _kind(annotation: str) -> str:
    """str | int | bool | float | list | map | object, from a parameter's annotation text."""
    inner = annotation.removeprefix("typing.Union[")
    for prefix, kind in (
        ("typing.Sequence[", "list"),
        ("Sequence[", "list"),
        ("typing.Mapping[", "map"),
        ("Mapping[", "map"),
        ("str,", "str"),
        ("int,", "int"),
        ("bool,", "bool"),
        ("float,", "float"),
        ("ForwardRef(", "object"),
    ):
        if inner.startswith(prefix):
            return kind
    return "any"


def _kind_ok(kind: str, value: Any) -> bool:
    checks: dict[str, Any] = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "map": lambda v: isinstance(v, dict),
        "object": lambda v: isinstance(v, dict),
    }
    return kind not in checks or checks[kind](value)


def check_object(args: type, inputs: dict[str, Any], where: str) -> list[str]:
    """Problems of `inputs` (wire names, as sent to the engine) against the Args class."""
    problems: list[str] = []
    known = fields(args)
    annotations = inspect.signature(args.__init__).parameters  # type: ignore[misc]
    for wire in sorted(set(inputs) - set(known)):
        problems.append(f"{where}.{wire}: unknown field of {args.__name__}")
    present = {known[w][0] for w in inputs if w in known}
    for python in sorted(required(args) - present):
        wire = next(w for w, (p, _) in known.items() if p == python)
        problems.append(f"{where}.{wire}: required by {args.__name__}, missing")
    for wire, value in sorted(inputs.items()):
        if wire not in known:
            continue
        if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
            value = value.get("value")
        if value is None:
            continue
        python, prop = known[wire]
        annotation = str(annotations[python].annotation)
        kind = _kind(annotation)
        if not _kind_ok(kind, value):
            problems.append(f"{where}.{wire}: {args.__name__} wants {kind}, got {value!r}")
            continue
        allowed = allowed_values(prop.__doc__ or "")
        scalars = value if isinstance(value, list) else [value]
        if allowed and kind in ("str", "list"):
            for scalar in scalars:
                if isinstance(scalar, str) and scalar not in allowed:
                    problems.append(f"{where}.{wire}: {scalar!r} is not one of {sorted(allowed)}")
        nested = NESTED.search(annotation)
        if nested is None:
            continue
        element = getattr(sys.modules[args.__module__], nested[1])
        if kind == "list":
            for index, item in enumerate(value):
                problems += check_object(element, item, f"{where}.{wire}[{index}]")
        elif kind == "map":
            for key, item in value.items():
                problems += check_object(element, item, f"{where}.{wire}.{key}")
        else:
            problems += check_object(element, value, f"{where}.{wire}")
    return problems


def registration_problems(registration: Registration) -> list[str]:
    """Every way one registration departs from its provider SDK's input types."""
    found = resource_args(registration.type)
    if found is None or not registration.custom:
        return []
    args, secret_fields = found
    where = f"{registration.type.rsplit(':', 1)[-1]} {registration.name}"
    problems = check_object(args, registration.inputs, where)
    for wire in sorted(secret_fields & set(registration.inputs)):
        value = registration.inputs[wire]
        if not (isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG):
            problems.append(f"{where}.{wire}: the schema marks it secret, sent in plain text")
    return problems
