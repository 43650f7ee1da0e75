"""The one notice line of a command run (a legacy-form stack file points at `migrate`).

Readers record it (`note_once`) wherever they run; the command's wrapper
(`secretsctl.console.exits`) scopes a run with `collected` and prints what it holds.
Here, below both, so neither imports the other for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_notices: list[str | None] | None = None
"""While a command runs: [] until a notice is recorded, then [it]; [None] once settled
(none to print)."""


@contextlib.contextmanager
def collected() -> Iterator[list[str | None]]:
    """Within (one command run): the notice recorded, if any, in the list yielded."""
    global _notices
    outer, _notices = _notices, []
    try:
        yield _notices
    finally:
        _notices = outer


def note_once(line: str) -> None:
    """Record `line` unless this run already holds a notice (or runs outside a command)."""
    if _notices is not None and not _notices:
        _notices.append(line)


def silence() -> None:
    """This command run prints no notice (`migrate` is what the legacy one points at)."""
    if _notices is not None:
        _notices[:] = [None]
