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

from secrets_store.errors import Problem
from secrets_store.ordering import ahead_problems
from secrets_store.rotation import Position, step_toward, steps_between
from secrets_store.spec import NAMESPACE, value_key
from secretsctl.errors import InvalidInput
from secretsctl.offline.references import directory_loader
from secretsctl.offline.stackfile import (
    StackConfig,
    config_key,
    load_stack_config,
    stack_file_name,
    stack_path,
)
from secretsctl.workflow.diff import diff_plans, plan_config


class RotationRefused(InvalidInput):
    """A rotate or promote that must not happen; `lines` say why and what to run instead."""


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


def _value_problems(config: StackConfig, moves: list[Move]) -> list[str]:
    """The exact command for each `source: config` version that has no value yet."""
    lines = []
    for move in moves:
        entry = config.secrets.get(move.secret)
        if entry is None or entry.source != "config":
            continue
        for version in move.after.live_versions:
            if not config.has_value(move.secret, version):
                key = config_key(value_key(move.secret, version))
                lines.append(
                    f"{key}: missing value for version {version} of secret {move.secret!r} in "
                    f"stack {config.stack!r}, got nothing (set it, then run this again):"
                )
                lines.append(f"  pulumi config set --secret --stack {config.stack} {key}")
    return lines


def _encryption_problems(config: StackConfig, moves: list[Move], reencrypted: bool) -> list[str]:
    lines = []
    for move in moves:
        finishing = move.before.stage == "swapped"
        if finishing and config.kinds.get(move.secret) == "encryption_key":
            old = move.before.current
            if not reencrypted:
                lines.append(
                    f"{NAMESPACE}:secrets.{move.secret}: finishing deletes "
                    f"{value_key(move.secret, old)}, got no --reencrypted (values encrypted with "
                    f"v{old} could never be decrypted again: re-encrypt them with "
                    f"v{move.after.current}, then rerun with --reencrypted)"
                )
    return lines


def _promotion_problems(config: StackConfig, after_positions: Mapping[str, Position]) -> list[str]:
    """Refuse a move that would put this stack ahead of its `promotion.after` stack's file."""
    after = config.promotion_after
    if not after:
        return []
    other = directory_loader(config.path.parent)(after)
    if other is None:
        return []
    return [
        str(p)
        for p in ahead_problems(config.stack, after, after_positions, other.rotation_output())
    ]


def apply_moves(config: StackConfig, moves: list[Move], *, reencrypted: bool = False) -> Edit:
    """Check `moves`, edit the file text and plan both sides. Writes nothing."""
    lines = _encryption_problems(config, moves, reencrypted)
    lines += _value_problems(config, moves)
    lines += _promotion_problems(config, {**config.positions, **{m.secret: m.after for m in moves}})
    if lines:
        raise RotationRefused(lines)
    text = config.path.read_text()
    new_text = edit_positions(text, {m.secret: m.after for m in moves})
    new_config = load_stack_config(config.stack, config.path, text=new_text)
    load = directory_loader(config.path.parent)
    # Both plans run the real program: an invalid result is refused before anything is written.
    diff = diff_plans(plan_config(config, load), plan_config(new_config, load))
    notes = []
    for m in moves:
        entry = config.secrets.get(m.secret)
        if m.after.stage == "steady" and entry is not None and entry.source == "config":
            key = config_key(value_key(m.secret, m.before.current))
            notes.append(
                f"{key} is no longer used once this is deployed: remove it then with "
                f"`pulumi config rm --stack {config.stack} {key}`"
            )
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
    config = load_stack_config(stack, stack_path(root, stack))
    current = config.positions
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
    source_config = load_stack_config(source, stack_path(root, source))
    target_config = load_stack_config(target, stack_path(root, target))
    after = target_config.promotion_after
    if after != source:
        raise RotationRefused(
            [
                f"{NAMESPACE}:promotion.after: stack {target!r} follows {after!r}, got --from "
                f"{source!r} (promote from {after!r}, the stack it follows)"
                if after
                else f"{NAMESPACE}:promotion.after: stack {target!r} follows no stack, got --from "
                f"{source!r} (set promotion.after: {source} in stacks/{stack_file_name(target)})"
            ]
        )
    theirs, mine = source_config.positions, target_config.positions
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
