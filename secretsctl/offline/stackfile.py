"""Stack files (`stacks/Pulumi.<stack>.yaml`): read once into one typed model.

`StackConfig` holds the config the way the Pulumi runtime sees it (full keys,
values as strings, which keys are `secure:`) and, decoded once, what every tool
reads from it: account, prefix, promotion order and each secret's kind, source
and rotation position. Full validation is `secrets_store.spec.parse_stack`'s job
(the program runs it); this model is lenient so that tools can still describe a
file that the program would refuse.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from secrets_store.grammar import STACK_NAME
from secrets_store.ordering import Standing, reached_of
from secrets_store.policy import moment_of, rotate_every_days, since_date, soak_of
from secrets_store.rotation import Position, position_from
from secrets_store.spec import NAMESPACE, shown, value_key
from secrets_store.topology import (
    TOPOLOGY_FILE,
    Override,
    Topology,
    lift_positions,
    merged,
    overrides,
    read_topology,
    topology_path,
)
from secrets_store.yamlfile import (  # the reading limits, for callers of this module
    MAX_FILE_BYTES as MAX_FILE_BYTES,
)
from secrets_store.yamlfile import MAX_INDICATORS as MAX_INDICATORS
from secrets_store.yamlfile import MAX_LINES as MAX_LINES
from secrets_store.yamlfile import MAX_OPEN_BRACKETS as MAX_OPEN_BRACKETS
from secrets_store.yamlfile import YamlFile, YamlFileError, load_yaml
from secretsctl import notices
from secretsctl.errors import InvalidInput
from secretsctl.offline.project import SOURCE_ROOT as SOURCE_ROOT  # this checkout, re-exported
from secretsctl.offline.project import Project, find_project, project_at, project_of_stack_file

PROJECT_FILE = "Pulumi.yaml"


class StackFileError(InvalidInput, YamlFileError):
    """A stack file that cannot be read: missing, unreadable, not UTF-8, not YAML, not a
    mapping, or beyond the reading limits (`secrets_store.yamlfile`)."""


ROTATION = "rotation"
"""`secrets-store:rotation`: every secret's rotation position, for every program."""
POSITION_KEYS = ("current", "next", "stage")
SECRET_STAND_IN = ""
"""What a `secure:` value reads as offline: present, never decrypted, never shown."""


def stack_path(root: Path, stack: str) -> Path:
    """The one place a stack file's path is built: `<stackConfigDir>/Pulumi.<stack>.yaml` of
    the project at `root` (`<root>/stacks/` for a bare folder of stack files)."""
    if not STACK_NAME.fullmatch(stack):
        # `--stack ../../x` must never name a file outside the stacks folder (init writes one).
        raise StackFileError(
            f"--stack: not a stack name, got {shown(stack)} (letters, digits, -, _ and . only)"
        )
    return project_at(root).stacks_dir / stack_file_name(stack)


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def stack_of(file_name: str) -> str | None:
    """The stack a file name belongs to (`Pulumi.dev.yaml` -> `dev`), or None."""
    if file_name.startswith("Pulumi.") and file_name.endswith(".yaml"):
        return file_name[len("Pulumi.") : -len(".yaml")] or None
    return None


def list_stacks(root: Path) -> list[str]:
    """Stack names that have a file in the stacks folder of the project at `root`, sorted."""
    names = (stack_of(p.name) for p in project_at(root).stacks_dir.glob("Pulumi.*.yaml"))
    return sorted(n for n in names if n)


def config_key(key: str) -> str:
    """`key` qualified with the project namespace, as the runtime names it."""
    return key if ":" in key else f"{NAMESPACE}:{key}"


@dataclass(frozen=True)
class SecretEntry:
    """One declared secret as the file writes it (defaults applied, not validated)."""

    kind: str
    source: str
    position: Position | None
    """None: the file's current/next/stage do not form a position (the program refuses it)."""
    rotate_every: int | None = None
    """`rotateEvery: <N>d` in days (None: no policy, or not a valid one)."""
    since: datetime.date | None = None
    """`since:`, the day the current version became steady (None: not recorded, or invalid)."""
    reached: Mapping[str, datetime.datetime] = field(default_factory=dict)
    """`reached:`, when this rotation reached each stage (valid moments only)."""
    emergency: Emergency | None = None
    """`emergency: {reason, at}` next to the position (None: not written, or no reason)."""
    reencrypted: Any = None
    """`reencrypted:` as written next to the position (a version number, `retired`, or
    None): the re-encryption step of an encryption_key."""

    @property
    def standing(self) -> Standing | None:
        """The position with what the promotion rule reads besides it."""
        if self.position is None:
            return None
        return Standing(self.position, self.reached, self.emergency is not None)


@dataclass(frozen=True)
class Emergency:
    """An emergency rotation's record: why, and when (None: `at` is not a valid moment)."""

    reason: str
    at: datetime.datetime | None

    @staticmethod
    def read(raw: Any) -> Emergency | None:
        if not isinstance(raw, Mapping):
            return None
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return None
        return Emergency(reason, moment_of(raw.get("at")))


@dataclass(frozen=True)
class StackConfig:
    """One stack's config in the runtime's shape, plus its decoded settings."""

    stack: str
    path: Path
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    """Keys stored as `secure:` (Pulumi secrets)."""
    opaque_keys: list[str] = field(default_factory=list)
    """Secure keys whose ciphertext cannot be decrypted here: present, never shown."""
    environments: tuple[str, ...] = ()
    """Pulumi ESC environments the file imports (`environment:`): their values are not here."""
    from_environment: tuple[str, ...] = ()
    """Value keys the file lacks and the environments are taken to supply (opaque, in
    `opaque_keys` too): never reported missing offline."""
    raw: bytes | None = field(default=None, repr=False, compare=False)
    """The file's exact bytes as read (None: built in memory); edits start from these."""
    project: Project | None = field(default=None, repr=False, compare=False)
    """The project whose program this config is for (None: the one the file lies in)."""
    topology: Topology | None = None
    """The project's `secrets-store.yaml` (None: the project has none)."""
    lifted: frozenset[str] = field(default=frozenset(), compare=False)
    """Secrets whose position the file writes inside `secrets.<secret>` (read as `rotation`):
    the legacy form's mark, which `secretsctl migrate` rewrites."""
    written_in_entry: frozenset[str] = field(default=frozenset(), compare=False)
    """Secrets whose position the file writes in its own `secrets.<secret>` entry (the first
    release's place): where `rotate` edits it and where a message points. Everything else
    reads the positions from `rotation` only (`own_namespace`)."""

    def __post_init__(self) -> None:
        # Where the file writes each position, remembered across `replace()` copies (a copy
        # in today's form, `todays_form`, still edits and names the file's keys).
        own = self._own_structured()
        secrets, rotation = own.get("secrets"), own.get(ROTATION)
        entries = secrets if isinstance(secrets, Mapping) else {}
        positioned = rotation if isinstance(rotation, Mapping) else {}
        in_entry = {
            str(n)
            for n, e in entries.items()
            if isinstance(e, Mapping)
            and (any(k in e for k in POSITION_KEYS) or n not in positioned)
        }
        moved = lift_positions(secrets, rotation)[2]
        object.__setattr__(self, "written_in_entry", self.written_in_entry | in_entry)
        object.__setattr__(self, "lifted", self.lifted | set(moved))

    def _own_structured(self) -> dict[str, Any]:
        """The file's own `secrets` and `rotation`, parsed (not secure, JSON only)."""
        out: dict[str, Any] = {}
        for name in ("secrets", ROTATION):
            key = f"{NAMESPACE}:{name}"
            if key in self.config and key not in self.secret_keys:
                with contextlib.suppress(json.JSONDecodeError):
                    out[name] = json.loads(self.config[key])
        return out

    def todays_form(self) -> StackConfig:
        """This config with its positions in `rotation` only, for a config that is changed
        and run (the rehearsal's stages); the file's own form, which the program is given
        as `pulumi up` gives it, is `config`."""
        own = self._own_structured()
        secrets, rotation, moved = lift_positions(own.get("secrets"), own.get(ROTATION))
        if not moved:
            return self
        config = {
            **self.config,
            f"{NAMESPACE}:secrets": json.dumps(secrets),
            f"{NAMESPACE}:{ROTATION}": json.dumps(rotation),
        }
        return replace(self, config=config)

    def owner(self) -> Project:
        """The project whose program runs with this config."""
        return self.project or project_of_stack_file(self.path)

    # ---- decoded once -------------------------------------------------------------------

    @functools.cached_property
    def namespace(self) -> Mapping[str, Any]:
        """The structured, non-secret `secrets-store:` keys, parsed from their JSON text, with
        the project's topology under `secrets` and `workers`: the effective declarations."""
        own = self.own_namespace
        return merged(self.topology.data, own) if self.topology else own

    @functools.cached_property
    def overrides(self) -> list[Override]:
        """What this stack adds to or changes in the topology (empty without one)."""
        return overrides(self.topology.data if self.topology else None, self.own_namespace)

    @functools.cached_property
    def legacy_form(self) -> str | None:
        """Why this file is in the legacy form `secretsctl migrate` rewrites, or None."""
        moved = sorted(self.lifted)
        if moved:
            more = " …" if len(moved) > 3 else ""
            return f"rotation positions inside secrets-store:secrets ({', '.join(moved[:3])}{more})"
        if self.topology is None and {"secrets", "workers"} & set(self.own_namespace):
            return f"the whole topology, with no {TOPOLOGY_FILE} in the project"
        return None

    @functools.cached_property
    def own_namespace(self) -> Mapping[str, Any]:
        """The structured, non-secret `secrets-store:` keys as this file writes them, in
        today's form: a position written inside `secrets.<S>` (the first release's place)
        is read as `rotation.<S>` (`lift_positions`). The one place the two forms meet."""
        out: dict[str, Any] = {}
        prefix = f"{NAMESPACE}:"
        for key, text in self.config.items():
            if key.startswith(prefix) and key not in self.secret_keys:
                try:
                    out[key[len(prefix) :]] = json.loads(text)
                except json.JSONDecodeError:
                    out[key[len(prefix) :]] = text
        secrets, rotation, moved = lift_positions(out.get("secrets"), out.get(ROTATION))
        if moved:
            out["secrets"], out[ROTATION] = secrets, rotation
        return out

    @functools.cached_property
    def account_id(self) -> str | None:
        value = self.namespace.get("accountId")
        return value if isinstance(value, str) else None

    @functools.cached_property
    def name_prefix(self) -> str:
        value = self.namespace.get("namePrefix")
        return value if isinstance(value, str) else ""

    @functools.cached_property
    def promotion_after(self) -> str | None:
        """The stack this one may never be ahead of (`promotion.after`), or None.

        Only a well-formed stack name: any other value never becomes a file name to open
        (the program refuses it, with its key path)."""
        after = self._promotion.get("after")
        return after if isinstance(after, str) and STACK_NAME.fullmatch(after) else None

    @functools.cached_property
    def stack_reference(self) -> str | None:
        """`promotion.stackReference` when set."""
        configured = self._promotion.get("stackReference")
        return configured if isinstance(configured, str) and configured else None

    @functools.cached_property
    def secrets(self) -> Mapping[str, SecretEntry]:
        """Every declared secret, in file order, at its position in `rotation.<secret>`
        (none: steady at version 1)."""
        raw = self.namespace.get("secrets")
        out: dict[str, SecretEntry] = {}
        for name, entry in (raw if isinstance(raw, Mapping) else {}).items():
            entry = entry if isinstance(entry, Mapping) else {}
            where = self.rotation.get(str(name), {})
            since = entry.get("since") if "since" in entry else where.get("since")
            out[str(name)] = SecretEntry(
                kind=str(entry.get("kind") or ""),
                source=str(entry.get("source") or "config"),
                position=_position(where),
                rotate_every=rotate_every_days(entry.get("rotateEvery")),
                since=since_date(since),
                reached=reached_of(where.get("reached")),
                emergency=Emergency.read(where.get("emergency")),
                # `rotate` writes it next to the position: in rotation.<S> in the new form
                reencrypted=where.get("reencrypted", entry.get("reencrypted")),
            )
        return out

    @functools.cached_property
    def rotation(self) -> Mapping[str, Mapping[str, Any]]:
        """`secrets-store:rotation`: secret -> {current, next, stage, since}, as written
        (entries that are not mappings left out)."""
        raw = self.namespace.get(ROTATION)
        entries = raw if isinstance(raw, Mapping) else {}
        return {str(n): e for n, e in entries.items() if isinstance(e, Mapping)}

    def emergency(self, secret: str) -> Emergency | None:
        """The emergency record written next to a secret's position, whether the file
        declares the secret or only positions it (a program that declares it in code)."""
        entry = self.secrets.get(secret)
        if entry is not None:
            return entry.emergency
        return Emergency.read(self.rotation.get(secret, {}).get("emergency"))

    def reencrypted(self, secret: str) -> Any:
        """`reencrypted:` of a secret as written next to its position (a version number,
        `retired`, or None), whether the file declares the secret or only positions it (a
        program that declares it in code)."""
        entry = self.secrets.get(secret)
        if entry is not None:
            return entry.reencrypted
        return self.rotation.get(secret, {}).get("reencrypted")

    def position_key(self, secret: str) -> str:
        """The config key a secret's position is written under in this file: its
        `secrets.<secret>` entry (the legacy place), else `rotation.<secret>`."""
        where = "secrets" if self.position_in_entry(secret) else ROTATION
        return f"{NAMESPACE}:{where}.{secret}"

    def position_in_entry(self, secret: str) -> bool:
        """True when the file writes the secret's position in its own
        `secrets-store:secrets.<secret>` entry (the legacy place, which rotate edits): the
        entry held current/next/stage, or it exists and `rotation` has nothing for it."""
        return secret in self.written_in_entry

    @functools.cached_property
    def positions(self) -> Mapping[str, Position]:
        """Each secret's rotation position as written (declared secrets, and those only in
        `rotation`, as a program using the components in code has them); unusable ones
        left out."""
        out = {n: s.position for n, s in self.secrets.items() if s.position is not None}
        for name, entry in self.rotation.items():
            position = _position(entry)
            if name not in out and name not in self.secrets and position is not None:
                out[name] = position
        return out

    @functools.cached_property
    def standings(self) -> Mapping[str, Standing]:
        """Each secret's position with its `reached` and `emergency` records."""
        out = {n: s.standing for n, s in self.secrets.items() if s.standing is not None}
        for name, position in self.positions.items():
            if name not in out:  # only in `rotation` (secrets declared in code)
                entry = self.rotation.get(name, {})
                record = Emergency.read(entry.get("emergency"))
                out[name] = Standing(position, reached_of(entry.get("reached")), record is not None)
        return out

    @functools.cached_property
    def soak(self) -> datetime.timedelta:
        """`promotion.soak` (0 when unset or invalid: the program refuses an invalid one)."""
        return soak_of(self._promotion.get("soak"))

    @functools.cached_property
    def kinds(self) -> Mapping[str, str]:
        return {n: s.kind for n, s in self.secrets.items()}

    @property
    def _promotion(self) -> Mapping[str, Any]:
        promotion = self.namespace.get("promotion")
        return promotion if isinstance(promotion, Mapping) else {}

    # ---- questions tools ask -------------------------------------------------------------

    def has_value(self, secret: str, version: int) -> bool:
        """True when the file holds a value key for this version (decryptable or not)."""
        return config_key(value_key(secret, version)) in self.config

    def value_keys_needed(self) -> list[str]:
        """Full keys of every value the file's config reads: each live version of a
        `source: config` secret, and each worker's legacy `secretText` key."""
        keys = [
            config_key(value_key(name, version))
            for name, entry in self.secrets.items()
            if entry.source == "config" and entry.position is not None
            for version in entry.position.live_versions
        ]
        workers = self.namespace.get("workers")
        for worker in (workers if isinstance(workers, Mapping) else {}).values():
            texts = worker.get("secretText") if isinstance(worker, Mapping) else None
            for key in (texts if isinstance(texts, Mapping) else {}).values():
                if isinstance(key, str) and key and ":" not in key:
                    keys.append(config_key(key))
        return list(dict.fromkeys(keys))

    def environment_note(self) -> str | None:
        """One line saying which values the file's ESC environments are taken to supply."""
        if not self.environments:
            return None
        supplied = len(self.from_environment)
        return (
            f"Note: {self.path.name} imports Pulumi ESC environment(s) "
            f"{', '.join(shown(e) for e in self.environments[:5])}"
            f"{' …' if len(self.environments) > 5 else ''}: the {supplied} value(s) it reads "
            "but does not hold are taken to come from there (opaque offline: never shown, "
            "never reported missing)"
        )

    def sibling(self, stack: str) -> Path:
        """The path of another stack's file next to this one."""
        return self.path.parent / stack_file_name(stack)

    def rotation_output(self) -> dict[str, dict[str, Any]]:
        """The `rotation` stack output this file would deploy (positions, with their
        `reached` and `emergency` records when written)."""
        out: dict[str, dict[str, Any]] = {}
        for name, p in self.positions.items():
            out[name] = {"current": p.current, "next": p.next, "stage": p.stage}
            out[name].update(self.records_output(name))
        return out

    def records_output(self, name: str) -> dict[str, Any]:
        """A secret's `reached` and `emergency` records as the `rotation` output carries
        them, written in its entry or beside its position in `rotation.<secret>`."""
        entry = self.secrets.get(name)
        reached = (
            entry.reached
            if entry is not None
            else reached_of(self.rotation.get(name, {}).get("reached"))
        )
        emergency = self.emergency(name)
        return {
            **({"reached": dict(reached)} if reached else {}),
            **({"emergency": {"reason": emergency.reason}} if emergency is not None else {}),
        }


@contextlib.contextmanager
def _as_stack_error() -> Iterator[None]:
    """The shared reader's refusals as the CLI's (exit 2, one line)."""
    try:
        yield
    except StackFileError:
        raise
    except YamlFileError as exc:
        raise StackFileError(str(exc)) from None


def _position(entry: Mapping[str, Any]) -> Position | None:
    try:
        return position_from(entry)
    except (OverflowError, ValueError, TypeError):  # `current: .inf`, ...
        return None


def read_stack_file(path: Path, given: str | bytes | None = None) -> YamlFile:
    """A stack file (or its `given` text or bytes) from bytes to data, in one call of the
    shared reader; raises `StackFileError` naming the fix (missing, unreadable, not UTF-8,
    beyond the reading limits, not YAML, an alias bomb)."""
    with _as_stack_error():
        return load_yaml(path, given)


def _is_secure(value: Any) -> bool:
    """`{secure: <ciphertext>}`: how Pulumi writes a secret value."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)


# Loaded YAML to the runtime's shape. The reader measured the document already (depth,
# aliases expanded, cycles: `secrets_store.yamlfile`), so these walks are bounded.


def _plain(value: Any) -> Any:
    """JSON-ready data. Dates become their text, as Pulumi reads them."""
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, float) and value != value:  # NaN: not JSON, never a valid setting
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)  # an unquoted date (`compatibilityDate: 2025-11-01`), a timestamp


def _plain_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(_plain(key))


def _contains_secure(value: Any) -> bool:
    """True when a `{secure: ...}` value sits anywhere inside `value`."""
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _environments(path: Path, document: Mapping[str, Any]) -> tuple[str, ...]:
    """The Pulumi ESC environments the file imports (`environment:`), by name."""
    raw = document.get("environment")
    if raw is None:
        return ()
    if isinstance(raw, dict):
        raw = raw.get("imports")
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list) and raw:
        names = []
        for item in raw:
            # An import may be `name` or `{name: {merge: false}}`.
            name = next(iter(item), None) if isinstance(item, dict) and len(item) == 1 else item
            if not isinstance(name, str) or not name:
                break
            names.append(name)
        else:
            return tuple(names)
    raise StackFileError(
        f"{path}: environment: must list Pulumi ESC environments to import, got "
        f"{shown(raw)} (for example `environment: [myproject/dev]`)"
    )


FROM_PROJECT: Literal["project"] = "project"


def load_stack_config(
    stack: str,
    path: Path,
    text: str | bytes | None = None,
    project: Project | None = None,
    topology: Topology | Literal["project"] | None = FROM_PROJECT,
) -> StackConfig:
    """Read a stack file (or its `text`, for example from a base git ref).

    `topology`: the project's `secrets-store.yaml` as read from disk (the default), or the
    one to merge instead (a base git ref's own, or None for none).

    Raises `StackFileError` (one line, never the file's content) for a file that is
    missing, unreadable, not UTF-8, not YAML, not a mapping, too large, or whose
    aliases expand without bound.
    """
    read = read_stack_file(path, text)
    raw = read.raw if text is None or isinstance(text, bytes) else None
    document = read.data
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(
            f"{path}: the top level must be a mapping with a `config:` key, got "
            f"{type(document).__name__} (start the file with `config:`)"
        )
    raw_config = document.get("config") or {}
    if not isinstance(raw_config, dict):
        raise StackFileError(
            f"{path}: `config` must be a mapping, got {type(raw_config).__name__} "
            "(put one `key: value` per line under `config:`)"
        )
    environments = _environments(path, document)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    opaque: list[str] = []
    for key, value in raw_config.items():
        # Pulumi qualifies bare keys with the project name.
        key = config_key(_plain_key(key))
        if _contains_secure(value):
            # A secret, or structured config holding one: present, never decrypted here.
            # The program refuses secrets where it needs plain config, without showing them.
            secret_keys.append(key)
            opaque.append(key)
            config[key] = SECRET_STAND_IN
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(_plain(value))
    loaded = StackConfig(
        stack,
        path,
        config,
        secret_keys,
        opaque,
        environments,
        (),
        raw,
        project=project,
        topology=project_topology(path, project) if isinstance(topology, str) else topology,
    )
    _notice_legacy(loaded)
    if not environments:
        return loaded
    # Values an ESC environment supplies are not in the file: opaque, like `secure:` ones.
    supplied = [k for k in loaded.value_keys_needed() if k not in config]
    for key in supplied:
        config[key] = SECRET_STAND_IN
    return StackConfig(
        stack,
        path,
        config,
        [*secret_keys, *supplied],
        [*opaque, *supplied],
        environments,
        tuple(supplied),
        raw,
        project=project,
        topology=loaded.topology,
    )


def _notice_legacy(config: StackConfig) -> None:
    if config.legacy_form is None:
        return  # the new form
    notices.note_once(
        f"Note: {config.path.name} is in the legacy form ({config.legacy_form}): it works "
        f"unchanged; `secretsctl migrate` moves the shared topology to {TOPOLOGY_FILE} and "
        f"positions to {NAMESPACE}:rotation"
    )


def project_topology(stack_file: Path, project: Project | None = None) -> Topology | None:
    """The `secrets-store.yaml` of the stack's project (`project`, else the one the file
    lies in), if it has one. Raises `TopologyError` (exit 2, naming the file and key) for
    one that cannot be used."""
    owner = project or project_of_stack_file(stack_file)
    if owner.file is None:
        return None  # a bare folder of stack files (a scratch copy): the legacy form only
    return read_topology(topology_path(owner.root))


def read_stack(
    stack: str,
    config_file: Path | None = None,
    project: Project | None = None,
    root: Path | None = None,
) -> StackConfig:
    """A stack's config from `config_file`, else the project's `Pulumi.<stack>.yaml`.

    `project`: the command's project (default: the one the file lies in, for a config
    file; else the one at or above the working directory). The entry of `plan` and
    `rehearse`: when the file imports ESC environments, says so in one line on stderr
    (values it cannot see are taken to come from there). `root`: the project folder itself,
    instead of `project`.
    """
    if project is None and root is not None:
        project = project_at(root)
    if config_file is None:
        project = project or find_project()
        config = load_stack_config(stack, stack_path(project.root, stack), project=project)
    else:
        config = load_stack_config(stack, config_file, project=project)
    note = config.environment_note()
    if note:
        from secretsctl.console import err

        err.print(note, markup=False)
    return config
