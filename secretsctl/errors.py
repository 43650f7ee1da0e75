"""The base of every secretsctl refusal that means "invalid input" (exit code 2).

Each layer raises its own subclass (a stack file that cannot be read, a git ref
that does not exist, a refused rotation, ...); `secretsctl.console.exits` maps
them all, and `SpecError`, to exit 2 with one line per problem. Messages never
contain a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable


class InvalidInput(ValueError):
    """Input a command refuses: `lines` say why and what to do instead, one per problem."""

    def __init__(self, lines: str | Iterable[str]) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))
