"""Program runs remembered within one command (or a longer span a caller opens).

A command plans one stack file several times: `rotate` plans before and after the edit,
and every plan of a stack that follows another plans that one too; `check --base` and the
bot plan each stack's upstream again for every stack downstream of it. Within
`remembering_runs`, a run whose inputs (program text, config, state, stack outputs,
stores) match an earlier one's is a copy of that run's result (`mockrun.run_program`).
The files a program reads besides its own (worker modules) must not change within: no
command writes them.

Kept apart from `mockrun` so that `console` (every command) opens the span without
importing the Pulumi SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

remembered: dict[str, Any] | None = None
"""Run key -> ProgramRun, while a span is open (None: every run runs)."""


@contextlib.contextmanager
def remembering_runs() -> Iterator[None]:
    """Within: identical program runs run once. A span opened inside another shares it."""
    global remembered
    if remembered is not None:
        yield
        return
    remembered = {}
    try:
        yield
    finally:
        remembered = None
