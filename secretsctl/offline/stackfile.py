"""Stack files (`stacks/Pulumi.<stack>.yaml`): read once into one typed model.

`StackConfig` holds the config the way the Pulumi runtime sees it (full keys,
values as strings, which keys are `secure:`) and, decoded once, what every tool
reads from it: account, prefix, promotion order and each secret's kind, source
and rotation position. Full validation is `secrets_store.spec.parse_stack`'s job
(the program runs it); this model is lenient so that tools can still describe a
file that the program would refuse.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from secrets_store.grammar import STACK_NAME
from secrets_store.policy import rotate_every_days, since_date
from secrets_store.rotation import Position, position_from
from secrets_store.spec import NAMESPACE, shown, value_key
from secretsctl.errors import InvalidInput
from secretsctl.offline.project import SOURCE_ROOT as SOURCE_ROOT  # this checkout, re-exported
from secretsctl.offline.project import Project, find_project, project_at, project_of_stack_file

PROJECT_FILE = "Pulumi.yaml"


class StackFileError(InvalidInput):
    """A stack file that cannot be read: missing, unreadable, not UTF-8, not YAML, not a
    mapping, or beyond the limits below."""


# Limits of what a stack file may be: far above any real one (a few hundred lines), low
# enough that a hostile file is refused instead of parsed or expanded for minutes.
MAX_FILE_BYTES = 1024 * 1024
MAX_LINES = 20_000
MAX_INDICATORS = 60_000
"""`,` `:` `[` `]` `{` `}` and line breaks: the YAML reader (pure Python) takes about 30 µs
for each token they delimit, so this bounds reading any file that passes to seconds; a
stack of 500 workers with 10 bindings each has about 38,000."""
MAX_EXPANDED_NODES = 200_000
"""Values a file's YAML expands to once every alias is followed (an alias bomb expands to
billions from a few lines)."""
MAX_DEPTH = 64
MAX_OPEN_BRACKETS = 1_000
"""`[` and `{` open at once, counted as characters (those in strings and comments too, like
MAX_INDICATORS): nesting that deep is refused anyway (MAX_DEPTH), but the pure reader takes
time quadratic in it to get there (5,000 took 2.5 s)."""
C_READER_MAX_NESTING = 2_000
"""Files that can nest no deeper than this are read with the C YAML reader (ruamel.yaml.clib,
~8x faster). It recurses on the C stack: tens of thousands of levels crash the process, where
the pure-Python reader raises RecursionError, so a file that might nest deeper is read by that."""
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

    def owner(self) -> Project:
        """The project whose program runs with this config."""
        return self.project or project_of_stack_file(self.path)

    # ---- decoded once -------------------------------------------------------------------

    @functools.cached_property
    def namespace(self) -> Mapping[str, Any]:
        """The structured, non-secret `secrets-store:` keys, parsed from their JSON text."""
        out: dict[str, Any] = {}
        prefix = f"{NAMESPACE}:"
        for key, text in self.config.items():
            if key.startswith(prefix) and key not in self.secret_keys:
                try:
                    out[key[len(prefix) :]] = json.loads(text)
                except json.JSONDecodeError:
                    out[key[len(prefix) :]] = text
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
        """Every declared secret, in file order. Its position is written in its entry (the
        legacy place) or in `rotation.<secret>`; neither: steady at version 1."""
        raw = self.namespace.get("secrets")
        out: dict[str, SecretEntry] = {}
        for name, entry in (raw if isinstance(raw, Mapping) else {}).items():
            entry = entry if isinstance(entry, Mapping) else {}
            where = entry if self.position_in_entry(str(name)) else self.rotation.get(str(name), {})
            since = entry.get("since") if "since" in entry else where.get("since")
            out[str(name)] = SecretEntry(
                kind=str(entry.get("kind") or ""),
                source=str(entry.get("source") or "config"),
                position=_position(where),
                rotate_every=rotate_every_days(entry.get("rotateEvery")),
                since=since_date(since),
            )
        return out

    @functools.cached_property
    def rotation(self) -> Mapping[str, Mapping[str, Any]]:
        """`secrets-store:rotation`: secret -> {current, next, stage, since}, as written
        (entries that are not mappings left out)."""
        raw = self.namespace.get(ROTATION)
        entries = raw if isinstance(raw, Mapping) else {}
        return {str(n): e for n, e in entries.items() if isinstance(e, Mapping)}

    def position_in_entry(self, secret: str) -> bool:
        """True when the secret's position is written in this file's own
        `secrets-store:secrets.<secret>` entry (the legacy place, which rotate edits): the
        entry holds current/next/stage, or it exists and `rotation` has nothing for it."""
        try:
            declared = json.loads(self.config.get(f"{NAMESPACE}:secrets", "null"))
        except json.JSONDecodeError:
            return False
        entry = declared.get(secret) if isinstance(declared, Mapping) else None
        if not isinstance(entry, Mapping):
            return False
        return any(k in entry for k in POSITION_KEYS) or secret not in self.rotation

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
        """The `rotation` stack output this file would deploy (positions only)."""
        return {
            name: {"current": p.current, "next": p.next, "stage": p.stage}
            for name, p in self.positions.items()
        }


def _position(entry: Mapping[str, Any]) -> Position | None:
    try:
        return position_from(entry)
    except (OverflowError, ValueError, TypeError):  # `current: .inf`, ...
        return None


def _too_big(path: Path, size: int) -> StackFileError:
    return StackFileError(
        f"{path}: too large for a stack file, got {size:,} bytes (at most {MAX_FILE_BYTES:,}; "
        "keep large values out of stack config, for example in Pulumi ESC)"
    )


def decode_stack_bytes(path: Path, raw: bytes) -> str:
    """A stack file's bytes as text: UTF-8 (a BOM is kept as U+FEFF), within the size limits."""
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(path, len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise StackFileError(
            f"{path}: not UTF-8 text, got an invalid byte on line {line} (byte offset "
            f"{exc.start}) (save the file as UTF-8, as `pulumi config` writes it)"
        ) from None
    return _within_limits(path, text)


def _within_limits(path: Path, text: str) -> str:
    """`text`, if reading it as YAML takes seconds at most; else `StackFileError`."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise _too_big(path, len(text.encode("utf-8", "replace")))
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        raise StackFileError(
            f"{path}: too long for a stack file, got {lines:,} lines (at most {MAX_LINES:,})"
        )
    indicators = sum(text.count(c) for c in ",:[]{}\n")
    if indicators > MAX_INDICATORS:
        raise StackFileError(
            f"{path}: too dense for a stack file, got {indicators:,} of the YAML indicators "
            f", : [ ] {{ }} and line breaks (at most {MAX_INDICATORS:,}; split it or remove what "
            "the stack does not use)"
        )
    opened = _nesting(text)[1]
    if opened > MAX_OPEN_BRACKETS:
        raise StackFileError(
            f"{path}: too deeply nested for a stack file, got {opened:,} [ and {{ open at once, "
            f"counting those in strings and comments (at most {MAX_OPEN_BRACKETS:,}; stack config "
            "needs a few levels: flatten it)"
        )
    return text


def read_stack_text(path: Path) -> tuple[str, bytes]:
    """(text, exact bytes) of a stack file; raises `StackFileError` naming the fix."""
    try:
        if not path.is_file():
            raise StackFileError(f"{path}: no such stack file (create it, or pass --config-file)")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(path, size)
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # a file that grew since: refused below
    except OSError as exc:
        raise StackFileError(
            f"{shown(str(path))}: cannot read the stack file, got {exc.__class__.__name__}"
            f"{f' ({exc.strerror})' if exc.strerror else ''} (check the path and its permissions)"
        ) from None
    return decode_stack_bytes(path, raw), raw


PARSE_CACHE_SIZE = 16
_parsed: dict[str, Any] = {}
"""Text -> its data, for the texts read last: one command reads the same stack file (and
the base ref's, often the same text) several times, and the YAML reader is pure Python."""


def parse_document(path: Path, text: str) -> Any:
    """The data of a stack file's `text`, as a copy the caller may change; raises
    `StackFileError` naming `path` (beyond the reading limits, not YAML, an alias bomb)."""
    if text not in _parsed:
        document = _parse(path, _within_limits(path, text))  # refusals are never cached
        while len(_parsed) >= PARSE_CACHE_SIZE:
            _parsed.pop(next(iter(_parsed)), None)
        _parsed[text] = document
    return copy.deepcopy(_parsed[text])


# One read measures the same text three times: the limits when the file is read, again
# before it is parsed, and the choice of reader.
@functools.lru_cache(maxsize=4)
def _nesting(text: str) -> tuple[int, int]:
    """(bound, brackets): `bound` is at least as deep as `text` can nest: per line, twice its
    indentation (a block level takes one more space, and a sequence under a key may take
    none) plus its `-` `?` `:` (each can open a level on the line), plus the open `[` `{`
    (flow levels, counted across lines). `brackets`: the most `[` `{` open at once. Brackets
    and dashes inside scalars only make the bound larger than the truth."""
    deepest, flow, brackets = 0, 0, 0
    for line in text.splitlines():
        opens = line.count("[") + line.count("{")
        block = 2 * (len(line) - len(line.lstrip(" "))) + line.count("-") + line.count("?")
        deepest = max(deepest, block + line.count(":") + flow + opens)
        brackets = max(brackets, flow + opens)
        flow = max(0, flow + opens - line.count("]") - line.count("}"))
    return deepest + 1, brackets


def _parse(path: Path, text: str) -> Any:
    """The file's data. Its node graph is measured before anything is built from it: an
    alias or merge-key bomb is a few lines of YAML that build (or merge) billions of values."""
    source = text.removeprefix("\ufeff")
    if _c_readable(source):
        try:
            return _read(path, source, pure=False)
        except StackFileError:
            raise  # measured: the same refusal under either reader
        except Exception:
            # The C reader's YAML 1.1 scanner refuses some YAML 1.2 (`{secure: v1:abc}`):
            # the pure reader, which reads YAML 1.2 as Pulumi does, decides.
            pass
    try:
        return _read(path, source, pure=True)
    except StackFileError:
        raise
    except RecursionError:
        raise StackFileError(
            f"{path}: not valid YAML, got nesting too deep to read (flatten the file)"
        ) from None
    except Exception as exc:  # ruamel raises several types; report them all the same way
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        # The class and position only: ruamel's own message can quote the file's content.
        raise StackFileError(
            f"{path}: not valid YAML, got {exc.__class__.__name__}{where} (fix the YAML syntax)"
        ) from None


def _c_readable(source: str) -> bool:
    """Whether the C reader reads `source` safely and as the pure one does: free of the line
    breaks only YAML 1.1 has (NEL, LS, PS), which it reads as breaks inside a value, of
    directives (`%YAML 1.1` makes the pure reader read `yes` as true, not the C one), and not
    too deep for its recursion."""
    if any(c in source for c in "\x85\u2028\u2029") or "\n%" in "\n" + source:
        return False
    return _nesting(source)[0] <= C_READER_MAX_NESTING


def _read(path: Path, source: str, *, pure: bool) -> Any:
    """The data of `source`, read by one reader; raises what that reader raises."""
    yaml = YAML(typ="safe", pure=pure)  # pure=False: the C reader when ruamel.yaml.clib is there
    node = yaml.compose(source)
    if node is None:
        return None
    _Expansion(path).size(node)
    return yaml.constructor.construct_document(node)


def _too_large(path: Path) -> StackFileError:
    return StackFileError(
        f"{path}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values, got an alias "
        "bomb or a file far larger than any stack's (write the values out; stack files do not "
        "need aliases)"
    )


def _too_deep(path: Path) -> StackFileError:
    return StackFileError(
        f"{path}: nested deeper than {MAX_DEPTH} levels, got a value nested deeper (stack config "
        "needs a few levels: flatten it)"
    )


def _cycle(path: Path) -> StackFileError:
    return StackFileError(
        f"{path}: a YAML alias refers to a node that contains it, got a self-referencing alias "
        "(write the value out instead of aliasing it)"
    )


class _Expansion:
    """Measures a YAML node graph as it would expand: every alias and every merge key
    (`<<: *x`) counted as the copy it becomes, memoized per node, so that measuring a bomb
    is as quick as reading it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: dict[int, int] = {}

    def size(self, node: Node, depth: int = 0) -> int:
        if not isinstance(node, MappingNode | SequenceNode):
            return 1
        known = self.sizes.get(id(node))
        if known is not None:
            if known < 0:
                raise _cycle(self.path)
            return known
        if depth > MAX_DEPTH:
            raise _too_deep(self.path)
        self.sizes[id(node)] = -1  # on the current path
        children = (
            [x for pair in node.value for x in pair]
            if isinstance(node, MappingNode)
            else list(node.value)
        )
        total = 1
        for child in children:
            total += self.size(child, depth + 1)
            if total > MAX_EXPANDED_NODES:
                raise _too_large(self.path)
        self.sizes[id(node)] = total
        return total


def _is_secure(value: Any) -> bool:
    """`{secure: <ciphertext>}`: how Pulumi writes a secret value."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)


class _Plain:
    """Turns loaded YAML into JSON-ready data, refusing what would expand without bound.

    Aliases make a graph, not a tree: its expanded size is counted once per node
    (memoized), so an alias bomb or a self-referencing alias is refused before
    anything is expanded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: dict[int, int] = {}

    def size(self, value: Any, depth: int = 0) -> int:
        """Nodes `value` expands to; raises `StackFileError` over the limits or on a cycle."""
        if not isinstance(value, dict | list | set | tuple):
            return 1
        if depth > MAX_DEPTH:
            raise _too_deep(self.path)
        known = self.sizes.get(id(value))
        if known is not None:
            if known < 0:
                raise _cycle(self.path)
            return known
        self.sizes[id(value)] = -1  # on the current path
        items = [x for pair in value.items() for x in pair] if isinstance(value, dict) else value
        total = 1
        for item in items:
            total += self.size(item, depth + 1)
            if total > MAX_EXPANDED_NODES:
                raise _too_large(self.path)
        self.sizes[id(value)] = total
        return total

    def data(self, value: Any) -> Any:
        """JSON-ready data (call `size` first). Dates become their text, as Pulumi reads them."""
        if isinstance(value, dict):
            return {self.key(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, set):
            return sorted((self.data(v) for v in value), key=str)
        if isinstance(value, float) and value != value:  # NaN: not JSON, never a valid setting
            return str(value)
        if value is None or isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return str(value)  # an unquoted date (`compatibilityDate: 2025-11-01`), a timestamp

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if key is None or isinstance(key, bool | int | float):
            return json.dumps(key)
        return str(self.data(key))

    def contains_secure(self, value: Any) -> bool:
        """True when a `{secure: ...}` value sits anywhere inside `value`."""
        if _is_secure(value):
            return True
        if isinstance(value, dict):
            return any(self.contains_secure(v) for v in value.values())
        if isinstance(value, list):
            return any(self.contains_secure(v) for v in value)
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


def load_stack_config(
    stack: str, path: Path, text: str | bytes | None = None, project: Project | None = None
) -> StackConfig:
    """Read a stack file (or its `text`, for example from a base git ref).

    Raises `StackFileError` (one line, never the file's content) for a file that is
    missing, unreadable, not UTF-8, not YAML, not a mapping, too large, or whose
    aliases expand without bound.
    """
    raw: bytes | None = None
    if text is None:
        text, raw = read_stack_text(path)
    elif isinstance(text, bytes):
        raw = text
        text = decode_stack_bytes(path, raw)
    document = parse_document(path, text)  # checks the reading limits before the YAML reader
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(
            f"{path}: the top level must be a mapping with a `config:` key, got "
            f"{type(document).__name__} (start the file with `config:`)"
        )
    plain = _Plain(path)
    raw_config = document.get("config") or {}
    if not isinstance(raw_config, dict):
        raise StackFileError(
            f"{path}: `config` must be a mapping, got {type(raw_config).__name__} "
            "(put one `key: value` per line under `config:`)"
        )
    plain.size(raw_config)
    environments = _environments(path, document)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    opaque: list[str] = []
    for key, value in raw_config.items():
        # Pulumi qualifies bare keys with the project name.
        key = config_key(plain.key(key))
        if plain.contains_secure(value):
            # A secret, or structured config holding one: present, never decrypted here.
            # The program refuses secrets where it needs plain config, without showing them.
            secret_keys.append(key)
            opaque.append(key)
            config[key] = SECRET_STAND_IN
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(plain.data(value))
    loaded = StackConfig(
        stack, path, config, secret_keys, opaque, environments, (), raw, project=project
    )
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
    )


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
