"""`rotate` and `promote`: move secrets one rotation stage, editing the stack file in place.

The edit is a ruamel.yaml round trip of `stacks/Pulumi.<stack>.yaml`: comments, key
order, quoting and every `secure:` value stay byte-for-byte, and a check refuses
to write when any line outside the edited secrets' blocks would change. Before
writing, the new config must pass the same offline plan `pulumi up` would run.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from components.errors import Problem
from components.promotion import ahead_problems
from components.rotation import Position, steps_between
from components.spec import NAMESPACE
from secretsctl.diff import diff_plans, plan_config
from secretsctl.references import directory_loader
from secretsctl.stackfile import StackConfig, load_stack_config


class RotationRefused(ValueError):
    """A rotate or promote that must not happen; `lines` say why and what to run instead."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Move:
    """One secret moved one stage in one stack."""

    secret: str
    before: Position
    after: Position

    def describe(self) -> str:
        return f"{self.secret}: {self.before.describe()} → {self.after.describe()}"


@dataclass
class Edit:
    """The result of rotate/promote: the moves, the new file text and the plan diff."""

    stack: str
    path: Path
    moves: list[Move]
    text: str
    diff: dict[str, Any]
    notes: list[str] = field(default_factory=list)


# ---- positions as written in a stack file ----------------------------------------------


def step_toward(position: Position, target: Position) -> Position | None:
    """One stage from `position` toward `target`; None when already there or not reachable."""
    if not steps_between(position, target):
        return None
    if position.stage != "steady":
        return position.advance()
    version = target.current if position.current < target.current else target.next
    return position.advance(version)


# ---- the round-trip edit ------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    return yaml


def _secrets_map(document: Any) -> CommentedMap:
    config = document.get("config") if isinstance(document, Mapping) else None
    for key in (f"{NAMESPACE}:secrets", "secrets"):
        if isinstance(config, Mapping) and isinstance(config.get(key), CommentedMap):
            return config[key]
    raise RotationRefused([f"{NAMESPACE}:secrets: not found in the stack file (declare secrets)"])


def _block(lines: list[str], start: int) -> range:
    """Lines of the YAML node whose key is on line `start` (deeper-indented lines that follow)."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines):
        stripped = lines[end].strip()
        deeper = len(lines[end]) - len(lines[end].lstrip()) > indent
        if stripped and not stripped.startswith("#") and not deeper:
            break
        end += 1
    return range(start, end)


def edit_positions(text: str, changes: Mapping[str, Position]) -> str:
    """`text` with each named secret's current/next/stage set to its new position.

    Raises `RotationRefused` if the round trip would change any line outside those secrets.
    """
    yaml = _yaml()
    document = yaml.load(text)
    secrets = _secrets_map(document)
    lines = text.splitlines(keepends=True)
    allowed: set[int] = set()
    for name, position in changes.items():
        entry = secrets.get(name)
        if not isinstance(entry, CommentedMap):
            raise RotationRefused([f"{NAMESPACE}:secrets.{name}: not a mapping in the stack file"])
        block = _block(lines, secrets.lc.key(name)[0])
        allowed |= set(block) | {block.stop}
        _set_position(entry, position)
    out = io.StringIO()
    yaml.dump(document, out)
    new = out.getvalue()
    matcher = difflib.SequenceMatcher(a=lines, b=new.splitlines(keepends=True), autojunk=False)
    for tag, i1, i2, _j1, _j2 in matcher.get_opcodes():
        touched = set(range(i1, i2)) if i2 > i1 else {i1}
        if tag != "equal" and not touched <= allowed:
            raise RotationRefused(
                [
                    f"{NAMESPACE}:secrets: editing would change line {i1 + 1} outside the rotated "
                    "secrets, got a layout this editor cannot keep (edit the file by hand)"
                ]
            )
    return new


def _set_position(entry: CommentedMap, position: Position) -> None:
    keys = list(entry)
    if "current" in entry:
        entry["current"] = position.current  # assignment keeps the key's place and comment
    else:
        entry.insert(
            keys.index("kind") + 1 if "kind" in keys else len(keys), "current", position.current
        )
    if position.next is None:
        # Steady: `next` and `stage` go (steady is the default).
        for key in ("next", "stage"):
            if key in entry:
                del entry[key]
        return
    for key, value, after in (
        ("next", position.next, "current"),
        ("stage", position.stage, "next"),
    ):
        if key in entry:
            entry[key] = value
        else:
            entry.insert(list(entry).index(after) + 1, key, value)


# ---- rotate and promote -------------------------------------------------------------------


def _value_problems(config: StackConfig, kinds: Mapping[str, Any], moves: list[Move]) -> list[str]:
    """The exact command for each `source: config` version that has no value yet."""
    lines = []
    for move in moves:
        entry = kinds.get(move.secret) or {}
        if entry.get("source", "config") != "config":
            continue
        for version in move.after.live_versions:
            key = f"{NAMESPACE}:{move.secret}_v{version}"
            if key not in config.config and f"{move.secret}_v{version}" not in config.config:
                lines.append(
                    f"{key}: missing value for version {version} of secret {move.secret!r} in "
                    f"stack {config.stack!r}, got nothing (set it, then run this again):"
                )
                lines.append(f"  pulumi config set --secret --stack {config.stack} {key}")
    return lines


def _encryption_problems(
    kinds: Mapping[str, Any], moves: list[Move], reencrypted: bool
) -> list[str]:
    lines = []
    for move in moves:
        finishing = move.before.stage == "swapped"
        if finishing and (kinds.get(move.secret) or {}).get("kind") == "encryption_key":
            old = move.before.current
            if not reencrypted:
                lines.append(
                    f"{NAMESPACE}:secrets.{move.secret}: finishing deletes {move.secret}_v{old}, "
                    f"got no --reencrypted (values encrypted with v{old} could never be "
                    f"decrypted again: re-encrypt them with v{move.after.current}, then rerun "
                    "with --reencrypted)"
                )
    return lines


def _promotion_problems(config: StackConfig, after_positions: Mapping[str, Position]) -> list[str]:
    """Refuse a move that would put this stack ahead of its `promotion.after` stack's file."""
    promotion = config.namespace().get("promotion")
    after = promotion.get("after") if isinstance(promotion, dict) else None
    if not after:
        return []
    other = directory_loader(config.path.parent)(after)
    if other is None:
        return []
    theirs = {
        n: {"current": p.current, "next": p.next, "stage": p.stage}
        for n, p in other.positions().items()
    }
    return [str(p) for p in ahead_problems(config.stack, after, after_positions, theirs)]


def apply_moves(config: StackConfig, moves: list[Move], *, reencrypted: bool = False) -> Edit:
    """Check `moves`, edit the file text and plan both sides. Writes nothing."""
    secrets = config.namespace().get("secrets") or {}
    lines = _encryption_problems(secrets, moves, reencrypted)
    lines += _value_problems(config, secrets, moves)
    lines += _promotion_problems(
        config, {**config.positions(), **{m.secret: m.after for m in moves}}
    )
    if lines:
        raise RotationRefused(lines)
    text = config.path.read_text()
    new_text = edit_positions(text, {m.secret: m.after for m in moves})
    new_config = load_stack_config(config.stack, config.path, text=new_text)
    load = directory_loader(config.path.parent)
    # Both plans run the real program: an invalid result is refused before anything is written.
    diff = diff_plans(plan_config(config, load), plan_config(new_config, load))
    notes = [
        f"{NAMESPACE}:{m.secret}_v{m.before.current} is no longer used once this is deployed: "
        f"remove it then with `pulumi config rm --stack {config.stack} "
        f"{NAMESPACE}:{m.secret}_v{m.before.current}`"
        for m in moves
        if m.after.stage == "steady"
        and (secrets.get(m.secret) or {}).get("source", "config") == "config"
    ]
    return Edit(config.stack, config.path, moves, new_text, diff, notes)


def rotate(
    stack: str,
    secret: str,
    root: Path,
    *,
    next_version: int | None = None,
    reencrypted: bool = False,
) -> Edit:
    """Advance one secret of one stack by exactly one stage (see `Position.advance`)."""
    config = load_stack_config(stack, root / "stacks" / f"Pulumi.{stack}.yaml")
    current = config.positions()
    if secret not in current:
        known = ", ".join(sorted(current)) or "none"
        raise RotationRefused(
            [
                f"{NAMESPACE}:secrets.{secret}: no such secret in stack {stack!r}, got "
                f"{secret!r} (declared: {known})"
            ]
        )
    before = current[secret]
    if next_version is not None and before.stage != "steady":
        raise RotationRefused(
            [
                f"--next: only starts a rotation, got --next {next_version} while "
                f"{secret} is {before.describe()} (drop --next)"
            ]
        )
    if next_version is not None and next_version <= before.current:
        raise RotationRefused(
            [
                f"--next: must be greater than current ({before.current}), got {next_version} "
                f"(use {before.current + 1})"
            ]
        )
    return apply_moves(
        config, [Move(secret, before, before.advance(next_version))], reencrypted=reencrypted
    )


def promote(
    source: str,
    target: str,
    secrets: Sequence[str],
    root: Path,
    *,
    reencrypted: bool = False,
) -> Edit:
    """Move `target`'s positions one stage toward `source`'s, never past them."""
    stacks = root / "stacks"
    source_config = load_stack_config(source, stacks / f"Pulumi.{source}.yaml")
    target_config = load_stack_config(target, stacks / f"Pulumi.{target}.yaml")
    promotion = target_config.namespace().get("promotion")
    after = promotion.get("after") if isinstance(promotion, dict) else None
    if after != source:
        raise RotationRefused(
            [
                f"{NAMESPACE}:promotion.after: stack {target!r} follows {after!r}, got --from "
                f"{source!r} (promote from {after!r}, the stack it follows)"
                if after
                else f"{NAMESPACE}:promotion.after: stack {target!r} follows no stack, got --from "
                f"{source!r} (set promotion.after: {source} in stacks/Pulumi.{target}.yaml)"
            ]
        )
    theirs, mine = source_config.positions(), target_config.positions()
    names = list(secrets) or sorted(set(theirs) & set(mine))
    problems: list[Problem] = []
    moves = []
    for name in names:
        if name not in theirs or name not in mine:
            where = source if name not in theirs else target
            problems.append(
                Problem(
                    f"{NAMESPACE}:secrets.{name}",
                    f"not declared in stack {where!r}, got {name!r} "
                    "(name a secret both stacks declare)",
                )
            )
            continue
        if steps_between(mine[name], theirs[name]) is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:secrets.{name}",
                    f"stack {target!r} is ahead of or diverged from {source!r}, got "
                    f"{mine[name].describe()} in {target} and "
                    f"{theirs[name].describe()} in {source} "
                    f"(promote never moves {target} past {source})",
                )
            )
            continue
        step = step_toward(mine[name], theirs[name])
        if step is not None:
            moves.append(Move(name, mine[name], step))
    if problems:
        raise RotationRefused([str(p) for p in problems])
    if not moves:
        # Already level with the source: nothing to edit, and nothing wrong.
        text = target_config.path.read_text()
        return Edit(target, target_config.path, [], text, {})
    return apply_moves(target_config, moves, reencrypted=reencrypted)
