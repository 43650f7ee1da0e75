"""A stack file's rotation history, read from git: each secret's positions over time.

`git log --first-parent` of `stacks/Pulumi.<stack>.yaml` (each commit that changed it on
the branch, dated by its committer date: the day it landed), every version of the file
read once through `git cat-file --batch`, and the working tree when it differs from
HEAD (dated today). From those snapshots, each secret's `Span`s: how long it stood at
each position. `since` falls back to them when a stack file never recorded it, and
`due` reads how long a stage has not moved from them.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from secrets_store.rotation import Position
from secretsctl.errors import InvalidInput
from secretsctl.offline.project import project_at
from secretsctl.offline.stackfile import (
    StackConfig,
    StackFileError,
    load_stack_config,
    stack_file_name,
    stack_path,
)

WORKING_TREE = "(working tree)"


class HistoryUnavailable(InvalidInput):
    """The git history a date needs cannot be read (not a repository, a shallow clone)."""


@dataclass(frozen=True)
class Snapshot:
    """One version of a stack file: the commit that wrote it and the day it landed."""

    commit: str
    date: datetime.date
    config: StackConfig | None
    """None: the file was deleted or unreadable at that commit."""


@dataclass(frozen=True)
class Span:
    """One secret standing at one position, from `start` until `end` (None: still there)."""

    position: Position
    start: datetime.date
    end: datetime.date | None
    commit: str
    """The commit that moved the secret here."""
    emergency: str | None = None
    """The reason, when an emergency rotation moved the secret here."""

    def days(self, today: datetime.date) -> int:
        return max(0, ((self.end or today) - self.start).days)


def _git(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        raise HistoryUnavailable(
            "git: not found, got no git program (install git: the rotation dates of stack "
            "files without `since:` come from their git history)"
        ) from None


def _repository(root: Path) -> Path:
    """The work tree holding `root`; refuses a folder outside git and a shallow clone."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise HistoryUnavailable(
            f"{root}: not a git repository, got no history for stack files without `since:` "
            "(run inside the repository, or record `since: YYYY-MM-DD` in each secret)"
        )
    shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip()
    if shallow == "true":
        raise HistoryUnavailable(
            f"{root}: a shallow clone, got only part of the stack files' history (run `git "
            "fetch --unshallow`; in GitHub Actions, actions/checkout with fetch-depth: 0)"
        )
    return Path(top.stdout.strip())


def _read_blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """The bytes of each `<commit>:<path>` (None: missing there), in one `git cat-file`;
    the loader decides what it accepts (a version that is not UTF-8 is skipped)."""
    if not specs:
        return []
    result = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch"],
        input=("\n".join(specs) + "\n").encode(),
        capture_output=True,
        check=False,
    )
    data, at = result.stdout, 0
    texts: list[bytes | None] = []
    for _ in specs:
        end = data.index(b"\n", at)
        header = data[at:end].decode(errors="replace").split()
        at = end + 1
        if len(header) < 3 or header[1] != "blob":
            texts.append(None)
            continue
        size = int(header[2])
        texts.append(data[at : at + size])
        at += size + 1
    return texts


def stack_history(
    root: Path, stack: str, today: datetime.date, *, working_tree: bool = True
) -> list[Snapshot]:
    """Every version of a stack file on HEAD's first-parent line, oldest first.

    With `working_tree`, an uncommitted change (or a file git does not know yet) is the
    last snapshot, dated `today`. Raises `HistoryUnavailable` outside a git repository
    and in a shallow clone.
    """
    top = _repository(root)
    path = stack_path(root, stack)
    try:
        relative = path.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        relative = project_at(root).stack_label(stack_file_name(stack))
    log = _git(
        top, "log", "--first-parent", "--format=%H %cs", "HEAD", "--", relative
    )  # no HEAD yet (a new repository): no history
    rows = [line.split() for line in log.stdout.splitlines() if line.strip()]
    rows = [r for r in rows if len(r) == 2][::-1]
    texts = _read_blobs(top, [f"{sha}:{relative}" for sha, _ in rows])
    snapshots = []
    for (sha, day), text in zip(rows, texts, strict=True):
        snapshots.append(Snapshot(sha, datetime.date.fromisoformat(day), _load(stack, path, text)))
    if working_tree and path.is_file():
        current = _load(stack, path, None)
        committed = texts[-1] if texts else None
        if current is not None and (committed is None or current.raw != committed):
            snapshots.append(Snapshot(WORKING_TREE, today, current))
    return snapshots


def _load(stack: str, path: Path, raw: bytes | None) -> StackConfig | None:
    try:
        if raw is None:
            return load_stack_config(stack, path)
        return load_stack_config(stack, path, text=raw)
    except StackFileError:
        return None


def spans(snapshots: Iterable[Snapshot], secret: str) -> list[Span]:
    """Where `secret` stood over the history, one span per position it held.

    A snapshot without the secret (removed, or the file unreadable) ends the span before it.
    """
    out: list[Span] = []
    for snapshot in snapshots:
        position = snapshot.config.positions.get(secret) if snapshot.config else None
        entry = snapshot.config.secrets.get(secret) if snapshot.config else None
        emergency = entry.emergency.reason if entry and entry.emergency else None
        if out and out[-1].end is None:
            last = out[-1]
            if position == last.position:
                continue
            out[-1] = Span(last.position, last.start, snapshot.date, last.commit, last.emergency)
        if position is not None:
            out.append(Span(position, snapshot.date, None, snapshot.commit, emergency))
    return out


def steady_span(history: list[Span], position: Position) -> Span | None:
    """The span in which the current version of a secret at `position` became steady: its
    latest steady span at that version (a secret declared mid-rotation: the first span at
    that version). None without history."""
    at_version = [s for s in history if s.position.current == position.current]
    steady = [s for s in at_version if s.position.stage == "steady"]
    return steady[-1] if steady else (at_version[0] if at_version else None)


def stage_since(history: list[Span], position: Position) -> datetime.date | None:
    """The day the secret reached `position` (the start of its last span there)."""
    if history and history[-1].position == position and history[-1].end is None:
        return history[-1].start
    return None


class Histories:
    """Stack histories read once each, on demand."""

    def __init__(self, root: Path, today: datetime.date) -> None:
        self.root, self.today = root, today
        self._read: dict[str, list[Snapshot]] = {}

    def snapshots(self, stack: str) -> list[Snapshot]:
        if stack not in self._read:
            self._read[stack] = stack_history(self.root, stack, self.today)
        return self._read[stack]

    def spans(self, stack: str, secret: str) -> list[Span]:
        return spans(self.snapshots(stack), secret)

    def all_spans(self, stack: str) -> Mapping[str, list[Span]]:
        names: dict[str, None] = {}
        for snapshot in self.snapshots(stack):
            for name in snapshot.config.positions if snapshot.config else ():
                names[name] = None
        return {name: self.spans(stack, name) for name in names}
