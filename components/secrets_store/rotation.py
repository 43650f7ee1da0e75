"""The rotation state machine: pure functions, no Pulumi, no I/O.

For a secret S with current version a and next version b, the README's rotation table:

| stage      | versions that exist | primary binding B | fallback binding F |
|------------|---------------------|-------------------|--------------------|
| `steady`   | a                   | a                 | (absent)           |
| `fallback` | a, b                | a                 | b                  |
| `swapped`  | a, b                | b                 | a                  |
| finish     | b (steady at b)     | b                 | (absent)           |

`Position` is one row of that table; `Position.advance()` is one deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Stage = Literal["steady", "fallback", "swapped"]
STAGES: tuple[Stage, ...] = ("steady", "fallback", "swapped")


@dataclass(frozen=True)
class Position:
    """Where one secret is in its rotation: current version, next version, stage."""

    current: int
    stage: Stage = "steady"
    next: int | None = None

    def __post_init__(self) -> None:
        # The spec reports these to users with key paths; here they are invariants.
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}")
        if (self.stage == "steady") != (self.next is None):
            raise ValueError("`next` is set exactly while a rotation is under way")
        if self.next is not None and self.next <= self.current:
            raise ValueError("`next` must be greater than `current`")

    # The table, row by row.
    @property
    def live_versions(self) -> tuple[int, ...]:
        """Versions that exist in Cloudflare at this position, oldest first."""
        return (self.current,) if self.next is None else (self.current, self.next)

    @property
    def primary_version(self) -> int:
        """The version every primary binding B points at."""
        return self.next if self.stage == "swapped" and self.next else self.current

    @property
    def fallback_version(self) -> int | None:
        """The version every fallback binding F points at, or None: F is not bound."""
        if self.stage == "fallback":
            return self.next
        if self.stage == "swapped":
            return self.current
        return None

    @property
    def ordinal(self) -> tuple[int, int]:
        """Sort key along a rotation's history: later positions compare greater."""
        return (self.current, STAGES.index(self.stage))

    def advance(self, next_version: int | None = None) -> Position:
        """The position one deploy later: steady → fallback → swapped → steady at next.

        `next_version` picks the new version when a rotation starts (default current + 1).
        """
        if self.stage == "steady":
            new = next_version if next_version is not None else self.current + 1
            return Position(self.current, "fallback", new)
        if self.stage == "fallback":
            return Position(self.current, "swapped", self.next)
        assert self.next is not None
        return Position(self.next)

    def describe(self) -> str:
        """Human form: `v1 steady`, `v1 → v2 fallback` (the one arrow of every output)."""
        if self.next is None:
            return f"v{self.current} steady"
        return f"v{self.current} → v{self.next} {self.stage}"


def position_from(entry: Mapping[str, Any]) -> Position | None:
    """A stack file's secret entry or a `rotation` output entry ({current, next, stage}) as a
    Position; None when it is not a valid position."""
    try:
        return Position(
            int(entry.get("current") or 1),
            entry.get("stage") or "steady",
            int(entry["next"]) if entry.get("next") is not None else None,
        )
    except (TypeError, ValueError):
        return None


def steps_between(before: Position, after: Position, limit: int = 12) -> int | None:
    """How many single-stage deploys lead from `before` to `after`.

    0 when equal; None when `after` is not reachable forwards (it is behind, or
    the version history does not connect).
    """
    position = before
    for steps in range(limit + 1):
        if position == after:
            return steps
        target = None
        if position.stage == "steady":
            # Rotate toward `after`'s current version first, then toward its next.
            target = after.current if position.current < after.current else after.next
            if target is None or target <= position.current:
                return None
        position = position.advance(target)
    return None


def step_toward(position: Position, target: Position) -> Position | None:
    """One stage from `position` toward `target`; None when already there or not reachable."""
    if not steps_between(position, target):
        return None
    if position.stage != "steady":
        return position.advance()
    version = target.current if position.current < target.current else target.next
    return position.advance(version)


def is_ahead(mine: Position, theirs: Position) -> bool:
    """True when `mine` is further along than `theirs` (or rotates towards another version)."""
    if mine.ordinal != theirs.ordinal:
        return mine.ordinal > theirs.ordinal
    return mine.next != theirs.next


def target_version(position: Position) -> int:
    """The version a position's rotation leads to: `next` mid-rotation, else `current`."""
    return position.next if position.next is not None else position.current


EMERGENCY_STAGE: dict[str, Stage] = {
    "api_key": "steady",
    "signing_key": "steady",
    "encryption_key": "swapped",
    "json": "steady",
    "opaque": "steady",
}
"""Where an emergency takes each kind in one deploy (README, "A leaked key"):
- api_key: steady at the new version. Workers call upstream with the new key only; the
  leaked key is revoked upstream once every stack has deployed. Nothing fails if the
  vendor issued the new key before the deploy.
- signing_key: steady at the new version. Nothing signs or verifies with the leaked key
  any more; tokens and signatures it made fail at once (the promised cost).
- encryption_key: swapped. New values are encrypted with the new key at once; the leaked
  key only decrypts what it wrote, until those values are re-encrypted and the rotation
  finishes (`--reencrypted`). Deleting it sooner would lose data: never done.
- json, opaque: steady at the new version (readers read the primary binding only).
"""


def emergency_position(
    position: Position, kind: str, *, reencrypted: bool = False, next_version: int | None = None
) -> Position:
    """Where an emergency rotation takes a secret at `position` in one deploy.

    The leaked key is taken to be the one in use before any rotation under way: a rotation
    under way completes to its `next`, a steady secret rotates to `next_version` (default
    current + 1). An encryption_key stops at swapped until `reencrypted` is confirmed; from
    swapped with it, it finishes. Returns `position` itself when there is nothing to do.
    """
    if position.next is None:
        new = next_version if next_version is not None else position.current + 1
        if new <= position.current:
            raise ValueError("the new version must be greater than current")
    else:
        new = position.next
    if EMERGENCY_STAGE.get(kind, "steady") == "steady":
        return Position(new)
    if position.stage == "swapped" and reencrypted:
        return Position(new)
    return Position(position.current, "swapped", new)


def fallback_binding_name(binding: str, fallback: str | None) -> str:
    """The fallback binding's name: as configured, else `<BINDING>_FALLBACK`."""
    return fallback or f"{binding}_FALLBACK"


@dataclass(frozen=True)
class BoundVersion:
    """One secret binding on a worker at a position: which name points at which version."""

    binding: str
    version: int
    role: Literal["primary", "fallback"]


def bound_versions(binding: str, fallback: str | None, position: Position) -> list[BoundVersion]:
    """The secret bindings one configured binding becomes at `position` (1 or 2)."""
    bound = [BoundVersion(binding, position.primary_version, "primary")]
    if position.fallback_version is not None:
        bound.append(
            BoundVersion(
                fallback_binding_name(binding, fallback), position.fallback_version, "fallback"
            )
        )
    return bound


def cloudflare_secret_name(prefix: str, secret: str, version: int) -> str:
    """Cloudflare's name for version N of secret S: `{prefix}{S}_v{N}`."""
    return f"{prefix}{secret}_v{version}"
