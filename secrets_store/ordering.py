"""Promotion order between stacks, as pure rules (no Pulumi, no I/O).

A stack may never be ahead of its `promotion.after` stack: `ahead_problems` compares
this stack's rotation positions with the other stack's `rotation` output (or its
file, offline). `secrets_store.promotion` applies it at `pulumi up` through a
StackReference; `secretsctl` applies it to stack files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from secrets_store.errors import Problem
from secrets_store.rotation import Position, is_ahead, position_from
from secrets_store.spec import NAMESPACE, follows_itself

# What the local backend and Pulumi's mock runtime report as the organization.
DEFAULT_ORGANIZATION = "organization"


def reference_name(
    after: str, project: str, organization: str | None = None, configured: str | None = None
) -> str:
    """The StackReference name of the `promotion.after` stack."""
    return configured or f"{organization or DEFAULT_ORGANIZATION}/{project}/{after}"


def promotion_cycle(stack: str, after_of: Callable[[str], str | None]) -> tuple[str, ...] | None:
    """The cycle the `promotion.after` chain from `stack` runs into, its first stack repeated
    at the end (`("dev", "prod", "staging", "dev")`, `("dev", "dev")`); None when the chain
    ends. `after_of` gives a stack's `promotion.after` (None: it follows none, or no file).

    Every tool that follows the chain (the offline plan's StackReference stand-in, check,
    rotate) asks this first: a cycle has no first stack to compare with, and following it
    recursed until a stack found itself with no `rotation` output.
    """
    chain = [stack]
    while (after := after_of(chain[-1])) is not None:
        if after in chain:
            return (*chain[chain.index(after) :], after)
        chain.append(after)
    return None


def cycle_problem(stack: str, cycle: tuple[str, ...]) -> Problem:
    """The refusal of `stack`'s `promotion.after` when its chain runs into `cycle`."""
    if cycle == (stack, stack):
        return Problem(f"{NAMESPACE}:promotion.after", follows_itself(stack))
    reached = "" if stack in cycle else f", reached from {stack}"
    return Problem(
        f"{NAMESPACE}:promotion.after",
        f"stacks form a cycle{reached}, got {' -> '.join(cycle)} (the stack a change reaches "
        "first follows no stack: remove promotion.after from its file, and let each other "
        "stack follow the one before it)",
    )


def ahead_problems(
    stack: str,
    after: str,
    mine: Mapping[str, Position],
    theirs: Mapping[str, Mapping[str, Any]] | None,
) -> list[Problem]:
    """Every secret of `stack` that is ahead of the same secret in `after`.

    `theirs` is the other stack's `rotation` output (None: it has none, so it was
    never deployed by this program and everything here is ahead of it).
    """
    fix = f"deploy {after} first, or run `secretsctl promote --from {after} --to {stack}`"
    if theirs is None:
        return [
            Problem(
                f"{NAMESPACE}:promotion.after",
                f"stack {after!r} has no `rotation` output, got nothing to compare "
                f"(deploy {after} with this program first, or fix promotion.stackReference)",
            )
        ]
    problems = []
    for name, position in sorted(mine.items()):
        entry = theirs.get(name)
        other = position_from(entry) if isinstance(entry, Mapping) else None
        if other is not None and is_ahead(position, other):
            problems.append(
                Problem(
                    f"{NAMESPACE}:secrets.{name}",
                    f"is ahead of stack {after!r}, got {position.describe()} here and "
                    f"{other.describe()} in {after} ({fix})",
                )
            )
    return problems
