"""A versioned secret: one Cloudflare secret per live version of its rotation."""

from __future__ import annotations

import asyncio
import difflib
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack, overload

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from secrets_store.activation import DEFAULT_TIMEOUT_SECONDS, SecretActivation
from secrets_store.adopted import AdoptedSecretVersion
from secrets_store.config import load_schema_file
from secrets_store.errors import Problem, SpecError
from secrets_store.grammar import BINDING_NAME, NAME_PREFIX
from secrets_store.ordering import Standing
from secrets_store.promotion import gated, publish_position
from secrets_store.rotation import (
    Position,
    cloudflare_secret_name,
    fallback_binding_name,
    position_from,
)
from secrets_store.schemas import is_schema_file
from secrets_store.spec import (
    KEY_BYTES,
    NAMESPACE,
    UNDECRYPTED,
    SchemaFile,
    SecretSpec,
    check_secret,
    value_key,
    value_problems,
)

if TYPE_CHECKING:
    from secrets_store.store import SecretsStore

TYPE = "secrets-store:index:VersionedSecret"


Versioned = Mapping[int, pulumi.Input[str]] | Mapping[str, pulumi.Input[str]]
"""Something per version, keyed by version number: `{1: ...}` from Python, `{"1": ...}` from
other languages (map keys are strings there)."""


class VersionedSecretArgs(TypedDict):
    """A secret and where it stands in its rotation. Values are Pulumi secrets by construction."""

    account_id: NotRequired[pulumi.Input[str]]
    """The Cloudflare account id. Required, unless Python code passes `store=` (then the
    store's account is the default)."""
    store_id: NotRequired[pulumi.Input[str]]
    """The store holding every version (a `SecretsStore`'s `store_id`). Required, unless Python
    code passes `store=` instead."""
    kind: str
    """api_key | encryption_key | signing_key | json | opaque: what the workers' helpers do with
    the stages (api_key tries the primary then the fallback binding, ...)."""
    current: NotRequired[int]
    """The version every primary binding uses while steady. Leave current, next and stage
    out to take them from the stack config `secrets-store:rotation.<secret>` (what
    `secretsctl rotate` edits); no entry there: steady at 1."""
    next: NotRequired[int]
    """The version being rotated in; set exactly while `stage` is fallback or swapped."""
    stage: NotRequired[str]
    """steady | fallback | swapped. One stage per deploy. Default steady."""
    values: NotRequired[Versioned]
    """The value of each live version, by version number (1, 2; "1", "2" also do). Made
    Pulumi secrets whatever they are given as. Leave out with `generate`, and for a version
    in `import_ids` (an imported version keeps its live value); with neither, each other
    version's value is the secret stack config `secrets-store:<secret>_v<N>`."""
    generate: NotRequired[bool]
    """Draw each version's value as 32 random bytes (base64), kept in Pulumi state and never
    regenerated unless the version changes. Default false."""
    scopes: NotRequired[list[str]]
    """Services that may read it: workers only (access, ai_gateway and dex are refused: they
    refer to a secret by one name, which every rotation changes). Default [workers]."""
    name_prefix: NotRequired[str]
    """Prefixed to the Cloudflare names (`{prefix}{secret}_v{N}`), for envs sharing one account.
    Default empty."""
    secret_name: NotRequired[str]
    """The secret's name S (no spaces). Default: the resource name."""
    comment: NotRequired[str]
    """Free text shown in the Cloudflare dashboard."""
    schema: NotRequired[str]
    """For kind json: the registered model each value must satisfy (`postgres`, or one of
    `secrets_store.schemas.register_schema`). Every value given in `values` is checked by
    its kind's rules as stack config values are: size, key material, JSON and this schema."""
    import_ids: NotRequired[Mapping[int, str] | Mapping[str, str]]
    """Existing Cloudflare secrets to adopt instead of create, by version (1; "1" also does):
    Pulumi import ids `<account_id>/<store_id>/<secret_id>`. An imported version keeps its
    live value, scopes and comment: it needs no value, and none is ever sent."""
    wait_until_active: NotRequired[bool]
    """Bind a new version only once Cloudflare reports it active (a pending one fails the Worker
    upload with error 10182). Default true."""
    active_timeout_seconds: NotRequired[int]
    """How long to wait for a new version to become active. Default 120."""


class VersionedSecret(pulumi.ComponentResource):
    """One secret of the store, as the versions its rotation stage keeps alive.

    Behavior:
    - One `cloudflare.SecretsStoreSecret` per live version (`current`, plus `next` while
      rotating), named `{prefix}{secret}_v{N}`. `value`, `scopes` and `comment` update in
      place; a new name, store or account replaces the version. A version is deleted
      when the rotation finishes, after every worker has stopped binding it (workers
      take its name from this component's outputs, so Pulumi updates them first).
    - Each version's name reaches the bindings only once Cloudflare reports the secret
      `active` (a `SecretActivation` waits, bounded; one read when it already is).
    - Values are always Pulumi secrets. `generate=True` draws 32 random bytes (base64)
      with a `random.RandomBytes` per version, stable across runs.
    - A version in `import_ids` is adopted by id (`AdoptedSecretVersion`, see
      `secrets_store.adopted`): Cloudflare keeps its live value (the program sends none and
      needs none); its `scopes` and `comment` are managed in place like any version's.
    - Children are named after this component (`<name>-v<N>`), so two components can never
      register the same child, whatever their secret names and prefixes. Releases before
      0.4 named them after the secret (`<secret>-v<N>`): an alias keeps those URNs.
    - Refused at construction, naming the argument: a stage without `next`, a bad scope
      (access, ai_gateway and dex: see README "Scopes"), a secret name with a space, a
      missing value.

    Example:
        key = VersionedSecret("api_key", store=store, kind="api_key",
                              current=1, next=2, stage="fallback",
                              values={1: pulumi.Output.secret(v1), 2: pulumi.Output.secret(v2)})
        Worker("edge", ..., bindings={"PRIMARY_KEY": SecretBinding(key, fallback="FALLBACK_KEY")})
        # or on a WorkersScript of your own:
        cloudflare.WorkersScript("edge", ..., bindings=key.bindings("PRIMARY_KEY"))

    API: https://developers.cloudflare.com/api/resources/secrets_store/subresources/stores/subresources/secrets/
    """

    store_id: pulumi.Output[str]
    """The store holding the versions."""
    primary_name: pulumi.Output[str]
    """Cloudflare name every primary binding points at (resolves once that version is active)."""
    fallback_name: pulumi.Output[str | None]
    """Cloudflare name every fallback binding points at while rotating; null when steady."""
    names: pulumi.Output[list[str]]
    """Cloudflare names of the live versions, oldest first."""

    @overload
    def __init__(
        self, name: str, args: VersionedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        store: SecretsStore | None = None,
        **kwargs: Unpack[VersionedSecretArgs],
    ) -> None: ...

    def __init__(
        self,
        name: str,
        args: VersionedSecretArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        store: SecretsStore | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        settings: dict[str, Any] = {**(args or {}), **kwargs}
        if store is not None:
            settings.setdefault("store_id", store.store_id)
            settings.setdefault("account_id", store.account_id)
        secret = settings.get("secret_name") or name
        where = f"VersionedSecret {name}"
        in_code = any(k in settings for k in POSITION_ARGS)
        if not in_code:
            settings.update(configured_position(secret))
        if "import_ids" not in settings:
            settings["import_ids"] = configured_imports(secret)
        imports = _versions(settings.get("import_ids"), where, "import_ids")
        if settings.get("values") is None and not settings.get("generate"):
            settings["values"] = configured_values(secret, settings, imported=set(imports))
        values = _versions(settings.get("values"), where, "values")
        spec = _checked(secret, settings, where, values, set(imports))

        self.secret = secret
        """The secret's name S (plain)."""
        self._where = where
        self.kind: str = spec.kind
        self.schema: str | None = settings.get("schema")
        """For kind json: the registered model (`postgres`) or JSON Schema file
        (`schemas/db.schema.json`, from the working directory) its values must satisfy."""
        self._schema_file = _schema_file(self.schema, spec.kind, where)
        self.position: Position = spec.position
        """Where this secret stands in its rotation (plain data, not secret)."""
        self.prefix: str = settings.get("name_prefix") or ""
        self.cloudflare_names: list[str] = [
            self.cloudflare_name(v) for v in self.position.live_versions
        ]
        """Cloudflare names of the live versions (plain data: known before deploy)."""
        _claim_names(settings["account_id"], self.cloudflare_names, name, where)
        self.imported: dict[int, str] = {
            v: str(i) for v, i in imports.items() if v in self.position.live_versions
        }
        """Import id per live version adopted from Cloudflare (plain data)."""
        self.version_names: dict[int, pulumi.Output[str]] = {}
        """Cloudflare name per live version, resolving once it is active: bind these."""
        self.store_id = pulumi.Output.from_input(settings["store_id"])
        # Held back by the promotion guard (a position given in code is checked too).
        account = gated(
            settings["account_id"], {secret: Standing(self.position)} if in_code else None
        )
        wait = settings.get("wait_until_active", True)
        timeout = int(settings.get("active_timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)

        for version in self.position.live_versions:
            child = f"{name}-v{version}"
            renamed = _previous_child_name(opts.parent if opts else None, name, secret, version)
            import_id = self.imported.get(version)
            if import_id:
                adopted = AdoptedSecretVersion(
                    child,
                    import_id=import_id,
                    # held back by the guard too: its scopes/comment update is a change
                    name=pulumi.Output.all(account, self.cloudflare_name(version)).apply(
                        lambda parts: str(parts[1])
                    ),
                    scopes=list(spec.scopes),
                    comment=spec.comment,
                    timeout_seconds=timeout,
                    opts=pulumi.ResourceOptions(parent=self, aliases=_aliases(renamed)),
                )
                self.version_names[version] = adopted.name  # resolves once active
                continue
            resource = cloudflare.SecretsStoreSecret(
                child,
                account_id=account,
                store_id=settings["store_id"],
                name=self.cloudflare_name(version),
                value=self._value(child, renamed, version, settings.get("generate"), values),
                scopes=list(spec.scopes),
                comment=spec.comment,
                opts=pulumi.ResourceOptions(parent=self, aliases=_aliases(renamed)),
            )
            if not wait:
                self.version_names[version] = resource.name
                continue
            active = SecretActivation(
                f"{child}-active",
                account_id=settings["account_id"],
                store_id=settings["store_id"],
                secret_id=resource.id,
                name=resource.name,
                timeout_seconds=timeout,
                opts=pulumi.ResourceOptions(
                    parent=self, aliases=_aliases(renamed and f"{renamed}-active")
                ),
            )
            self.version_names[version] = active.name

        self.primary_name = self.version_names[self.position.primary_version]
        fallback = self.position.fallback_version
        self.fallback_name = (
            self.version_names[fallback] if fallback is not None else pulumi.Output.from_input(None)
        )
        self.names = pulumi.Output.from_input(self.cloudflare_names)
        self.register_outputs(
            {
                "store_id": self.store_id,
                "primary_name": self.primary_name,
                "fallback_name": self.fallback_name,
                "names": self.cloudflare_names,  # plain: the same state, without a task
                # Plain names and position, never a value: what `secretsctl plan` reads from
                # any program that uses this component.
                "secret_name": secret,
                "kind": spec.kind,
                "current": self.position.current,
                "next": self.position.next,
                "stage": self.position.stage,
            }
        )
        publish_position(
            secret,
            {
                "kind": spec.kind,
                "current": self.position.current,
                "next": self.position.next,
                "stage": self.position.stage,
                "cloudflare_names": self.cloudflare_names,
            },
        )

    def bindings(
        self, name: str, fallback: str | None = None
    ) -> list[cloudflare.WorkersScriptBindingArgs]:
        """The `secrets_store_secret` bindings of this secret under binding `name`, for any
        `cloudflare.WorkersScript`: `name` on the primary version and, while rotating, the
        fallback binding (`fallback`, default `<name>_FALLBACK`) on the other one.

        The names and the store are this component's Outputs: a script given them waits
        for each version's activation (and its store) before it uploads, and Pulumi moves
        it off a version before deleting that version. SpecError for a bad binding name.
        """
        where = f"VersionedSecret {self.secret}.bindings"
        problems = [
            Problem(where, f"bad binding name, got {candidate!r} (a JavaScript identifier)")
            for candidate in (name, fallback_binding_name(name, fallback))
            if not isinstance(candidate, str) or not BINDING_NAME.fullmatch(candidate)
        ]
        if fallback is not None and fallback == name:
            problems.append(
                Problem(where, f"fallback is the binding itself, got {fallback!r} (name another)")
            )
        if problems:
            raise SpecError(problems)
        version = self.position.fallback_version
        return rotation_bindings(
            name,
            self.store_id,
            self.primary_name,
            self.version_names[version] if version is not None else None,
            fallback,
        )

    def cloudflare_name(self, version: int) -> str:
        """Cloudflare's name of one version, as plain text (for summaries)."""
        return cloudflare_secret_name(self.prefix, self.secret, version)

    def _value(
        self,
        child: str,
        renamed: str | None,
        version: int,
        generate: bool | None,
        values: Mapping[int, pulumi.Input[str]],
    ) -> pulumi.Input[str]:
        # Not wrapped in Output.secret here: SecretsStoreSecret marks `value` secret itself
        # (its schema says so), and a wrap per version costs two more tasks per run.
        if generate:
            generated = random.RandomBytes(
                f"{child}-value",
                length=KEY_BYTES,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    additional_secret_outputs=["base64", "hex"],
                    # A new name would draw a new value: the alias keeps the drawn one.
                    aliases=_aliases(renamed and f"{renamed}-value"),
                ),
            )
            return generated.base64
        return _checked_value(
            values[version],
            self.kind,
            self.schema,
            f"{self._where}.values[{version}]",
            self._schema_file,
        )


def _project_root(start: Path) -> Path:
    """The Pulumi project the program runs in: the nearest folder up from `start` holding a
    Pulumi.yaml (Pulumi runs a program in its `main:` folder, inside the project)."""
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file() or (folder / "Pulumi.yml").is_file():
            return folder
    return start


def _schema_file(schema: str | None, kind: str, where: str) -> SchemaFile | None:
    """The JSON Schema file `schema=` names (a path from the working directory, inside the
    project once symlinks are followed), read with the references it makes; SpecError naming
    `<where>.schema` for one that cannot be used. None for a registered model or no schema."""
    if schema is None or kind != "json" or not is_schema_file(schema):
        return None
    cwd = Path.cwd().resolve()
    root = _project_root(cwd)
    target = (cwd / schema).resolve()
    if not target.is_relative_to(root):
        raise SpecError(
            [
                Problem(
                    f"{where}.schema",
                    f"lies outside the project, got {schema!r} -> {str(target)!r} (a schema "
                    f"file is read by every plan and deploy: keep it inside {str(root)!r})",
                )
            ]
        )
    loaded = load_schema_file(root, target.relative_to(root).as_posix())
    if loaded.problem is not None:
        raise SpecError([Problem(f"{where}.schema", loaded.problem)])
    return loaded


def _checked_value(
    value: pulumi.Input[str],
    kind: str,
    schema: str | None,
    key: str,
    schema_file: SchemaFile | None = None,
) -> pulumi.Input[str]:
    """`value`, refused (SpecError naming `key`, never the value) unless it meets the kind's
    rules: the ones the stack config's values meet (`secrets_store.spec.value_problems`).
    A plain value is checked now; an Output once it resolves, before Cloudflare sees it."""

    def checked(text: Any) -> Any:
        # An offline run's stand-in for a value it cannot decrypt: `pulumi up` checks the value.
        if isinstance(text, str) and text != UNDECRYPTED:
            problems = value_problems(kind, schema, text, schema_file)
            if problems:
                raise SpecError([Problem(key, line) for line in problems])
        return text

    if isinstance(value, str):
        return checked(value)
    # Any Input[str]; the SDK stub types from_input for Output[T] only.
    resolved: pulumi.Output[str] = pulumi.Output.from_input(value)  # type: ignore[arg-type]
    return resolved.apply(checked)


def _aliases(previous: str | None) -> list[pulumi.Input[str | pulumi.Alias]] | None:
    return [pulumi.Alias(name=previous)] if previous else None


# Children claimed under their pre-0.4 names in the running program, per event loop (one per
# program run): (parent of the component, previous child name) -> claimed.
_CLAIMED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[tuple[int, str]]] = (
    weakref.WeakKeyDictionary()
)


# Cloudflare names registered in the running program, per event loop (one per program run):
# (account, name) -> the component that registered it.
_NAMES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, str], str]] = (
    weakref.WeakKeyDictionary()
)


def _claim_names(account: object, names: list[str], component: str, where: str) -> None:
    """Refuse a Cloudflare name another VersionedSecret of this program already registers in
    the same account: Cloudflare would refuse the second create (1003), mid-deploy."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    # A plain account id names the account; an Output stands for itself.
    key = account if isinstance(account, str) else id(account)
    claimed = _NAMES.setdefault(loop, {})
    for name in names:
        owner = claimed.get((key, name))
        if owner is not None and owner != component:
            raise SpecError(
                [
                    Problem(
                        f"{where}.secret_name",
                        f"registers {name}, which VersionedSecret {owner} registers too, got two "
                        "secrets with one Cloudflare name in one account (give one another "
                        "secret_name or name_prefix)",
                    )
                ]
            )
    for name in names:
        claimed[(key, name)] = component


def _previous_child_name(
    parent: pulumi.Resource | None, name: str, secret: str, version: int
) -> str | None:
    """The child's name before 0.4 (`<secret>-v<N>`), when it differs from today's.

    Two components of one secret name collided then, so at most one of them can have state
    under that name; two aliases of one URN fail the deploy (engine error 2008). The first
    component of the program to claim a previous name gets the alias.
    """
    if name == secret:
        return None  # the same name as before: nothing moved
    previous = f"{secret}-v{version}"
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return previous
    claimed = _CLAIMED.setdefault(loop, set())
    key = (id(parent), previous)
    if key in claimed:
        return None
    claimed.add(key)
    return previous


def rotation_bindings(
    name: str,
    store_id: pulumi.Input[str],
    secret_name: pulumi.Input[str],
    fallback_secret_name: pulumi.Input[str] | None = None,
    fallback: str | None = None,
) -> list[cloudflare.WorkersScriptBindingArgs]:
    """Binding `name` on `secret_name` and, when a fallback version is given, the fallback
    binding (`fallback`, default `<name>_FALLBACK`) on it: the one shape every Worker,
    component or raw script, binds a rotating secret with."""
    bindings = [
        cloudflare.WorkersScriptBindingArgs(
            type="secrets_store_secret", name=name, store_id=store_id, secret_name=secret_name
        )
    ]
    if fallback_secret_name is not None:
        bindings.append(
            cloudflare.WorkersScriptBindingArgs(
                type="secrets_store_secret",
                name=fallback_binding_name(name, fallback),
                store_id=store_id,
                secret_name=fallback_secret_name,
            )
        )
    return bindings


POSITION_ARGS = ("current", "next", "stage")
ROTATION_KEY = f"{NAMESPACE}:rotation"
ROTATION_FIELDS = (*POSITION_ARGS, "since", "reencrypted", "reached", "emergency")
"""What `rotation.<secret>` may hold: the position, and the records secretsctl writes beside
it (read by secretsctl; the component takes the position and `since`)."""


def configured_position(secret: str) -> dict[str, Any]:
    """The secret's position from the stack config `secrets-store:rotation.<secret>`
    ({current, next, stage, since}); {} (steady at 1) when it has no entry. SpecError, naming
    the config key, for an entry the rules refuse."""
    where = f"{ROTATION_KEY}.{secret}"
    try:
        rotation = pulumi.Config(NAMESPACE).get_object("rotation")
    except pulumi.ConfigTypeError:
        raise SpecError(
            [
                Problem(
                    ROTATION_KEY,
                    "must be a mapping of secret name to {current, next, stage}, got text that "
                    "is not (pulumi config set --path 'secrets-store:rotation.<secret>.current' 1)",
                )
            ]
        ) from None
    if rotation is None:
        return {}
    if not isinstance(rotation, Mapping):
        raise SpecError(
            [
                Problem(
                    ROTATION_KEY,
                    f"must be a mapping of secret name to {{current, next, stage}}, got "
                    f"{type(rotation).__name__} (write one entry per secret)",
                )
            ]
        )
    entry = rotation.get(secret)
    if entry is None:
        return {}
    if not isinstance(entry, Mapping):
        raise SpecError(
            [
                Problem(
                    where,
                    f"must be a mapping {{current, next, stage}}, got {type(entry).__name__} "
                    "(for example current: 1)",
                )
            ]
        )
    problems = [
        Problem(f"{where}.{key}", f"unknown key, got {key!r} (use {', '.join(ROTATION_FIELDS)})")
        for key in entry
        if key not in ROTATION_FIELDS
    ]
    position = {k: entry.get(k) for k in POSITION_ARGS}
    # The spec's own rules, with every problem named by its config key.
    since = entry.get("since")
    _, found = check_secret(secret, {"kind": "opaque", **position, "since": since}, where)
    problems += found
    if problems:
        raise SpecError(problems)
    return {k: v for k, v in position.items() if v is not None}


IMPORTS_KEY = f"{NAMESPACE}:importIds"


def configured_imports(secret: str) -> dict[str, str] | None:
    """The import ids of the versions this stack adopts, from the stack config
    `secrets-store:importIds.<secret>` ({version: <account_id>/<store_id>/<secret_id>}, as
    `secretsctl init` writes it); None when it has none."""
    try:
        imports = pulumi.Config(NAMESPACE).get_object("importIds")
    except pulumi.ConfigTypeError:
        imports = "text"
    if imports is None:
        return None
    entry = imports.get(secret) if isinstance(imports, Mapping) else "text"
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise SpecError(
            [
                Problem(
                    f"{IMPORTS_KEY}.{secret}" if isinstance(imports, Mapping) else IMPORTS_KEY,
                    "must map a version to its import id, got something else (for example "
                    "{3: <account_id>/<store_id>/<secret_id>}, as secretsctl init writes it)",
                )
            ]
        )
    return {str(k): v for k, v in entry.items()}


def configured_values(
    secret: str, settings: Mapping[str, Any], imported: set[int] | None = None
) -> dict[int, pulumi.Input[str]]:
    """Each live version's value from the secret stack config `secrets-store:<secret>_v<N>`,
    but for the `imported` ones (they keep their live values: none is read). SpecError
    naming each missing key and the command that sets it."""
    try:
        position = position_from(settings)
    except (OverflowError, ValueError, TypeError):
        position = None
    if position is None:
        return {}  # the position is refused by the spec's checks, with its own message
    config = pulumi.Config(NAMESPACE)
    values: dict[int, pulumi.Input[str]] = {}
    problems = []
    for version in position.live_versions:
        if version in (imported or ()):
            continue
        key = value_key(secret, version)
        value = config.get_secret(key)
        if value is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{key}",
                    f"no value for version {version} of secret {secret!r}, got nothing (set it: "
                    f"pulumi config set --secret --stack {pulumi.get_stack()} "
                    f"{NAMESPACE}:{key} <value>, or pass values= or generate=True)",
                )
            )
        else:
            values[version] = value
    if problems:
        raise SpecError(problems)
    return values


def _versions(given: Any, where: str, argument: str) -> dict[int, Any]:
    """`given` keyed by int, whether given as ints (Python) or strings (other languages)."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise SpecError(
            [
                Problem(
                    f"{where}.{argument}",
                    f"must map version to a value, got {type(given).__name__} "
                    f"(pass {argument}={{1: ...}})",
                )
            ]
        )
    out: dict[int, Any] = {}
    for version, value in given.items():
        try:
            out[int(version)] = value
        except (TypeError, ValueError):
            raise SpecError(
                [
                    Problem(
                        f"{where}.{argument}",
                        f"keys are version numbers, got {version!r} (use 1, 2, ...)",
                    )
                ]
            ) from None
    return out


ARGUMENTS = frozenset(VersionedSecretArgs.__annotations__)
"""Every keyword a VersionedSecret takes (besides `store=`): anything else is a typo."""


def _unknown_arguments(settings: Mapping[str, Any], where: str) -> list[Problem]:
    """A keyword VersionedSecret does not take (`rotate_evry=`) is refused, never ignored."""
    problems = []
    for key in sorted(set(settings) - ARGUMENTS):
        close = difflib.get_close_matches(key, sorted(ARGUMENTS), n=1)
        hint = f"did you mean {close[0]}=?" if close else f"it takes {', '.join(sorted(ARGUMENTS))}"
        problems.append(
            Problem(f"{where}.{key}", f"is not an argument of VersionedSecret, got {key}= ({hint})")
        )
    return problems


def _checked(
    secret: str,
    settings: Mapping[str, Any],
    where: str,
    values: Mapping[int, Any],
    imported: set[int],
) -> SecretSpec:
    """The secret's spec, or SpecError with every problem (never a value)."""
    problems_first = _unknown_arguments(settings, where)
    names = ("kind", "scopes", "current", "next", "stage", "comment", "schema")
    fields = {k: settings.get(k) for k in names}
    fields["source"] = "generate" if settings.get("generate") else "config"
    checked, problems = check_secret(secret, fields, where)
    problems = [*problems_first, *problems]
    prefix = settings.get("name_prefix") or ""
    if not isinstance(prefix, str) or not NAME_PREFIX.fullmatch(prefix):
        problems.append(
            Problem(
                f"{where}.name_prefix",
                f"must be lowercase letters, digits, - or _, got {prefix!r} (for example dev_)",
            )
        )
    if "store_id" not in settings:
        problems.append(
            Problem(f"{where}.store_id", "is required, got nothing (pass store_id or store)")
        )
    if "account_id" not in settings:
        problems.append(
            Problem(f"{where}.account_id", "is required, got nothing (pass account_id or store)")
        )
    if checked is not None and not settings.get("generate"):
        for version in checked.position.live_versions:
            if version not in values and version not in imported:
                problems.append(
                    Problem(
                        f"{where}.values",
                        f"no value for version {version}, got versions "
                        f"{sorted(values) or 'none'} (pass values={{{version}: ...}}, "
                        f"import_ids={{{version}: ...}} or generate=True)",
                    )
                )
    if problems or checked is None:
        raise SpecError(problems)
    return checked
