"""Program runs remembered by what they read, within one command (or a longer span a caller opens).

A command plans one stack file several times: `rotate` plans before and after the edit,
every plan of a stack that follows another plans that one too, and `check --base` plans
each stack of the base (a `git archive` in a temporary folder) beside the same stack of
the head. Within `remembering_runs`, a run is a copy of an earlier run's result when:

- its inputs match (`mockrun` gives the key: program text, config, state, stack outputs,
  stores, the environment; never a path, so a copy of a project shares its runs), and
- every file the earlier run read, looked at or listed is as it was, found where it was
  relative to the same roots (the program's folder, the working directory, the project).

What a run read is recorded while it runs (`watching`): files opened (Python's `open` audit
event, `os.open` included), folders listed (`os.listdir`, `os.scandir`), paths looked at
(`os.stat` and `os.lstat`, which `Path.exists`, `is_file` and `os.path` use), and the
project's own modules the program imported (`note_read`). A run that wrote a file, read one
larger than `MAX_WATCHED_BYTES` or whose result names one of its roots' absolute paths is
never shared with another folder (the last only with its own).

Within a command's own span (`console`) a run that generated random values is copied with
the same values, as one `pulumi up` generates them once. A span opened with `redrawing=True`
(a test session's, shared across tests) gives such a run fresh values each time it is
recalled: `mockrun` draws them and puts them where the run had its own
(`note_generated`), so a recalled run is what a fresh run would be.

Kept apart from `mockrun` so that `console` (every command) opens the span without
importing the Pulumi SDK.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import stat
import sys
import sysconfig
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_WATCHED_BYTES = 64 * 1024 * 1024
"""A run that reads a larger file is not remembered (hashing it would cost more than it saves)."""

IGNORED_ENVIRONMENT: set[str] = set()
"""Variables left out of a run's key: set by a test runner per test, never read by a program
(tests/conftest.py adds PYTEST_CURRENT_TEST)."""


@dataclass(frozen=True)
class Remembered:
    """One run's result and what it found when it ran."""

    result: Any
    seen: tuple[tuple[str, str, str, str], ...]
    """(root name, or "" for an absolute path; the path; how it was seen; what was found).
    A path under several roots is recorded under each: a later run whose roots are apart
    (the program in this checkout, the project in a test's folder) may read either."""
    bound_to: tuple[str, ...] | None
    """The roots' absolute paths when the result names one of them: shared only with them."""
    generated: tuple[Any, ...]
    """What the run generated (`note_generated`), in order."""


@dataclass
class _Span:
    runs: dict[str, list[Remembered]] = field(default_factory=dict)
    redrawing: bool = False


_spans: list[_Span] = []


@contextlib.contextmanager
def remembering_runs(*, redrawing: bool = False) -> Iterator[None]:
    """Within: a run whose key and reads match an earlier one's runs once. Spans nest: a run
    is kept in every open span and found in the innermost one that has it."""
    _spans.append(_Span(redrawing=redrawing))
    try:
        yield
    finally:
        _spans.pop()


def remembering() -> bool:
    """A span is open: `recall` and `keep` have somewhere to look and keep."""
    return bool(_spans)


Redraw = Callable[[Any, tuple[Any, ...]], tuple[Any, tuple[Any, ...]]]
"""(result, what its run generated) -> the result with fresh values, and those values."""


def recall(key: str, roots: Mapping[str, str], redraw: Redraw) -> Any | None:
    """The result of an earlier run with this key whose reads are unchanged under `roots`
    (name -> absolute folder), or None. Found in a `redrawing` span, a run that generated
    values is given fresh ones by `redraw`, and the spans within that one keep it so."""
    bound = tuple(roots.values())
    for depth in range(len(_spans) - 1, -1, -1):
        span = _spans[depth]
        for entry in span.runs.get(key, ()):
            if entry.bound_to is not None and entry.bound_to != bound:
                continue
            if not all(
                _look(_resolve(root, path, roots), how) == found
                for root, path, how, found in entry.seen
            ):
                continue
            if not (span.redrawing and entry.generated):
                return entry.result
            result, generated = redraw(entry.result, entry.generated)
            fresh = dataclasses.replace(entry, result=result, generated=generated)
            for inner in _spans[depth + 1 :]:
                inner.runs.setdefault(key, []).append(fresh)
            return result
    return None


# ---- recording what a run reads -------------------------------------------------------


@dataclass
class ReadLog:
    """What one run opened, listed and looked at, while `watching`."""

    opened: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    looked: set[str] = field(default_factory=set)
    """Paths `os.stat` was asked about (links followed)."""
    looked_at_links: set[str] = field(default_factory=set)
    """Paths `os.lstat` was asked about (`os.path.realpath` asks for each part of a path)."""
    wrote: bool = False
    generated: list[Any] = field(default_factory=list)


_log: ReadLog | None = None
_hook_installed = False
_LIBRARY = tuple(
    {
        os.path.join(os.path.realpath(p), "")
        for p in (
            sysconfig.get_paths()["stdlib"],
            sysconfig.get_paths()["platstdlib"],
            *([sys.prefix] if sys.prefix != sys.base_prefix else []),  # a venv's own folder
        )
    }
)
_PACKAGES = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")


def _library(path: str) -> bool:
    """The interpreter's and installed packages' own files: fixed for the process. (Not
    all of `sys.base_prefix`: a project may live under /usr.)"""
    return path.startswith(_LIBRARY) or any(part in path for part in _PACKAGES)


def _normal(path: str) -> bool:
    return "/." not in path and "//" not in path and not path.endswith(os.sep)


_IMPORTLIB = os.path.join(os.path.dirname(os.__file__), "importlib", "")


def _importing(filename: str) -> bool:
    """Code of the import system or `importlib.metadata` (installed versions, looked up on
    sys.path): what it lists and opens is the interpreter's business, fixed for a process."""
    return filename.startswith(("<frozen importlib", _IMPORTLIB))


def _absolute(path: Any) -> str | None:
    if isinstance(path, str) and path.startswith(os.sep) and _normal(path):
        return path  # the common case, without abspath's normalizing
    if isinstance(path, int) or path is None:
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    return os.path.abspath(text)


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    log = _log
    if log is None or event not in ("open", "os.listdir", "os.scandir"):
        return
    if _importing(sys._getframe(1).f_code.co_filename):
        return  # finding modules and packages: the project's own are noted (note_read)
    if event == "open":
        path = _absolute(args[0])
        if path is None:
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            log.wrote = True
        elif not _library(path):
            log.opened.add(path)
    elif event in ("os.listdir", "os.scandir"):
        path = _absolute(args[0] if args and args[0] is not None else ".")
        if path is not None and not _library(path):
            log.listed.add(path)


def _looking(real: Callable[..., Any], links: bool) -> Callable[..., Any]:
    def look(path: Any, *args: Any, **kwargs: Any) -> Any:
        log = _log
        if log is not None:
            absolute = _absolute(path)
            if absolute is not None and not _library(absolute):
                unfollowed = links or kwargs.get("follow_symlinks") is False
                (log.looked_at_links if unfollowed else log.looked).add(absolute)
        return real(path, *args, **kwargs)

    return look


@contextlib.contextmanager
def watching() -> Iterator[ReadLog]:
    """Record what the code within reads (one run at a time: the log is the process's)."""
    global _log, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_on_audit)  # for good: a hook cannot be removed, so it waits on `_log`
        _hook_installed = True
    log = ReadLog()
    saved = os.stat, os.lstat
    os.stat, os.lstat = _looking(os.stat, False), _looking(os.lstat, True)  # type: ignore[assignment]
    _log = log
    try:
        yield log
    finally:
        _log = None
        os.stat, os.lstat = saved  # type: ignore[misc]


def note_read(path: str) -> None:
    """A file the running program depends on that no audit event shows (an imported module
    of the project's own, loaded from cached bytecode)."""
    if _log is not None:
        _log.opened.add(os.path.abspath(path))


def note_generated(value: Any) -> None:
    """The running program generated `value` (random): a second run would draw another."""
    if _log is not None:
        _log.generated.append(value)


def keep(key: str, result: Any, log: ReadLog, roots: Mapping[str, str], shown: str) -> None:
    """Remember a finished run: `shown` is the result's text, to see whether it names a root."""
    if log.wrote:
        return
    seen: list[tuple[str, str, str, str]] = []
    for paths, how in (
        (log.opened, "read"),
        (log.listed, "list"),
        (log.looked, "look"),
        (log.looked_at_links, "lstat"),
    ):
        for path in sorted(paths):
            found = _look(path, how)
            if found is None:
                return  # too large to watch
            seen.extend((root, relative, how, found) for root, relative in _relative(path, roots))
    names_root = any(
        folder and (folder in shown or os.path.realpath(folder) in shown)
        for folder in roots.values()
    )
    entry = Remembered(
        result=result,
        seen=tuple(seen),
        bound_to=tuple(roots.values()) if names_root else None,
        generated=tuple(log.generated),
    )
    for span in _spans:
        span.runs.setdefault(key, []).append(entry)


def _relative(path: str, roots: Mapping[str, str]) -> list[tuple[str, str]]:
    """The path relative to each root holding it, else absolute (root "")."""
    found = []
    for name, folder in roots.items():
        if path == folder:
            found.append((name, "."))
        elif folder and path.startswith(folder) and path[len(folder)] == os.sep:
            found.append((name, path[len(folder) + 1 :]))
    return found or [("", path)]


def _resolve(root: str, path: str, roots: Mapping[str, str]) -> str:
    if not root:
        return path
    folder = roots.get(root)
    return os.path.normpath(os.path.join(folder, path)) if folder else ""


def _look(path: str, how: str) -> str | None:
    """What is at `path` now, as `how` saw it: a file's digest, a folder's names, a kind
    (a link itself, with its target, for `lstat`)."""
    if not path:
        return "gone"
    try:
        info = os.lstat(path) if how == "lstat" else os.stat(path)
    except OSError:
        return "missing"
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        try:
            return "link:" + os.readlink(path)
        except OSError:
            return "link"
    kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
    if how == "list" and kind == "dir":
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return "unlistable"
        listing = "\0".join(names).encode(errors="surrogateescape")
        return "dir:" + hashlib.sha256(listing).hexdigest()
    if how == "read" and kind == "file":
        if info.st_size > MAX_WATCHED_BYTES:
            return None
        try:
            with open(path, "rb") as handle:
                return "file:" + hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            return "unreadable"
    if how in ("look", "lstat") and kind == "file":
        return f"file:{info.st_size}"
    return kind


@contextlib.contextmanager
def forgotten() -> Iterator[None]:
    """Within: every run runs, as if no span were open (spans opened within work as ever).
    For code that changes what a run does without changing a file (a test's patch)."""
    saved = _spans[:]
    _spans.clear()
    try:
        yield
    finally:
        _spans[:] = saved
