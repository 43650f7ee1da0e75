"""`secretsctl due`: which secrets are due for rotation, which rotations are stuck, and the
exact next command for each.

A secret is due when it is steady and its current version is at least `rotateEvery` days
old, counted from `since:` in the stack file or, for a file that never recorded it, from
the git history (the day the version became steady; a secret never rotated: the day it
was first declared). A rotation is stuck when its stage has not moved for more than
`stuck_after` days (read from the git history), or at once when an emergency left it
mid-rotation (an encryption_key waiting for re-encryption: the leaked key still decrypts).

The next command follows the promotion order: a stack rotates itself only when it follows
no stack; otherwise it is promoted from the stack before it, and when that stack is level,
the rotation starts further up (`secretsctl rotate X --stack dev`).
"""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from secrets_store.policy import age_days, rotate_every_problem, since_problem
from secrets_store.rotation import Position, emergency_position, step_toward, steps_between
from secrets_store.spec import NAMESPACE, value_key
from secretsctl.errors import InvalidInput
from secretsctl.offline.stackfile import (
    StackConfig,
    config_key,
    list_stacks,
    load_stack_config,
    stack_path,
)
from secretsctl.schedule.history import WORKING_TREE, Histories, stage_since, steady_span

STUCK_AFTER_DAYS = 7
"""Default: a stage that has not moved for more than a week is a stuck rotation."""


class UnknownStack(InvalidInput):
    """A --stack that has no stack file."""


class InvalidPolicy(InvalidInput):
    """A `rotateEvery` or `since` that is not one: `due` would otherwise stay silent."""


@dataclass(frozen=True)
class Action:
    """The next command that moves a secret of a stack toward its rotation."""

    command: str
    """`rotate` or `promote`."""
    stack: str
    """The stack whose file the command edits."""
    secret: str
    before: Position
    after: Position
    source: str | None = None
    """The stack promoted from (`promote --from`)."""
    values: tuple[str, ...] = ()
    """Value keys (full) the move needs and the stack file lacks (`source: config`)."""
    reencrypted: bool = False
    """The move finishes an encryption_key: every value must be re-encrypted first."""
    emergency: str | None = None
    """The move finishes an emergency rotation (its reason): every stack in one change."""

    @property
    def secretsctl(self) -> str:
        flag = " --reencrypted" if self.reencrypted else ""
        if self.emergency is not None:
            return (
                f"secretsctl rotate {self.secret} --emergency{flag} "
                f"--reason {shlex.quote(self.emergency)}"
            )
        if self.command == "promote":
            return f"secretsctl promote --from {self.source} --to {self.stack} {self.secret}{flag}"
        return f"secretsctl rotate {self.secret} --stack {self.stack}{flag}"

    @property
    def set_values(self) -> list[str]:
        """`pulumi config set --secret` for each missing value (it prompts for the value)."""
        return [f"pulumi config set --secret --stack {self.stack} {key}" for key in self.values]

    @property
    def line(self) -> str:
        """The whole next step as one shell line."""
        return " && ".join([*self.set_values, self.secretsctl])


def promotion_order(configs: Mapping[str, StackConfig]) -> list[str]:
    """Stacks in promotion order: each after the stack it follows (dev, staging, prod)."""

    def depth(stack: str, seen: tuple[str, ...] = ()) -> int:
        after = configs[stack].promotion_after
        if not after or after not in configs or after in seen:
            return 0
        return 1 + depth(after, (*seen, stack))

    return sorted(configs, key=lambda s: (depth(s), s))


def next_action(
    configs: Mapping[str, StackConfig], stack: str, secret: str, _seen: tuple[str, ...] = ()
) -> Action | None:
    """The command that moves `secret` of `stack` one stage on (None: no valid position).

    Promotion first: a stack behind the stack it follows is promoted from it; a stack
    level with it waits for that stack to rotate first, and so on up to the first stack.
    """
    config = configs[stack]
    position = config.positions.get(secret)
    if position is None:
        return None
    after = config.promotion_after
    other = configs.get(after) if after else None
    theirs = other.positions.get(secret) if other is not None else None
    if after and other is not None and theirs is not None and after not in _seen:
        if steps_between(position, theirs):
            step = step_toward(position, theirs)
            assert step is not None
            return _action(config, "promote", secret, position, step, after)
        return next_action(configs, after, secret, (*_seen, stack))
    return _action(config, "rotate", secret, position, position.advance())


def _action(
    config: StackConfig,
    command: str,
    secret: str,
    before: Position,
    after: Position,
    source: str | None = None,
) -> Action:
    entry = config.secrets.get(secret)  # None: declared in the program's code
    missing: tuple[str, ...] = ()
    if entry is None or entry.source == "config":
        missing = tuple(
            config_key(value_key(secret, v))
            for v in after.live_versions
            if not config.has_value(secret, v)
        )
    finishing = before.stage == "swapped" and entry is not None and entry.kind == "encryption_key"
    return Action(command, config.stack, secret, before, after, source, missing, finishing)


@dataclass(frozen=True)
class Item:
    """One due secret or stuck rotation, with the next command."""

    stack: str
    secret: str
    kind: str
    source: str
    position: Position
    since: datetime.date
    since_from: str
    """Where `since` comes from: `stack file`, `git history` or `new` (not committed yet)."""
    age_days: int
    every_days: int | None
    stage_days: int | None
    """Days the current stage has not moved (mid-rotation only)."""
    action: Action | None
    emergency: str | None = None
    """The reason of the emergency rotation that put the secret where it stands (None: none)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "secret": self.secret,
            "kind": self.kind,
            "source": self.source,
            "age_days": self.age_days,
            "every_days": self.every_days,
            "stage": self.position.stage,
            "action": self.action.line if self.action else None,
            "since": self.since.isoformat(),
            "since_from": self.since_from,
            "stage_days": self.stage_days,
            "position": self.position.describe(),
            "emergency": self.emergency,
        }


@dataclass
class Report:
    today: datetime.date
    stuck_after: int
    due: list[Item]
    stuck: list[Item]
    configs: Mapping[str, StackConfig]
    histories: Histories

    @property
    def found(self) -> bool:
        return bool(self.due or self.stuck)

    def as_json(self) -> dict[str, Any]:
        return {
            "due": [i.as_json() for i in self.due],
            "stuck": [i.as_json() for i in self.stuck],
        }


def load_all(root: Path) -> dict[str, StackConfig]:
    """Every stack file of the project, by stack name."""
    return {stack: load_stack_config(stack, stack_path(root, stack)) for stack in list_stacks(root)}


def chosen_stacks(configs: Mapping[str, StackConfig], stacks: Sequence[str]) -> list[str]:
    unknown = [s for s in stacks if s not in configs]
    if unknown:
        known = ", ".join(sorted(configs)) or "none"
        raise UnknownStack(
            [f"--stack: no stack file for {s!r}, got {s!r} (stacks: {known})" for s in unknown]
        )
    order = promotion_order(configs)
    return [s for s in order if not stacks or s in stacks]


def due_report(
    root: Path,
    today: datetime.date,
    stacks: Sequence[str] = (),
    stuck_after: int = STUCK_AFTER_DAYS,
    configs: Mapping[str, StackConfig] | None = None,
) -> Report:
    """Due secrets and stuck rotations of `stacks` (default: every stack), in promotion order."""
    configs = configs if configs is not None else load_all(root)
    chosen = chosen_stacks(configs, stacks)
    problems = [line for stack in chosen for line in policy_problems(configs[stack])]
    if problems:
        raise InvalidPolicy(problems)
    histories = Histories(root, today)
    due: list[Item] = []
    stuck: list[Item] = []
    for stack in chosen:
        for item in stack_items(configs, stack, today, histories):
            if item.position.stage == "steady":
                if item.every_days is not None and item.age_days >= item.every_days:
                    due.append(item)
            elif item.emergency is not None or (
                item.stage_days is not None and item.stage_days > stuck_after
            ):
                # An emergency left mid-rotation (an encryption_key waiting for its values to
                # be re-encrypted) keeps the leaked key live: listed at once, not after days.
                stuck.append(item)
    return Report(today, stuck_after, due, stuck, configs, histories)


def policy_problems(config: StackConfig) -> list[str]:
    """One line per `rotateEvery` or `since` of the stack that is not one, naming the key:
    a policy `due` cannot read would make it answer "nothing is due" for that secret."""
    raw = config.namespace.get("secrets")
    rotation = config.namespace.get("rotation")
    lines = []
    for name, entry in (raw if isinstance(raw, Mapping) else {}).items():
        entry = entry if isinstance(entry, Mapping) else {}
        where = rotation.get(name) if isinstance(rotation, Mapping) else None
        where = where if isinstance(where, Mapping) else {}
        if "rotateEvery" in entry and (problem := rotate_every_problem(entry["rotateEvery"])):
            lines.append(f"{config.path.name}: {NAMESPACE}:secrets.{name}.rotateEvery: {problem}")
        for key, holder in (("secrets", entry), ("rotation", where)):
            if "since" in holder and (problem := since_problem(holder["since"])):
                lines.append(f"{config.path.name}: {NAMESPACE}:{key}.{name}.since: {problem}")
    return lines


def stack_items(
    configs: Mapping[str, StackConfig], stack: str, today: datetime.date, histories: Histories
) -> Iterable[Item]:
    """Every secret of `stack` with a valid position, dated (git read only when needed)."""
    config = configs[stack]
    for name, entry in config.secrets.items():
        position = entry.position
        if position is None:
            continue
        moving = position.stage != "steady"
        if entry.since is not None and not moving:
            since, since_from = entry.since, "stack file"
            stage_days = None
        elif entry.rotate_every is None and not moving and entry.emergency is None:
            continue  # no policy, not rotating: nothing to tell
        else:
            history = histories.spans(stack, name)
            found = steady_span(history, position)
            if entry.since is not None:
                since, since_from = entry.since, "stack file"
            elif found is not None and found.commit != WORKING_TREE:
                since, since_from = found.start, "git history"
            else:  # declared in no commit yet: new today
                since, since_from = today, "new"
            started = stage_since(history, position) if moving else None
            stage_days = age_days(started or today, today) if moving else None
        yield Item(
            stack,
            name,
            entry.kind,
            entry.source,
            position,
            since,
            since_from,
            age_days(since, today),
            entry.rotate_every,
            stage_days,
            _emergency_action(config, name) or next_action(configs, stack, name),
            entry.emergency.reason if entry.emergency is not None else None,
        )


def _emergency_action(config: StackConfig, secret: str) -> Action | None:
    """The finish of an emergency left mid-rotation (None: no emergency under way)."""
    entry = config.secrets[secret]
    position = entry.position
    if entry.emergency is None or position is None or position.next is None:
        return None
    after = emergency_position(position, entry.kind, reencrypted=True)
    action = _action(config, "rotate", secret, position, after)
    return replace(action, emergency=entry.emergency.reason)
