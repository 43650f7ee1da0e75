"""Reading the project's YAML files (stack files, `secrets-store.yaml`) with hard limits.

Shared by the Pulumi program (`secrets_store.config`, which runs under `pulumi up` and so
never imports the CLI) and `secretsctl`: both read a hostile file the same way, refused in
one line (size, lines, nesting, alias bombs, non-UTF-8) before or while parsing, never
quoting its content.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from secrets_store.spec import shown

STACK_FILE = "stack file"


class YamlFileError(ValueError):
    """A file that cannot be read: missing, unreadable, not UTF-8, not YAML, or beyond the
    limits below. The message is one line naming the file and the fix."""


# Limits of what a stack or topology file may be: far above any real one (a few hundred
# lines), low enough that a hostile file is refused instead of parsed or expanded for minutes.
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


def _too_big(path: Path, size: int, what: str) -> YamlFileError:
    return YamlFileError(
        f"{path}: too large for a {what}, got {size:,} bytes (at most {MAX_FILE_BYTES:,}; "
        "keep large values out of stack config, for example in Pulumi ESC)"
    )


def decode_bytes(path: Path, raw: bytes, what: str = STACK_FILE) -> str:
    """A file's bytes as text: UTF-8 (a BOM is kept as U+FEFF), within the size limits."""
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(path, len(raw), what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlFileError(
            f"{path}: not UTF-8 text, got an invalid byte on line {line} (byte offset "
            f"{exc.start}) (save the file as UTF-8, as `pulumi config` writes it)"
        ) from None
    return within_limits(path, text, what)


def within_limits(path: Path, text: str, what: str = STACK_FILE) -> str:
    """`text`, if reading it as YAML takes seconds at most; else `YamlFileError`."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise _too_big(path, len(text.encode("utf-8", "replace")), what)
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        raise YamlFileError(
            f"{path}: too long for a {what}, got {lines:,} lines (at most {MAX_LINES:,})"
        )
    indicators = sum(text.count(c) for c in ",:[]{}\n")
    if indicators > MAX_INDICATORS:
        raise YamlFileError(
            f"{path}: too dense for a {what}, got {indicators:,} of the YAML indicators "
            f", : [ ] {{ }} and line breaks (at most {MAX_INDICATORS:,}; split it or remove what "
            "the stack does not use)"
        )
    opened = _nesting(text)[1]
    if opened > MAX_OPEN_BRACKETS:
        raise YamlFileError(
            f"{path}: too deeply nested for a {what}, got {opened:,} [ and {{ open at once, "
            f"counting those in strings and comments (at most {MAX_OPEN_BRACKETS:,}; stack config "
            "needs a few levels: flatten it)"
        )
    return text


def read_text(
    path: Path, what: str = STACK_FILE, missing: str = "create it, or pass --config-file"
) -> tuple[str, bytes]:
    """(text, exact bytes) of a file; raises `YamlFileError` naming the fix."""
    try:
        if not path.is_file():
            raise YamlFileError(f"{path}: no such {what} ({missing})")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(path, size, what)
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # a file that grew since: refused below
    except OSError as exc:
        raise YamlFileError(
            f"{shown(str(path))}: cannot read the {what}, got {exc.__class__.__name__}"
            f"{f' ({exc.strerror})' if exc.strerror else ''} (check the path and its permissions)"
        ) from None
    return decode_bytes(path, raw, what), raw


@dataclass(frozen=True)
class YamlFile:
    """One file read from bytes to data: what `load_yaml` gives."""

    text: str
    """The text, a BOM kept as U+FEFF (an edit starts from it)."""
    raw: bytes = field(repr=False)
    """The exact bytes (the text's UTF-8 where the caller gave text)."""
    data: Any = field(repr=False)
    """The parsed data: a copy the caller may change."""


def load_yaml(
    path: Path,
    given: str | bytes | None = None,
    what: str = STACK_FILE,
    missing: str = "create it, or pass --config-file",
) -> YamlFile:
    """The file at `path` (or its `given` text or bytes, for example from a git ref), read,
    decoded and parsed within the limits above, in one call; raises `YamlFileError`."""
    if given is None:
        text, raw = read_text(path, what, missing)
    elif isinstance(given, bytes):
        text, raw = decode_bytes(path, given, what), given
    else:
        text, raw = given, given.encode("utf-8", "replace")
    return YamlFile(text, raw, parse_yaml(path, text, what))


PARSE_CACHE_SIZE = 16
_parsed: dict[str, Any] = {}
"""Text -> its data, for the texts read last: one command reads the same stack file (and
the base ref's, often the same text) several times, and the YAML reader is pure Python."""


def parse_yaml(path: Path, text: str, what: str = STACK_FILE) -> Any:
    """The data of a file's `text`, as a copy the caller may change; raises
    `YamlFileError` naming `path` (beyond the reading limits, not YAML, an alias bomb)."""
    if text not in _parsed:
        document = _parse(path, within_limits(path, text, what))  # refusals are never cached
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
        except YamlFileError:
            raise  # measured: the same refusal under either reader
        except Exception:
            # The C reader's YAML 1.1 scanner refuses some YAML 1.2 (`{secure: v1:abc}`):
            # the pure reader, which reads YAML 1.2 as Pulumi does, decides.
            pass
    try:
        return _read(path, source, pure=True)
    except YamlFileError:
        raise
    except RecursionError:
        raise YamlFileError(
            f"{path}: not valid YAML, got nesting too deep to read (flatten the file)"
        ) from None
    except Exception as exc:  # ruamel raises several types; report them all the same way
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        # The class and position only: ruamel's own message can quote the file's content.
        raise YamlFileError(
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


def too_large(path: Path) -> YamlFileError:
    return YamlFileError(
        f"{path}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values, got an alias "
        "bomb or a file far larger than any stack's (write the values out; stack files do not "
        "need aliases)"
    )


def too_deep(path: Path) -> YamlFileError:
    return YamlFileError(
        f"{path}: nested deeper than {MAX_DEPTH} levels, got a value nested deeper (stack config "
        "needs a few levels: flatten it)"
    )


def alias_cycle(path: Path) -> YamlFileError:
    return YamlFileError(
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
                raise alias_cycle(self.path)
            return known
        if depth > MAX_DEPTH:
            raise too_deep(self.path)
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
                raise too_large(self.path)
        self.sizes[id(node)] = total
        return total
