"""The stack spec: every `secrets-store:` config key as typed, validated models.

Pure: no Pulumi import and no I/O. `parse_stack` takes the stack's config as
plain data and returns a `StackSpec`, or raises one `SpecError` carrying every
problem at once, each naming its config key path and the fix. Secret values
arrive wrapped in `SecretStr`, so no repr, log line or error can show them.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from secrets_store.errors import Problem, SpecError
from secrets_store.grammar import (
    ACCOUNT_ID,
    BINDING_NAME,
    IMPORT_ID,
    KV_NAMESPACE_ID,
    NAME_PREFIX,
    PLACEHOLDER,
    SCRIPT_NAME,
    SECRET_NAME,
    STACK_NAME,
    STORE_ID,
    VALUE_KEY,
    is_a,
)
from secrets_store.policy import (
    moment_of,
    moment_problem,
    moment_text,
    rotate_every_problem,
    since_date,
    since_problem,
    soak_problem,
)
from secrets_store.rotation import Position, cloudflare_secret_name, fallback_binding_name
from secrets_store.schemas import (
    SCHEMAS,
    is_schema_file,
    json_problems,
    json_schema_problems,
    schema_problems,
)

NAMESPACE = "secrets-store"

KINDS = ("api_key", "encryption_key", "signing_key", "json", "opaque")
STAGE_NAMES = ("steady", "fallback", "swapped")
SOURCES = ("config", "generate")
# Cloudflare requires scopes in alphabetical order; we sort what users write.
SCOPES = ("access", "ai_gateway", "dex", "workers")
ROTATABLE_SCOPES = ("workers",)
"""Scopes a versioned secret may have. Access, AI Gateway and dex refer to a secret by one
name and read it with no fallback, while every rotation creates `<S>_v<N+1>` and deletes
`<S>_v<N>`: they would lose the secret when a rotation finishes. A stable name rewritten in
place would break them at once instead (no overlap of old and new value), so they are
refused, with the reason, rather than half-supported. README: "Scopes"."""

MAX_SECRETS_PER_ACCOUNT = 100  # Secrets Store beta limit, counted in Cloudflare secrets (versions)
MAX_VALUE_BYTES = 65_536  # Cloudflare's limit on one secret value
UNDECRYPTED = "[undecrypted]"
"""What an offline run registers for a `secure:` value it cannot decrypt (never a value)."""
KEY_BYTES = 32  # encryption_key / signing_key material: 32 random bytes, base64

MODULE_SUFFIXES = (".js", ".mjs")
TYPESCRIPT_SUFFIXES = (".ts", ".tsx", ".mts", ".cts")
MAX_MODULE_PATH = 1024  # characters; each folder or file name at most 255 bytes, as filesystems
MAX_SHOWN = 80
"""Characters of a name or setting an error line shows at most (never a secret value)."""


def is_placeholder(value: Any) -> bool:
    """A shipped example value, whole: `REPLACE_ME_ACCOUNT_ID\\n` is not one (nor an id)."""
    return is_a(PLACEHOLDER, value)


def value_key(secret: str, version: int) -> str:
    """The config key (without namespace) holding version N of a `source: config` secret."""
    return f"{secret}_v{version}"


def _one_of(options: tuple[str, ...]) -> str:
    return ", ".join(options)


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """How an error line shows a config setting: a scalar's repr cut to `limit` characters,
    the type of anything else. Secret values never get here (they are never shown at all)."""
    plain = isinstance(value, str | int | float | bool) or value is None
    text = repr(value) if plain else type(value).__name__
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def follows_itself(stack: str) -> str:
    """Why `promotion.after: <stack>` in the stack's own file is refused (the shortest cycle)."""
    return f"names this stack itself, got {shown(stack)} (name the stack before it)"


def module_problem(module: str, folder: bool = False) -> str | None:
    """Why `module` is not a worker module path inside the project; None when it is one.
    `folder`: a bundle folder's path (any name) rather than a module's."""
    fix = "(a path relative to the project root, for example workers/api.js)"
    if len(module) > MAX_MODULE_PATH or any(len(p.encode()) > 255 for p in module.split("/")):
        return (
            f"is too long for a file path, got {len(module):,} characters (at most "
            f"{MAX_MODULE_PATH:,}, each folder or file name at most 255 bytes; use a shorter path)"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in module):
        return f"holds a control character, got {shown(module)} {fix}"
    if "\\" in module:
        return f"uses a backslash, got {shown(module)} (separate folders with /: workers/api.js)"
    if module.startswith("/") or re.match(r"^[A-Za-z]:", module):
        return f"must be relative to the project root, got the absolute path {shown(module)} {fix}"
    if ".." in module.split("/"):
        return f"must stay inside the project, got {shown(module)}, which climbs out with .. {fix}"
    if folder:
        return None
    if module.endswith(TYPESCRIPT_SUFFIXES):
        return (
            f"TypeScript is not uploaded as is, got {shown(module)} (build it with esbuild or "
            "wrangler, then set bundle: <output folder> and module: <entry .js>)"
        )
    if not module.endswith(MODULE_SUFFIXES):
        return f"must be an ES module file (.js or .mjs), got {shown(module)} {fix}"
    return None


class _Model(BaseModel):
    # camelCase keys in YAML, snake_case in Python; unknown keys are refused, not ignored.
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class StoreSpec(_Model):
    """The account's one Secrets Store: looked up by name and adopted (default), adopted by id,
    or created (protected, kept on destroy)."""

    id: str = ""
    """Adopt this store by id: no lookup, nothing created, nothing ever deleted. Default: empty."""
    name: str = Field(default="default_secrets_store", min_length=1, max_length=255)
    """The store to look up and adopt, or, with `create`, to create. Default
    `default_secrets_store`, the store the dashboard creates."""
    create: bool = False
    """Create the store (protected, kept on destroy). Cloudflare allows one store per account:
    on an account that has one, creating fails with error 1003. Default false."""

    @property
    def adopted(self) -> bool:
        return not self.create

    @field_validator("id")
    @classmethod
    def _placeholder_id_is_not_an_id(cls, value: str) -> str:
        if is_placeholder(value) or value == "":
            return ""
        if not STORE_ID.fullmatch(value):
            raise ValueError(
                f"must be a 32-character lowercase hex store id, got {shown(value)} "
                "(`npx wrangler secrets-store store list --remote` lists them)"
            )
        return value

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        # Looked up by exact name: a newline or NUL would only fail later, at the lookup.
        if not value.isprintable() or value != value.strip():
            raise ValueError(
                f"holds a control character or surrounding spaces, got {shown(value)} "
                "(write the store's name as the dashboard shows it)"
            )
        return value


class PromotionSpec(_Model):
    """Promotion order: this stack may never be ahead of another stack's deployed rotation."""

    after: str | None = None
    """Name of the stack that must be at least as far along (for prod: `staging`). Default: none."""
    stack_reference: str | None = None
    """Pulumi stack name of `after` for the StackReference at `pulumi up` (for example
    `acme/secrets-store/staging`). Default `<organization>/<project>/<after>`."""
    soak: str | None = None
    """How long `after` must have held a rotation stage before this stack may take it:
    `30m`, `2h`, `1d` (up to 365d). Default none: this stack may take a stage in the same
    change as `after` (the merge deploys `after` first, and the guard checks it)."""

    @field_validator("soak", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        problem = soak_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("after")
    @classmethod
    def _stack_name(cls, value: str | None) -> str | None:
        # It names a stack file (stacks/Pulumi.<after>.yaml): a stack name, nothing else.
        if value and not STACK_NAME.fullmatch(value):
            raise ValueError(
                f"must be a stack name (letters, digits, -, _ and .), got {shown(value)} "
                "(for example staging)"
            )
        return value


MAX_REASON = 500


class EmergencySpec(_Model):
    """`emergency: {reason, at}`: the secret's position was reached by an emergency rotation
    (`secretsctl rotate --emergency --reason TEXT` writes it; any later move removes it)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)
    """Why: a leak, the ticket (free text on one line, never the key itself)."""
    at: str
    """When the emergency was declared, UTC (`2026-06-01T03:12:00Z`)."""

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 32 or c == "\x7f" for c in value):
            raise ValueError(
                f"must be one line of text, got {shown(value)} (say why in a few words, "
                "for example the incident ticket)"
            )
        return value

    @field_validator("at", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        problem = moment_problem(value)
        if problem:
            raise ValueError(problem)
        moment = moment_of(value)
        assert moment is not None
        return moment_text(moment)


MAX_VERSION = 2**53 - 1
"""The highest version number: JavaScript's largest safe integer. The engine hands config to
the program as JSON, and Workers read `<secret>_v<N>` names; a larger N would not survive."""


class SecretSpec(_Model):
    """One versioned secret and where it stands in its rotation."""

    kind: str
    """api_key | encryption_key | signing_key | json | opaque. Decides the workers' helpers."""
    scopes: tuple[str, ...] = ("workers",)
    """Services that may read it: workers (access, ai_gateway and dex are refused, see
    `ROTATABLE_SCOPES`). Default [workers]."""
    current: int = Field(default=1, ge=1, le=MAX_VERSION)
    """The version every primary binding uses while steady. Default 1."""
    next: int | None = Field(default=None, ge=2, le=MAX_VERSION)
    """The version being rotated in; set only while `stage` is fallback or swapped."""
    stage: str = "steady"
    """steady | fallback | swapped. One stage per deploy. Default steady."""
    source: str = "config"
    """config: value of `secrets-store:<name>_v<N>` (a secret); generate: 32 random bytes,
    base64, kept in Pulumi state."""
    schema_name: str | None = Field(default=None, alias="schema")
    """For kind json: the registered model its value must satisfy (for example postgres)."""
    comment: str | None = Field(default=None, max_length=1024)
    """Free text shown in the Cloudflare dashboard."""
    import_ids: dict[int, str] = Field(default_factory=dict)
    """Existing Cloudflare secrets to adopt, by version: Pulumi import ids
    `<account_id>/<store_id>/<secret_id>` (`secretsctl init` writes them). Adopted, not
    created again, and never written: such a version keeps its live value, needs no value in
    config, and the program sends none. Keep the entry while the version lives."""
    reencrypted: int | Literal["retired"] | None = None
    """encryption_key: what its stored values are encrypted with. N: re-encrypted with version
    N (`secretsctl rotate --reencrypted` writes it when finishing; `check` refuses a finish
    without it). `retired`: nothing needs this key any more (`check` refuses removing an
    encryption_key, or switching its source, unless the base already says so)."""
    rotate_every: str | None = None
    """`<N>d` (1d to 3650d): the current version is due for rotation once it is N days old
    (`secretsctl due` and the scheduled rotation workflow read it). Default: no policy."""
    since: str | None = None
    """The day the current version became steady, YYYY-MM-DD (`secretsctl rotate` writes it
    when a rotation finishes). Not written: the stack file's git history tells."""
    reached: dict[str, str] | None = None
    """When the rotation under way (or the one that ended at `current`) reached each stage,
    UTC: `{fallback: 2026-06-01T06:17:00Z, swapped: ...}` (`secretsctl rotate` and `promote`
    write it; `promotion.soak` of the stacks that follow reads it)."""
    emergency: EmergencySpec | None = None
    """Set when this position was reached by an emergency rotation: `{reason, at}`."""

    @field_validator("reached", mode="before")
    @classmethod
    def _moments(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(
                f"must map stages to moments, got {shown(value)} (`secretsctl rotate` writes it)"
            )
        out = {}
        for stage, moment in value.items():
            if stage not in STAGE_NAMES:
                raise ValueError(
                    f"unknown stage {shown(stage)}, got it as a key (use {_one_of(STAGE_NAMES)})"
                )
            problem = moment_problem(moment)
            if problem:
                raise ValueError(f"{stage}: {problem}")
            parsed = moment_of(moment)
            assert parsed is not None
            out[stage] = moment_text(parsed)
        return out

    @field_validator("current", "next", mode="before")
    @classmethod
    def _number_not_text(cls, value: Any) -> Any:
        # Lax mode reads the text "1\n" (or " 1") as 1: every tool would then read another
        # number than the file shows. A number stays a number (1.0 arrives from other
        # languages' programs; the int check refuses 1.5).
        if isinstance(value, str):
            raise ValueError(f"must be a version number, got the text {shown(value)} (unquote it)")
        return value

    @field_validator("rotate_every", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        problem = rotate_every_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("since", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if value is None:
            return None
        problem = since_problem(value)
        if problem:
            raise ValueError(problem)
        return str(since_date(value))

    @field_validator("reencrypted", mode="before")
    @classmethod
    def _version_or_retired(cls, value: Any) -> Any:
        if value in (None, "retired") or (type(value) is int and value >= 1):
            return value
        raise ValueError(
            f"must be a version number or retired, got {shown(value)} (`secretsctl rotate "
            "--reencrypted` writes the version; retired marks a key to remove)"
        )

    @field_validator("import_ids")
    @classmethod
    def _import_id_shape(cls, ids: dict[int, str]) -> dict[int, str]:
        for version, import_id in ids.items():
            if not IMPORT_ID.fullmatch(import_id):
                raise ValueError(
                    f"version {version}: not an import id, got {shown(import_id)} (use "
                    "<account_id>/<store_id>/<secret_id>, as `secretsctl init` writes it)"
                )
        return ids

    @field_validator("kind", "stage", "source")
    @classmethod
    def _known_choice(cls, value: str, info: ValidationInfo) -> str:
        choices = {"kind": KINDS, "stage": STAGE_NAMES, "source": SOURCES}[str(info.field_name)]
        if value not in choices:
            raise ValueError(
                f"unknown {info.field_name}, got {shown(value)} (use one of {_one_of(choices)})"
            )
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _known_scopes(cls, scopes: Any) -> Any:
        if isinstance(scopes, str):
            scopes = [scopes]
        if not isinstance(scopes, list | tuple) or not scopes:
            raise ValueError(
                f"must be a non-empty list, got {shown(scopes)} (for example [workers])"
            )
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise ValueError(f"{shown(bad[0])} is not a scope (use {_one_of(ROTATABLE_SCOPES)})")
        named = [s for s in scopes if s not in ROTATABLE_SCOPES]
        if named:
            raise ValueError(
                f"{named[0]} refers to a secret by one name, which every rotation changes "
                f"(<secret>_v<N>), got {shown(named[0])} (use [workers]; a secret that "
                f'{named[0]} reads stays outside this stack, see README "Scopes")'
            )
        if len(set(scopes)) != len(scopes):
            twice = sorted(s for s, n in Counter(scopes).items() if n > 1)
            raise ValueError(f"lists a scope twice, got {', '.join(twice)} twice (list each once)")
        return tuple(sorted(scopes))

    @property
    def position(self) -> Position:
        """The rotation position; only valid on a spec that passed `parse_stack`."""
        return Position(self.current, self.stage, self.next)  # type: ignore[arg-type]


class BindingSpec(_Model):
    """A worker's binding of a secret: the primary name and, during rotation, its fallback."""

    secret: str
    """The declared secret (key under `secrets-store:secrets`)."""
    fallback: str | None = None
    """Name of the fallback binding during rotation. Default `<BINDING>_FALLBACK`."""


class WorkerSpec(_Model):
    """One Worker script, its ES module (or built bundle) and its bindings."""

    module: str = Field(min_length=1)
    """Main ES module, relative to the project root (for example workers/api.js); with
    `bundle`, the entry inside the bundle folder (for example index.js)."""
    bundle: str | None = None
    """A built bundle's folder (esbuild or `wrangler deploy --outdir` output), relative to the
    project root: its entry and every part the entry imports are uploaded."""
    extra_bindings: tuple[dict[str, Any], ...] = ()
    """Any other binding the provider knows, each as WorkersScriptBindingArgs' fields
    (snake_case: `{type: d1, name: DB, id: ...}`), passed through unchanged."""
    secrets: dict[str, BindingSpec] = Field(default_factory=dict)
    """Binding name -> secret (a name, or {secret, fallback})."""
    vars: dict[str, str] = Field(default_factory=dict)
    """Plain-text bindings (never secret values)."""
    kv: dict[str, str] = Field(default_factory=dict)
    """KV namespace bindings: binding name -> namespace id."""
    services: dict[str, str] = Field(default_factory=dict)
    """Service bindings: binding name -> worker of this stack."""
    secret_text: dict[str, str] = Field(default_factory=dict)
    """Legacy Worker secrets (migration): binding name -> a secret config key of this stack."""
    compatibility_date: str = Field(default="2025-11-01", pattern=r"^\d{4}-\d{2}-\d{2}\z")
    """workerd compatibility date. Default 2025-11-01."""
    compatibility_flags: tuple[str, ...] = ()

    @field_validator("module")
    @classmethod
    def _inside_project(cls, module: str) -> str:
        # Its content is uploaded and shown by the offline plan: never a file outside the
        # project (`/proc/self/environ`, `../.env`) and never anything but a module.
        problem = module_problem(module)
        if problem:
            raise ValueError(problem)
        return module

    @field_validator("bundle")
    @classmethod
    def _bundle_inside_project(cls, bundle: str | None) -> str | None:
        problem = module_problem(bundle, folder=True) if bundle is not None else None
        if problem:
            raise ValueError(problem)
        return bundle

    @field_validator("extra_bindings")
    @classmethod
    def _named_and_typed(cls, extra: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for index, entry in enumerate(extra):
            if not all(isinstance(entry.get(k), str) for k in ("name", "type")):
                raise ValueError(
                    f"entry {index} needs a name and a type, got keys {sorted(map(str, entry))} "
                    "(for example {type: d1, name: DB, id: <database id>})"
                )
        return extra

    @property
    def module_path(self) -> str:
        """The main module's path relative to the project root."""
        return f"{self.bundle.rstrip('/')}/{self.module}" if self.bundle else self.module

    @field_validator("compatibility_date", mode="before")
    @classmethod
    def _date_as_written(cls, value: Any) -> Any:
        # An unquoted `2025-11-01` is a YAML date: it means the text it is written as.
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value.isoformat()
        return value

    @field_validator("secrets", mode="before")
    @classmethod
    def _shorthand(cls, secrets: Any) -> Any:
        # `BILLING_KEY: api_key` is short for `BILLING_KEY: {secret: api_key}`.
        if isinstance(secrets, Mapping):
            return {k: {"secret": v} if isinstance(v, str) else v for k, v in secrets.items()}
        return secrets

    def binding_names(self) -> list[tuple[str, str]]:
        """(name, what declares it) for every binding this worker would ever have."""
        names: list[tuple[str, str]] = []
        for binding, spec in self.secrets.items():
            names.append((binding, f"secrets.{binding}"))
            names.append(
                (fallback_binding_name(binding, spec.fallback), f"secrets.{binding}.fallback")
            )
        for group in ("vars", "kv", "services", "secret_text"):
            names += [(b, f"{to_camel(group)}.{b}") for b in getattr(self, group)]
        extra = enumerate(self.extra_bindings)
        names += [(str(entry["name"]), f"extraBindings[{i}]") for i, entry in extra]
        return names


@dataclass(frozen=True)
class SchemaFile:
    """A `schema:` file as the caller read it: the JSON Schema, or why it cannot be used."""

    schema: Mapping[str, Any] | None = None
    problem: str | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    """The sibling schema files its references name (file name -> schema), read and checked."""


@dataclass(frozen=True)
class ConfigValue:
    """A secret's value as read from config: wrapped from the first moment."""

    value: SecretStr | None
    """None: present in the stack file but not decryptable here (offline plan)."""
    secure: bool = True
    """False: stored as plain text in the stack file, which is refused."""

    def __repr__(self) -> str:
        return f"ConfigValue(secure={self.secure})"


@dataclass(frozen=True)
class StackSpec:
    """A whole stack, validated: what the Pulumi program builds."""

    stack: str
    account_id: str
    name_prefix: str
    store: StoreSpec
    promotion: PromotionSpec
    secrets: Mapping[str, SecretSpec]
    workers: Mapping[str, WorkerSpec]
    values: Mapping[str, ConfigValue] = field(repr=False)
    placeholders: tuple[Problem, ...] = ()
    """Keys that still hold a shipped example id (`REPLACE_ME...`), each with the command that
    sets it. The offline plan shows them; `pulumi up` refuses them."""
    positioned_in_entry: frozenset[str] = frozenset()
    """Secrets whose position the config writes inside `secrets.<secret>` (the first
    release's place) rather than in `rotation.<secret>`."""

    def position_key(self, secret: str) -> str:
        """The config key the secret's position is written under, for messages."""
        where = "secrets" if secret in self.positioned_in_entry else "rotation"
        return f"{NAMESPACE}:{where}.{secret}"

    def cloudflare_name(self, secret: str, version: int) -> str:
        return cloudflare_secret_name(self.name_prefix, secret, version)

    def script_name(self, worker: str) -> str:
        return f"{self.name_prefix}{worker}"

    def value_key(self, secret: str, version: int) -> str:
        return value_key(secret, version)

    def live_secret_count(self) -> int:
        """Cloudflare secrets this stack keeps, counting every live version."""
        return sum(len(s.position.live_versions) for s in self.secrets.values())

    def deploy_order(self) -> list[str]:
        """Workers ordered so that every service binding's target comes before its caller."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(worker: str) -> None:
            if worker in order or worker in visiting:
                return  # a cycle is refused by parse_stack; here it only must not loop
            visiting.add(worker)
            for target in self.workers[worker].services.values():
                if target in self.workers:
                    visit(target)
            visiting.discard(worker)
            order.append(worker)

        for worker in self.workers:
            visit(worker)
        return order


TOP_LEVEL_KEYS = (
    "accountId",
    "namePrefix",
    "store",
    "promotion",
    "secrets",
    "workers",
    "rotation",
)
POSITION_FIELDS = ("current", "next", "stage", "since")
"""A secret's rotation position: `rotation.<secret>` (or, legacy, inside `secrets.<secret>`)."""
ROTATION_ENTRY_FIELDS = (*POSITION_FIELDS, "reencrypted", "reached", "emergency")
"""What `rotation.<secret>` holds: the position and the records `secretsctl rotate` writes
beside it (the re-encryption step, when each stage was reached, an emergency's reason)."""


def parse_stack(
    stack: str,
    config: Mapping[str, Any],
    values: Mapping[str, ConfigValue],
    *,
    module_check: Callable[[str, str | None], str | None] = lambda _module, _bundle: None,
    load_schema: Callable[[str], SchemaFile] | None = None,
) -> StackSpec:
    """Validate a stack's `secrets-store:` config. Raises `SpecError` with every problem.

    `config`: the namespace's structured keys (accountId, store, secrets, ...), parsed.
    `values`: every other key of the namespace (`<secret>_v<N>`, legacy secret texts).
    `module_check`: how the caller checks a worker's module and what it imports, or (given
    a bundle folder) the bundle's files (I/O stays outside): why they cannot be uploaded, or
    None (`secrets_store.modules.module_graph_problem` / `bundle_problem`).
    `load_schema`: how the caller reads a `schema:` that is a JSON Schema file path (None:
    such schemas are not read, and values are checked as JSON only).
    """
    problems: list[Problem] = []

    def key(path: str) -> str:
        return f"{NAMESPACE}:{path}"

    def add(path: str, message: str) -> None:
        # A key path carries names from the file: each one is cut to a readable length, and
        # one with a line break or other control character is quoted (one line per problem).
        path = ".".join(_key_part(p) for p in path.split("."))
        problems.append(Problem(key(path), message))

    def model(
        cls: type[_Model], path: str, data: Any, report: Callable[[str, str], None] = add
    ) -> Any:
        try:
            return cls.model_validate(data if data is not None else {})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                report(f"{path}.{loc}" if loc else path, _message(err))
            return None

    for unknown in sorted(set(config) - set(TOP_LEVEL_KEYS)):
        add(
            unknown,
            f"unknown config key, got {shown(unknown)} (known keys: {_one_of(TOP_LEVEL_KEYS)})",
        )

    # Settings stored with `--secret` arrive as SecretStr: refused, and never shown.
    withheld = {k for k in TOP_LEVEL_KEYS if isinstance(config.get(k), SecretStr)}
    for name in sorted(withheld):
        add(
            name,
            "is stored as a secret, got a secure value (not shown) (store it as plain config: "
            f"`pulumi config set --stack {stack} {NAMESPACE}:{name} ...` without --secret; "
            "secret values belong in <secret>_v<N> keys)",
        )
    config = {k: v for k, v in config.items() if k not in withheld}

    placeholders: list[Problem] = []

    def placeholder(path: str, command: str, alternative: str = "") -> None:
        placeholders.append(
            Problem(
                key(path),
                "still holds the shipped example placeholder, got a REPLACE_ME value "
                f"(run `{command}`{alternative})",
            )
        )

    account_id = config.get("accountId")
    if is_placeholder(account_id):
        placeholder(
            "accountId",
            f"pulumi config set --stack {stack} {NAMESPACE}:accountId <your 32-hex account id>",
        )
    elif "accountId" in withheld:
        pass
    elif not isinstance(account_id, str) or not ACCOUNT_ID.fullmatch(account_id):
        add(
            "accountId",
            f"must be a 32-character lowercase hex Cloudflare account id, got {shown(account_id)} "
            "(find it in the dashboard URL: dash.cloudflare.com/<account id>)",
        )
    name_prefix = config.get("namePrefix") or ""
    if not isinstance(name_prefix, str) or not NAME_PREFIX.fullmatch(name_prefix):
        add("namePrefix", f"must be lowercase letters, digits, - or _, got {shown(name_prefix)}")
        name_prefix = ""

    store = model(StoreSpec, "store", config.get("store"))
    raw_store = config.get("store")
    if isinstance(raw_store, Mapping) and is_placeholder(raw_store.get("id")):
        placeholder(
            "store.id",
            f"pulumi config set --path --stack {stack} '{NAMESPACE}:store.id' <store id>",
            ", or remove store.id to adopt the store named store.name",
        )
    if store is not None and store.create and store.id:
        add(
            "store.create",
            f"conflicts with store.id, got create: true and id {store.id!r} (remove id to "
            "create the store, or remove create to adopt the store with that id)",
        )
    promotion = model(PromotionSpec, "promotion", config.get("promotion"))
    if promotion and promotion.after == stack:
        add("promotion.after", follows_itself(stack))

    # Names as declared (even when a declaration is invalid), for cross-references.
    raw_secrets = _mapping(config.get("secrets"), "secrets", add)
    raw_workers = _mapping(config.get("workers"), "workers", add)

    has_entry_position = {
        str(n)
        for n, e in raw_secrets.items()
        if isinstance(e, Mapping) and any(f in e for f in POSITION_FIELDS)
    }
    moved = _positions_from_rotation(raw_secrets, config.get("rotation"), add)

    def add_for(name: str) -> Callable[[str, str], None]:
        # A problem with a position taken from `rotation` names the key it was written in.
        def report(path: str, message: str) -> None:
            parts = path.split(".")
            if len(parts) > 2 and parts[2] in moved.get(name, ()):
                path = ".".join(["rotation", *parts[1:]])
            add(path, message)

        return report

    secrets: dict[str, SecretSpec] = {}
    for name, data in raw_secrets.items():
        if not SECRET_NAME.fullmatch(name):
            add(
                f"secrets.{name}",
                f"bad secret name, got {shown(name)} (letters, digits, _ and - only, no spaces)",
            )
            continue
        spec = model(SecretSpec, f"secrets.{name}", data, add_for(name))
        if spec is not None and _secret_ok(name, spec, add_for(name)):
            secrets[name] = spec

    workers: dict[str, WorkerSpec] = {}
    for name, data in raw_workers.items():
        if not SCRIPT_NAME.fullmatch(f"{name_prefix}{name}"):
            add(
                f"workers.{name}",
                f"bad worker name, got {shown(name)} (script names are lowercase "
                "letters, digits, - and _, at most 63 characters with the prefix)",
            )
            continue
        spec = model(WorkerSpec, f"workers.{name}", data)
        if spec is not None:
            workers[name] = spec

    declared = set(raw_secrets)
    for name, worker in workers.items():
        _worker_problems(stack, name, worker, declared, set(raw_workers), values, module_check, add)
        for binding, namespace_id in worker.kv.items():
            if is_placeholder(namespace_id):
                placeholder(
                    f"workers.{name}.kv.{binding}",
                    f"pulumi config set --path --stack {stack} "
                    f"'{NAMESPACE}:workers.{name}.kv.{binding}' <KV namespace id>",
                )
            elif not KV_NAMESPACE_ID.fullmatch(namespace_id):
                add(
                    f"workers.{name}.kv.{binding}",
                    f"must be a 32-character lowercase hex KV namespace id, got "
                    f"{shown(namespace_id)} (`npx wrangler kv namespace list` lists them)",
                )
    cycle = _service_cycle(workers)
    if cycle:
        add(
            f"workers.{cycle[0]}.services",
            f"service bindings form a cycle, got {' → '.join(cycle)} (a target is uploaded "
            "before its callers, so one of these bindings must go)",
        )

    live = sum(len(s.position.live_versions) for s in secrets.values())
    if live > MAX_SECRETS_PER_ACCOUNT:
        add(
            "secrets",
            f"needs {live} Cloudflare secrets (every live version counts), over the "
            f"account limit of {MAX_SECRETS_PER_ACCOUNT} (finish rotations or remove secrets)",
        )

    schema_files: dict[str, SchemaFile] = {}
    for name, spec in secrets.items():
        if spec.schema_name is None or not is_schema_file(spec.schema_name) or not load_schema:
            continue
        loaded = load_schema(spec.schema_name)
        if loaded.problem:
            add(f"secrets.{name}.schema", loaded.problem)
        elif loaded.schema is not None:
            schema_files[name] = loaded
    for name, spec in secrets.items():
        for version in spec.position.live_versions:
            _value_problems(stack, name, spec, version, values, add, schema_files.get(name))

    # Every other key must hold a version's value or a worker's legacy secret text.
    legacy = {k for w in workers.values() for k in w.secret_text.values()}
    for config_key in sorted(values):
        match = VALUE_KEY.fullmatch(config_key)
        if not values[config_key].secure:
            add(
                config_key,
                "is stored as plain text in the stack file, got an unencrypted value "
                f"(run `pulumi config set --secret --stack {stack} {config_key} <value>` to store "
                "it as a secret)",
            )
        if withheld & {"secrets", "workers"}:
            continue  # which keys they use is not known: nothing is called unknown
        if config_key in legacy or (match and match["secret"] in declared):
            continue
        add(
            config_key,
            f"unknown config key, got {shown(config_key)} (a value key is "
            "<secret>_v<N> of a declared secret; remove it with "
            f"`pulumi config rm --stack {stack} {config_key}`)",
        )

    if problems:
        raise SpecError(problems)
    assert store is not None and promotion is not None and isinstance(account_id, str)
    return StackSpec(
        stack,
        account_id,
        name_prefix,
        store,
        promotion,
        secrets,
        workers,
        values,
        tuple(placeholders),
        frozenset(n for n in secrets if n not in moved and n in has_entry_position),
    )


def _positions_from_rotation(
    raw_secrets: dict[str, Any], rotation: Any, add: Callable[[str, str], None]
) -> dict[str, set[str]]:
    """Put each `rotation.<secret>` position into its secret's settings (in `raw_secrets`);
    returns, per secret, the fields taken from there. A field written in both places with
    different values is refused, naming both keys."""
    moved: dict[str, set[str]] = {}
    for name, entry in _mapping(rotation, "rotation", add).items():
        if name not in raw_secrets:
            add(
                f"rotation.{name}",
                f"names no declared secret, got {shown(name)} (declare it under secrets, "
                "or remove this entry)",
            )
            continue
        if not isinstance(entry, Mapping):
            add(
                f"rotation.{name}",
                f"must be a mapping of current, next, stage and since, got "
                f"{type(entry).__name__} (for example {{current: 1}})",
            )
            continue
        for unknown in sorted(str(k) for k in entry if k not in ROTATION_ENTRY_FIELDS):
            add(
                f"rotation.{name}.{unknown}",
                f"unknown key, got {shown(unknown)} (a rotation entry holds "
                f"{_one_of(ROTATION_ENTRY_FIELDS)})",
            )
        declared = raw_secrets[name]
        if not isinstance(declared, Mapping):
            continue  # refused on its own key
        position = {f: entry[f] for f in ROTATION_ENTRY_FIELDS if f in entry}
        for setting, value in position.items():
            if setting in declared and declared[setting] != value:
                add(
                    f"rotation.{name}.{setting}",
                    f"disagrees with secrets.{name}.{setting}, got {shown(value)} here and "
                    f"{shown(declared[setting])} there (keep the position in rotation only: "
                    f"remove secrets.{name}.{setting})",
                )
        moved[name] = {f for f in position if f not in declared}
        raw_secrets[name] = {**declared, **position}
    return moved


def _service_cycle(workers: Mapping[str, WorkerSpec]) -> list[str]:
    """One cycle of service bindings (`[a, b, a]`), or empty."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(worker: str) -> list[str]:
        state[worker] = 1
        path.append(worker)
        for target in workers[worker].services.values():
            if target not in workers or state.get(target) == 2:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            found = visit(target)
            if found:
                return found
        path.pop()
        state[worker] = 2
        return []

    for worker in workers:
        if worker not in state:
            found = visit(worker)
            if found:
                return found
    return []


def check_secret(
    secret: str, settings: Mapping[str, Any], where: str
) -> tuple[SecretSpec | None, list[Problem]]:
    """The rules of one secret outside a stack file (the components' own arguments).

    `settings` holds SecretSpec fields by Python name; problems are keyed `<where>.<field>`.
    """
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(f"{where}.{path.split('.', 2)[-1]}", message))

    if not isinstance(secret, str) or not SECRET_NAME.fullmatch(secret):
        problems.append(
            Problem(
                f"{where}.secret_name",
                f"bad secret name, got {secret!r} (letters, digits, _ and - only, no spaces)",
            )
        )
    try:
        spec = SecretSpec.model_validate({k: v for k, v in settings.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"])
            # Component arguments here are names and positions, never values.
            problems.append(Problem(f"{where}.{loc}", _message(err)))
        return None, problems
    if not _secret_ok(secret, spec, add, python=True):
        return None, problems
    return (spec if not problems else None), problems


def _mapping(data: Any, path: str, add: Callable[[str, str], None]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        add(path, f"must be a mapping of name to settings, got {type(data).__name__}")
        return {}
    return {str(k): v for k, v in data.items()}


def _key_part(part: str) -> str:
    """One part of a key path as an error line shows it: quoted unless printable, then cut."""
    text = part if part.isprintable() else repr(part)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _message(err: Any) -> str:
    """Our message format from one pydantic error (config input only, never values)."""
    msg: str = err["msg"]
    if err["type"] == "value_error":
        return msg.removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"unknown key, got {shown(err['loc'][-1])} (check the spelling or remove it)"
    if err["type"] == "missing":
        return "is required, got nothing (add it)"
    return f"{msg[0].lower()}{msg[1:]}, got {shown(err.get('input'))}"


def _secret_ok(
    name: str, spec: SecretSpec, add: Callable[[str, str], None], python: bool = False
) -> bool:
    """Cross-field rules of one secret; True when its position is usable.

    `python`: the fixes are worded as the component's arguments (`next=2`), not as the
    stack file's keys (`next: 2`)."""
    path = f"secrets.{name}"

    def setting(key: str, value: Any) -> str:
        return f"{key}={value!r}" if python else f"{key}: {value}"

    ok = True
    if spec.stage == "steady" and spec.next is not None:
        add(
            f"{path}.next",
            f"is set while stage is steady, got next={spec.next} (set "
            f"{setting('stage', 'fallback')} to start the rotation, or remove next)",
        )
        ok = False
    if spec.stage != "steady" and spec.next is None:
        add(
            f"{path}.stage",
            f"{spec.stage!r} needs next, got no next (set {setting('next', spec.current + 1)})",
        )
        ok = False
    if spec.next is not None and spec.next <= spec.current:
        add(
            f"{path}.next",
            f"must be greater than current ({spec.current}), got {spec.next} "
            f"(use {spec.current + 1})",
        )
        ok = False
    if spec.schema_name is not None and spec.kind != "json":
        add(f"{path}.schema", f"applies to kind json only, got kind {spec.kind!r} (remove schema)")
    schema = spec.schema_name
    if schema is not None and not is_schema_file(schema) and schema not in SCHEMAS:
        add(
            f"{path}.schema",
            f"unknown schema, got {shown(schema)} (use one of {_one_of(tuple(sorted(SCHEMAS)))}, "
            "a JSON Schema file of the project such as schemas/db.schema.json, or a model "
            "registered with secrets_store.schemas.register_schema)",
        )
    if spec.source == "generate" and spec.kind == "json":
        fix = "leave out generate, and pass values" if python else "use source: config"
        add(
            f"{path}.{'generate' if python else 'source'}",
            f"generate makes random bytes, got kind 'json' ({fix})",
        )
    return ok


def _worker_problems(
    stack: str,
    name: str,
    worker: WorkerSpec,
    declared: set[str],
    worker_names: set[str],
    values: Mapping[str, ConfigValue],
    module_check: Callable[[str, str | None], str | None],
    add: Callable[[str, str], None],
) -> None:
    path = f"workers.{name}"
    unusable = module_check(worker.module, worker.bundle)
    if unusable:
        add(f"{path}.bundle" if worker.bundle else f"{path}.module", unusable)
    seen: dict[str, str] = {}
    for binding, where in worker.binding_names():
        if not BINDING_NAME.fullmatch(binding):
            add(
                f"{path}.{where}",
                f"bad binding name, got {shown(binding)} (a JavaScript identifier)",
            )
        elif binding in seen:
            add(
                f"{path}.{where}",
                f"binding name {binding!r} is already used by "
                f"{path}.{seen[binding]} (give one of them another name)",
            )
        else:
            seen[binding] = where
    for binding, spec in worker.secrets.items():
        if spec.secret not in declared:
            add(
                f"{path}.secrets.{binding}",
                f"binds an undeclared secret, got {shown(spec.secret)} "
                f"(declare it under {NAMESPACE}:secrets, or fix the name)",
            )
    for binding, target in worker.services.items():
        if target not in worker_names:
            add(
                f"{path}.services.{binding}",
                f"names no worker of this stack, got {shown(target)} "
                f"(use one of {_one_of(tuple(sorted(worker_names)))})",
            )
    for binding, config_key in worker.secret_text.items():
        if config_key not in values:
            add(
                f"{path}.secretText.{binding}",
                f"names a missing config key, got {shown(config_key)} "
                f"(run `pulumi config set --secret --stack {stack} {config_key} <value>`)",
            )


def _value_problems(
    stack: str,
    name: str,
    spec: SecretSpec,
    version: int,
    values: Mapping[str, ConfigValue],
    add: Callable[[str, str], None],
    schema_file: SchemaFile | None = None,
) -> None:
    """Rules on one version's value. Messages give sizes and rules, never content."""
    key = value_key(name, version)
    set_cmd = f"`pulumi config set --secret --stack {stack} {key} <value>`"
    entry = values.get(key)
    if spec.source == "generate" or version in spec.import_ids:
        return  # drawn by Pulumi, or adopted with the value it has live (never sent)
    if entry is None:
        add(
            key,
            f"missing value for version {version} of secret {name!r}, got nothing "
            f"(run {set_cmd}, or set secrets.{name}.source: generate)",
        )
        return
    if entry.value is None:
        return  # not decryptable offline: checked by `pulumi up`, which can read it
    text = entry.value.get_secret_value()
    for line in _shape_problems(spec.kind, text):
        add(key, line)
    for line in _json_value_problems(spec.kind, spec.schema_name, text, schema_file):
        add(key, f"{line} (fix the value and run {set_cmd})")


def value_problems(
    kind: str, schema: str | None, text: str, schema_file: SchemaFile | None = None
) -> list[str]:
    """The rules every value of a secret of `kind` meets (its size, key material, JSON and
    its `schema`), one line per problem, never the value: for stack-config values and for
    values a program passes to VersionedSecret alike."""
    return [*_shape_problems(kind, text), *_json_value_problems(kind, schema, text, schema_file)]


def _shape_problems(kind: str, text: str) -> list[str]:
    lines = []
    size = len(text.encode())
    if size > MAX_VALUE_BYTES:
        lines.append(
            f"value is too large, got {size:,} bytes (Cloudflare allows at most "
            f"{MAX_VALUE_BYTES:,}; store a smaller value)"
        )
    if kind in ("encryption_key", "signing_key") and not _is_key_material(text):
        lines.append(
            f"a {kind} must be base64 of {KEY_BYTES} random bytes, got a value "
            f"that is not (generate one: `openssl rand -base64 {KEY_BYTES}`)"
        )
    return lines


def _json_value_problems(
    kind: str, schema: str | None, text: str, schema_file: SchemaFile | None
) -> list[str]:
    if kind != "json":
        return []
    # An unknown schema is reported on its own key.
    if schema is not None and schema_file is not None and schema_file.schema is not None:
        return json_schema_problems(schema, schema_file.schema, text, schema_file.resources)
    if schema is not None and schema in SCHEMAS:
        return schema_problems(schema, text)
    return json_problems(text)


def _is_key_material(text: str) -> bool:
    # The workers' own rule (canonical base64 of 32 bytes, no whitespace), so a key `plan`
    # accepts is one every worker accepts.
    from secrets_store.crypto_envelope import EnvelopeError, decode_key

    try:
        decode_key(text)
    except EnvelopeError:
        return False
    return True
