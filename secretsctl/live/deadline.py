"""The time a whole live command may take (`--deadline`, default 60 s)."""

from __future__ import annotations

import time
from dataclasses import dataclass

DEFAULT_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class Deadline:
    """The time a whole live command may take; every request is bounded by what remains."""

    seconds: float
    ends: float
    """`time.monotonic()` at which the command gives up."""

    @classmethod
    def starting_now(cls, seconds: float = DEFAULT_DEADLINE_SECONDS) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.ends - time.monotonic()
