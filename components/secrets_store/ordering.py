"""Promotion order between stacks, as pure rules (no Pulumi, no I/O).

One rule, `promotion_problems`, applied everywhere: by `secrets_store.promotion` at
`pulumi up` (against the `promotion.after` stack's deployed `rotation` output), by
`secretsctl check`, `rotate`, `promote` and the rotation bot (against that stack's file).
For each secret both stacks declare:

1. never ahead: this stack's position is not further along than the other stack's;
2. soaked (`promotion.soak` > 0): the other stack reached this position (or one past it)
   at least `soak` before this stack did. Both moments are the `reached` records that
   `secretsctl rotate`/`promote` write; a position this stack holds without a record
   (written before records existed) is not held back, and one the other stack holds
   without a record cannot be shown soaked, so it is refused;
3. an emergency (`emergency: {reason, at}` next to this stack's position) is exempt from
   both: it moves every stack at once (`check --base` requires the reason).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from secrets_store.errors import Problem
from secrets_store.policy import moment_of
from secrets_store.rotation import Position, is_ahead, position_from, target_version
from secrets_store.spec import NAMESPACE, follows_itself

# What the local backend and Pulumi's mock runtime report as the organization.
DEFAULT_ORGANIZATION = "organization"
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""A recorded moment may be this far in the future (clocks of CI runners differ)."""


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


@dataclass(frozen=True)
class Standing:
    """Where a secret stands in one stack, with what the rule reads besides the position."""

    position: Position
    reached: Mapping[str, datetime.datetime] = field(default_factory=dict)
    """Stage -> when this rotation reached it (the rotation under way, or the one that
    ended at `current`)."""
    emergency: bool = False
    """The position was reached by an emergency rotation."""

    @property
    def since(self) -> datetime.datetime | None:
        """When the secret reached its position (None: not recorded)."""
        return self.reached.get(self.position.stage)


def reached_of(raw: Any) -> dict[str, datetime.datetime]:
    """A `reached` record as moments (entries that are not moments left out)."""
    out = {}
    for stage, value in (raw if isinstance(raw, Mapping) else {}).items():
        moment = moment_of(value)
        if moment is not None:
            out[str(stage)] = moment
    return out


def standing_from(entry: Mapping[str, Any]) -> Standing | None:
    """A stack file's position entry or a `rotation` output entry as a Standing; None when
    it is not a valid position."""
    position = position_from(entry)
    if position is None:
        return None
    emergency = entry.get("emergency")
    return Standing(
        position,
        reached_of(entry.get("reached")),
        isinstance(emergency, Mapping) and bool(emergency.get("reason")),
    )


def first_reached(theirs: Standing, mine: Position) -> datetime.datetime | None:
    """When the other stack first held `mine` or a later position, as far as its record
    tells: its moment for that stage when its record is of the same rotation, else the
    earliest moment of its later rotation (it was past `mine` by then). None: no record."""
    if target_version(theirs.position) == target_version(mine):
        return theirs.reached.get(mine.stage)
    return min(theirs.reached.values(), default=None)


def promotion_problems(
    stack: str,
    after: str,
    mine: Mapping[str, Standing],
    theirs: Mapping[str, Mapping[str, Any]] | None,
    *,
    soak: datetime.timedelta = datetime.timedelta(0),
    now: datetime.datetime | None = None,
    key: Callable[[str], str] | None = None,
) -> list[Problem]:
    """Every secret of `stack` that may not stand where it does, given `after`'s standing.

    `theirs` is the other stack's `rotation` output, or its file's equivalent (None: it has
    none, so it was never deployed by this program and everything here is ahead of it).
    `now` bounds the recorded moments (default: the clock). `key`: the config key a secret's
    position is written under (default `secrets-store:rotation.<secret>`).
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
    now = now or datetime.datetime.now(datetime.UTC)
    problems = []
    for name, standing in sorted(mine.items()):
        entry = theirs.get(name)
        other = standing_from(entry) if isinstance(entry, Mapping) else None
        if other is None or standing.emergency:
            continue
        position = standing.position
        where = key(name) if key is not None else f"{NAMESPACE}:rotation.{name}"
        if is_ahead(position, other.position):
            problems.append(
                Problem(
                    where,
                    f"is ahead of stack {after!r}, got {position.describe()} here and "
                    f"{other.position.describe()} in {after} ({fix})",
                )
            )
            continue
        mine_at = standing.since
        if not soak or mine_at is None:
            continue
        if mine_at > now + CLOCK_SKEW:
            problems.append(
                Problem(
                    f"{where}.reached",
                    f"records a moment in the future, got {position.stage} at "
                    f"{mine_at:%Y-%m-%dT%H:%M:%SZ} (let `secretsctl` write it)",
                )
            )
            continue
        their_at = first_reached(other, position)
        if their_at is None:
            problems.append(
                Problem(
                    where,
                    f"cannot be shown soaked in {after} for {_duration(soak)}, got no record of "
                    f"when {after} reached {position.describe()} (move {after} with `secretsctl "
                    f"rotate`/`promote`, which record it, or add reached.{position.stage} there)",
                )
            )
        elif their_at + soak > mine_at:
            ready = their_at + soak
            problems.append(
                Problem(
                    where,
                    f"took {position.describe()} before {after} held it for promotion.soak "
                    f"{_duration(soak)}, got {after} there since {their_at:%Y-%m-%dT%H:%M:%SZ} "
                    f"and {stack} since {mine_at:%Y-%m-%dT%H:%M:%SZ} (move {stack} at "
                    f"{ready:%Y-%m-%dT%H:%M:%SZ} or later)",
                )
            )
    return problems


def ahead_problems(
    stack: str,
    after: str,
    mine: Mapping[str, Position],
    theirs: Mapping[str, Mapping[str, Any]] | None,
) -> list[Problem]:
    """The never-ahead rule alone, for plain positions (no records, no soak)."""
    standings = {name: Standing(position) for name, position in mine.items()}
    return promotion_problems(stack, after, standings, theirs)


def _duration(value: datetime.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
