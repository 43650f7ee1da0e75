"""A versioned secret: one Cloudflare secret per live version of its rotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack, overload

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from secrets_store.activation import DEFAULT_TIMEOUT_SECONDS, SecretActivation
from secrets_store.errors import Problem, SpecError
from secrets_store.rotation import Position, cloudflare_secret_name, position_from
from secrets_store.spec import (
    KEY_BYTES,
    NAME_PREFIX,
    NAMESPACE,
    SecretSpec,
    check_secret,
    value_key,
)

if TYPE_CHECKING:
    from secrets_store.store import SecretsStore

TYPE = "secrets-store:index:VersionedSecret"


class VersionedSecretArgs(TypedDict):
    """A secret and where it stands in its rotation. Values are Pulumi secrets by construction."""

    account_id: pulumi.Input[str]
    """The Cloudflare account id."""
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
    values: NotRequired[Mapping[str, pulumi.Input[str]]]
    """The value of each live version, by version number ("1", "2"; Python also takes ints).
    Made Pulumi secrets whatever they are given as. Leave out with `generate`; with neither,
    each version's value is the secret stack config `secrets-store:<secret>_v<N>`."""
    generate: NotRequired[bool]
    """Draw each version's value as 32 random bytes (base64), kept in Pulumi state and never
    regenerated unless the version changes. Default false."""
    scopes: NotRequired[list[str]]
    """Services that may read it: access, ai_gateway, dex, workers. Default [workers]."""
    name_prefix: NotRequired[str]
    """Prefixed to the Cloudflare names (`{prefix}{secret}_v{N}`), for envs sharing one account.
    Default empty."""
    secret_name: NotRequired[str]
    """The secret's name S (no spaces). Default: the resource name."""
    comment: NotRequired[str]
    """Free text shown in the Cloudflare dashboard."""
    import_ids: NotRequired[Mapping[str, str]]
    """Existing Cloudflare secrets to adopt instead of create, by version ("1"; Python also
    takes ints): Pulumi import ids `<account_id>/<store_id>/<secret_id>`."""
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
    - Children are named after the secret (`<secret>-v<N>`), not after this component,
      so renaming or moving the component only needs an alias.
    - Refused at construction, naming the argument: a stage without `next`, a bad scope,
      a secret name with a space, a missing value.

    Example:
        key = VersionedSecret("api_key", account_id=ACCOUNT, store=store, kind="api_key",
                              current=1, next=2, stage="fallback",
                              values={1: pulumi.Output.secret(v1), 2: pulumi.Output.secret(v2)})
        Worker("edge", ..., bindings={"PRIMARY_KEY": SecretBinding(key, fallback="FALLBACK_KEY")})

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
        secret = settings.get("secret_name") or name
        where = f"VersionedSecret {name}"
        if not any(k in settings for k in POSITION_ARGS):
            settings.update(configured_position(secret))
        if settings.get("values") is None and not settings.get("generate"):
            settings["values"] = configured_values(secret, settings)
        values = _versions(settings.get("values"), where)
        spec = _checked(secret, settings, where, values)

        self.secret = secret
        """The secret's name S (plain)."""
        self.kind: str = spec.kind
        self.position: Position = spec.position
        """Where this secret stands in its rotation (plain data, not secret)."""
        self.prefix: str = settings.get("name_prefix") or ""
        self.cloudflare_names: list[str] = [
            self.cloudflare_name(v) for v in self.position.live_versions
        ]
        """Cloudflare names of the live versions (plain data: known before deploy)."""
        self.version_names: dict[int, pulumi.Output[str]] = {}
        """Cloudflare name per live version, resolving once it is active: bind these."""
        self.store_id = pulumi.Output.from_input(settings["store_id"])
        wait = settings.get("wait_until_active", True)
        timeout = int(settings.get("active_timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)

        imports = {int(v): i for v, i in (settings.get("import_ids") or {}).items()}
        for version in self.position.live_versions:
            child = f"{secret}-v{version}"
            resource = cloudflare.SecretsStoreSecret(
                child,
                account_id=settings["account_id"],
                store_id=settings["store_id"],
                name=self.cloudflare_name(version),
                value=self._value(child, version, settings.get("generate"), values),
                scopes=list(spec.scopes),
                comment=spec.comment,
                # An existing secret (`secretsctl init`) is adopted, not created a second time.
                opts=pulumi.ResourceOptions(parent=self, import_=imports.get(version)),
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
                opts=pulumi.ResourceOptions(parent=self),
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

    def cloudflare_name(self, version: int) -> str:
        """Cloudflare's name of one version, as plain text (for summaries)."""
        return cloudflare_secret_name(self.prefix, self.secret, version)

    def _value(
        self,
        child: str,
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
                    parent=self, additional_secret_outputs=["base64", "hex"]
                ),
            )
            return generated.base64
        return values[version]


POSITION_ARGS = ("current", "next", "stage")
ROTATION_KEY = f"{NAMESPACE}:rotation"
ROTATION_FIELDS = (*POSITION_ARGS, "since", "reencrypted")


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


def configured_values(secret: str, settings: Mapping[str, Any]) -> dict[int, pulumi.Input[str]]:
    """Each live version's value from the secret stack config `secrets-store:<secret>_v<N>`.
    SpecError naming each missing key and the command that sets it."""
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
        key = value_key(secret, version)
        value = config.get_secret(key)
        if value is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{key}",
                    f"no value for version {version} of secret {secret!r}, got nothing (set it: "
                    f"pulumi config set --secret {NAMESPACE}:{key} <value>, or pass values= "
                    "or generate=True)",
                )
            )
        else:
            values[version] = value
    if problems:
        raise SpecError(problems)
    return values


def _versions(values: Any, where: str) -> dict[int, pulumi.Input[str]]:
    """`values` keyed by int, whether given as ints (Python) or strings (other languages)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise SpecError(
            [Problem(f"{where}.values", f"must map version to value, got {type(values).__name__}")]
        )
    out: dict[int, pulumi.Input[str]] = {}
    for version, value in values.items():
        try:
            out[int(version)] = value
        except (TypeError, ValueError):
            raise SpecError(
                [
                    Problem(
                        f"{where}.values",
                        f"keys are version numbers, got {version!r} (use 1, 2, ...)",
                    )
                ]
            ) from None
    return out


def _checked(
    secret: str, settings: Mapping[str, Any], where: str, values: Mapping[int, Any]
) -> SecretSpec:
    """The secret's spec, or SpecError with every problem (never a value)."""
    fields = {
        k: settings.get(k) for k in ("kind", "scopes", "current", "next", "stage", "comment")
    }
    fields["source"] = "generate" if settings.get("generate") else "config"
    checked, problems = check_secret(secret, fields, where)
    prefix = settings.get("name_prefix") or ""
    if not isinstance(prefix, str) or not NAME_PREFIX.fullmatch(prefix):
        problems.append(
            Problem(
                f"{where}.name_prefix",
                f"must be lowercase letters, digits, - or _, got {prefix!r}",
            )
        )
    if "store_id" not in settings:
        problems.append(
            Problem(f"{where}.store_id", "is required, got nothing (pass store_id or store)")
        )
    if "account_id" not in settings:
        problems.append(Problem(f"{where}.account_id", "is required, got nothing (add it)"))
    if checked is not None and not settings.get("generate"):
        for version in checked.position.live_versions:
            if version not in values:
                problems.append(
                    Problem(
                        f"{where}.values",
                        f"no value for version {version}, got versions "
                        f"{sorted(values) or 'none'} (pass values={{{version}: ...}}, "
                        "or generate=True)",
                    )
                )
    if problems or checked is None:
        raise SpecError(problems)
    return checked
