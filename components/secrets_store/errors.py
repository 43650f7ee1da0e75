"""The one error type of the project: a config refusal that names its keys.

Every message follows `<config key path>: <what is wrong>, got <value or type> (<how to fix>)`
and never contains a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a stack's config, at one key path."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class SpecError(ValueError):
    """Invalid stack config: carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def keys(self) -> list[str]:
        """The config key paths at fault, in report order."""
        return [p.key for p in self.problems]
