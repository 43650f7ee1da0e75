"""`rotate` and `promote`: move secrets one rotation stage, editing the stack file in place.

The edit is a ruamel.yaml round trip of `stacks/Pulumi.<stack>.yaml`: comments, key
order, quoting, line endings (LF or CRLF), a BOM, a missing final newline and every
`secure:` value stay byte-for-byte, and a check refuses to write when any line outside
the edited secrets' blocks would change. A secret whose entry (or position) is shared
with others through a YAML anchor, alias or merge key is refused: editing it would
move the others too. Before writing, the new config must pass the same offline plan
`pulumi up` would run.

Writing is safe against concurrent runs and crashes: `stack_lock` holds the stacks
folder's lock from the read to the write, and `write_edit` replaces the file atomically
(temporary file in the same folder, fsync, rename, mode kept) only if its bytes are still
the ones the edit was computed from.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import io
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    import fcntl
except ImportError:  # not POSIX: the check before the rename still refuses lost edits
    fcntl = None  # type: ignore[assignment]

from secrets_store.errors import Problem, SpecError
from secrets_store.ordering import Standing, cycle_problem, promotion_problems
from secrets_store.policy import moment_text
from secrets_store.rotation import (
    Position,
    emergency_position,
    position_from,
    step_toward,
    steps_between,
    target_version,
)
from secrets_store.spec import MAX_REASON, NAMESPACE, shown, value_key
from secretsctl.errors import InvalidInput
from secretsctl.offline.project import project_at
from secretsctl.offline.references import Loader, directory_loader, stack_cycle
from secretsctl.offline.stackfile import (
    StackConfig,
    StackFileError,
    config_key,
    list_stacks,
    load_stack_config,
    read_stack_file,
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
        return f"{self.secret}: from {self.before.describe()} to {self.after.describe()}"


@dataclass
class Edit:
    """The result of rotate/promote: the moves, the new file text and the plan diff."""

    stack: str
    path: Path
    moves: list[Move]
    text: str
    """The new file text, exactly as it will be written (UTF-8)."""
    diff: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    original: bytes | None = None
    """The file's bytes the edit was computed from: `write_edit` refuses if they changed."""


# ---- the round-trip edit ------------------------------------------------------------------


def _yaml(lines: Sequence[str] = ()) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = _indentation(lines)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


KEY_ONLY = re.compile(r"^[ ]*[^\s#-][^#]*:[ \t]*(?:#.*)?$")


def _indentation(lines: Sequence[str]) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indents as the file writes them, for the dump to keep:
    `environment:` then `  - name` is sequence 4, offset 2; ruamel.yaml's default is 2, 0."""
    mapping = sequence = offset = None
    parent = None  # indent of the last line holding only a key (its value follows, nested)
    for line in lines:
        text = line.rstrip("\r\n")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(text.lstrip(" "))
        if parent is not None and indent >= parent:
            if stripped == "-" or stripped.startswith("- "):
                if sequence is None:
                    rest = stripped[1:]
                    offset = indent - parent
                    sequence = offset + 1 + len(rest) - len(rest.lstrip(" "))
            elif mapping is None and indent > parent:
                mapping = indent - parent
        parent = indent if KEY_ONLY.match(text) else None
        if mapping is not None and sequence is not None:
            break
    mapping = mapping or 2
    if sequence is None or offset is None:
        return mapping, mapping, 0
    return mapping, max(sequence, offset + 2), offset


SECRETS_KEYS = (f"{NAMESPACE}:secrets", "secrets")
ROTATION_KEY = f"{NAMESPACE}:rotation"
POSITION_KEYS = ("current", "next", "stage")
MERGE_TAG = "tag:yaml.org,2002:merge"
POSITION_LINE = re.compile(
    r"^[ \t]*(?:current|next|stage|reencrypted|since|reached|emergency|"
    r"steady|fallback|swapped|reason|at)[ \t]*:"
)
RECORD_KEYS = ("reached", "emergency")
"""Records kept next to a position: when each stage was reached, and an emergency's reason."""
# Line breaks as ruamel.yaml counts them (its line numbers index these lines).
LINE = re.compile(r"[^\n\x85\u2028\u2029]*(?:[\n\x85\u2028\u2029]|$)")


def _secrets_map(document: Any) -> CommentedMap:
    config = document.get("config") if isinstance(document, Mapping) else None
    if isinstance(config, Mapping) and all(k in config for k in SECRETS_KEYS):
        raise RotationRefused(
            [
                f"{NAMESPACE}:secrets: declared twice, got both `secrets` and "
                f"`{NAMESPACE}:secrets` (keep one of them)"
            ]
        )
    for key in SECRETS_KEYS:
        if isinstance(config, Mapping) and isinstance(config.get(key), CommentedMap):
            return config[key]
    raise RotationRefused([f"{NAMESPACE}:secrets: not found in the stack file (declare secrets)"])


def _secret_key(name: str) -> str:
    """`secrets-store:secrets.<name>` for a message, a long name cut short."""
    return f"{NAMESPACE}:secrets.{name if len(name) <= 80 else name[:79] + '…'}"


def _lines(text: str) -> list[str]:
    """`text` split after each line break, as ruamel.yaml numbers lines."""
    return [line for line in LINE.findall(text) if line]


def _split(text: str, key: str) -> tuple[str, list[str], str, bool, list[str]]:
    """A stack file's text as the line editors take it: (its BOM, its lines as written, the
    line ending new lines take, whether the last line lacked one (now added), and the lines
    with LF endings). A bare CR ending is refused, naming `key`: no edit could keep it."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    raw_lines = _lines(text[len(bom) :])
    if any("\r" in line.removesuffix("\r\n") for line in raw_lines):
        raise RotationRefused(
            [
                f"{key}: the stack file breaks lines with a bare carriage return, "
                "got CR line endings (convert the file to LF or CRLF line endings)"
            ]
        )
    newline = "\r\n" if 2 * sum(x.endswith("\r\n") for x in raw_lines) > len(raw_lines) else "\n"
    unterminated = bool(raw_lines) and raw_lines[-1][-1] not in "\n\x85\u2028\u2029"
    if unterminated:
        raw_lines[-1] += newline
    lines = [x.removesuffix("\r\n") + "\n" if x.endswith("\r\n") else x for x in raw_lines]
    return bom, raw_lines, newline, unterminated, lines


def _pairs(node: Node) -> list[tuple[Node, Node]]:
    return list(node.value) if isinstance(node, MappingNode) else []


def _is_merge(key: Node) -> bool:
    return str(key.tag) == MERGE_TAG or (isinstance(key, ScalarNode) and key.value == "<<")


def _own(node: Node, name: str) -> Node | None:
    """The value node of `name` written in `node` itself (not merged in), or None."""
    for key, value in _pairs(node):
        if isinstance(key, ScalarNode) and not _is_merge(key) and key.value == name:
            return value
    return None


def _merged_keys(node: Node, seen: set[int] | None = None) -> set[str]:
    """Keys `node` inherits through merge keys (`<<: *base`), recursively."""
    seen = seen if seen is not None else set()
    keys: set[str] = set()
    for key, value in _pairs(node):
        if not _is_merge(key):
            continue
        sources = value.value if isinstance(value, SequenceNode) else [value]
        for source in sources:
            if id(source) in seen:
                continue
            seen.add(id(source))
            keys |= {k.value for k, _ in _pairs(source) if isinstance(k, ScalarNode)}
            keys |= _merged_keys(source, seen)
    return keys


def _references(root: Node) -> dict[int, list[str]]:
    """Node id -> the key path of every place the document refers to it (aliases repeat it)."""
    places: dict[int, list[str]] = {id(root): ["(document)"]}
    pending = [(root, "")]
    done: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in done:
            continue  # an alias: its children were walked at the anchor
        done.add(id(node))
        if isinstance(node, MappingNode):
            children = [
                (v, f"{path}.{k.value}" if isinstance(k, ScalarNode) else f"{path}.(key)")
                for k, v in node.value
            ]
        elif isinstance(node, SequenceNode):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
        else:
            children = []
        for child, where in children:
            places.setdefault(id(child), []).append(where.lstrip("."))
            pending.append((child, where))
    return places


def _sharing_problems(source: str, names: Sequence[str]) -> list[str]:
    """Why editing these secrets would move something else too (YAML anchors, aliases and
    merge keys share nodes); empty when each edit stays inside its own entry."""
    root = _yaml().compose(source)
    places = _references(root)
    config = _own(root, "config")
    secrets_key = next((k for k in SECRETS_KEYS if config and _own(config, k)), SECRETS_KEYS[0])
    secrets = _own(config, secrets_key) if config is not None else None
    fix = "write it out in full, without &anchors, *aliases or <<: merge keys, then run this again"

    def others(node: Node, here: str) -> str:
        where = [p for p in places.get(id(node), []) if p != here]
        listed = ", ".join(shown(p) for p in where[:3])
        return listed + (f" and {len(where) - 3} more" if len(where) > 3 else "")

    lines = []
    for node, here in ((config, "config"), (secrets, f"config.{secrets_key}")):
        if node is not None and len(places.get(id(node), [])) > 1:
            return [
                f"{NAMESPACE}:secrets: shared through a YAML alias with {others(node, here)}, "
                f"got `{here}` aliased (rotating would change the others too: {fix})"
            ]
    for name in names:
        key = _secret_key(name)
        entry = _own(secrets, name) if secrets is not None else None
        if entry is None:
            lines.append(
                f"{key}: comes from a YAML merge key, got an inherited entry (rotating it "
                f"would change the entry it is merged from too: {fix})"
            )
            continue
        here = f"config.{secrets_key}.{name}"
        if len(places.get(id(entry), [])) > 1:
            lines.append(
                f"{key}: shared through a YAML anchor with {others(entry, here)}, got one "
                f"mapping for both (rotating {name} would move the others too: {fix})"
            )
            continue
        inherited = sorted(
            set(POSITION_KEYS)
            & (
                _merged_keys(entry)
                - {k.value for k, _ in _pairs(entry) if isinstance(k, ScalarNode)}
            )
        )
        if inherited:
            lines.append(
                f"{key}.{inherited[0]}: comes from a YAML merge key (<<), got "
                f"{', '.join(inherited)} inherited (write current, next and stage in {name} "
                "itself, then run this again)"
            )
        for position_key in POSITION_KEYS:
            value = _own(entry, position_key)
            if value is not None and len(places.get(id(value), [])) > 1:
                lines.append(
                    f"{key}.{position_key}: shared through a YAML anchor with "
                    f"{others(value, f'{here}.{position_key}')}, got an aliased value "
                    f"(write the number or stage out in both places, then run this again)"
                )
    return lines


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


def edit_positions(
    text: str,
    changes: Mapping[str, Position],
    reencrypted: Mapping[str, int] | None = None,
    since: Mapping[str, datetime.date] | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """`text` with each named secret's current/next/stage set to its new position.

    `records`: per secret, `reached` and `emergency` to write (as one-line mappings; None
    removes the key).

    Every line outside those secrets stays byte-for-byte: its line ending (LF or CRLF)
    included, as do a leading BOM and a missing final newline; new lines take the file's
    usual ending. Raises `RotationRefused` if the round trip would change any line outside
    those secrets, or if a secret's entry or position is shared through YAML anchors.
    """
    bom, raw_lines, newline, unterminated, lines = _split(text, f"{NAMESPACE}:secrets")
    source = "".join(lines)
    shared = _sharing_problems(source, list(changes))
    if shared:
        raise RotationRefused(shared)
    yaml = _yaml(lines)
    document = yaml.load(source)
    _keep_anchors(document)
    secrets = _secrets_map(document)
    allowed: set[int] = set()
    flow: set[int] = set()  # an entry written on one line (`api_key: {kind: ..., current: 1}`)
    for name, position in changes.items():
        entry = secrets.get(name)
        if not isinstance(entry, CommentedMap):
            raise RotationRefused(
                [
                    f"{_secret_key(name)}: not a mapping in the stack file, got "
                    f"{type(entry).__name__} (write kind, current, ... under it)"
                ]
            )
        block = _block(lines, secrets.lc.key(name)[0])
        allowed |= set(block) | {block.stop}
        if len(block) == 1:
            flow |= set(block)
        _set_position(entry, position)
        if reencrypted and name in reencrypted:  # the record `check` requires at a finish
            _set_after(entry, "reencrypted", reencrypted[name], "current")
        if since and name in since:  # a finish: the day the new version became steady
            after = "reencrypted" if "reencrypted" in entry else "current"
            _set_after(entry, "since", since[name].isoformat(), after)
        _set_records(entry, (records or {}).get(name, {}))
    out = io.StringIO()
    yaml.dump(document, out)
    new_lines = _lines(out.getvalue())
    matcher = difflib.SequenceMatcher(a=lines, b=new_lines, autojunk=False)
    result: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        touched = set(range(i1, i2)) if i2 > i1 else {i1}
        in_flow = i2 > i1 and set(range(i1, i2)) <= flow
        # Only position lines (current, next, stage) may change, or a one-line entry.
        kept = tag == "equal" or (
            touched <= allowed
            and all(in_flow or POSITION_LINE.match(x) for x in lines[i1:i2])
            and all(in_flow or POSITION_LINE.match(x) for x in new_lines[j1:j2])
        )
        if not kept:
            raise RotationRefused(
                [
                    f"{NAMESPACE}:secrets: editing would change line {i1 + 1} besides the rotated "
                    "secrets' current, next and stage, got a layout this editor cannot keep "
                    "(edit the file by hand)"
                ]
            )
        if tag == "equal":
            result += raw_lines[i1:i2]  # as they were, line endings included
        else:
            result += [
                x.removesuffix("\n") + newline if x.endswith("\n") else x for x in new_lines[j1:j2]
            ]
    new = "".join(result)
    if unterminated:
        new = new.removesuffix(newline)
    return bom + new


ROTATION_LINE = re.compile(
    rf"^[ \t]*(?:{re.escape(ROTATION_KEY)}|'{re.escape(ROTATION_KEY)}'|"
    rf'"{re.escape(ROTATION_KEY)}")[ \t]*:'
)


def _mapping_at(parent: CommentedMap, key: str, path: str, shape: str, fix: str) -> CommentedMap:
    """`parent[key]`, a new mapping where there is none; refused in one line when it is not
    a mapping (`path`: its key path in messages)."""
    found = parent.get(key)
    if found is None:
        found = parent[key] = CommentedMap()
    if not isinstance(found, CommentedMap):
        raise RotationRefused(
            [f"{path}: must be a mapping {shape}, got {type(found).__name__} ({fix})"]
        )
    return found


def edit_rotation(
    text: str,
    changes: Mapping[str, Position],
    reencrypted: Mapping[str, int] | None = None,
    since: Mapping[str, datetime.date] | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """`text` with `secrets-store:rotation.<secret>` set to each new position (the key and
    the entries are added when missing).

    Only the lines of `secrets-store:rotation` change: every other line stays byte-for-byte
    (comments, `secure:` values, line endings, a BOM, a missing final newline). Raises
    `RotationRefused` when the round trip would change any other line, or when the rotation
    block uses YAML anchors, aliases or merge keys."""
    bom, raw_lines, newline, unterminated, lines = _split(text, ROTATION_KEY)
    old_block = _rotation_block(lines)
    if old_block is not None and any(
        re.search(r"(^|[\s\[{,])[&*][^\s]|<<", lines[i]) for i in old_block
    ):
        raise RotationRefused(
            [
                f"{ROTATION_KEY}: uses YAML anchors, aliases or merge keys, got them in its lines "
                "(write each entry out in full, then run this again)"
            ]
        )
    yaml = _yaml(lines)
    document = yaml.load("".join(lines))
    _keep_anchors(document)
    config = document.get("config") if isinstance(document, Mapping) else None
    if not isinstance(config, CommentedMap):
        raise RotationRefused([f"{ROTATION_KEY}: the stack file has no config: mapping to edit"])
    rotation = _mapping_at(
        config, ROTATION_KEY, ROTATION_KEY, "of secret to position", "write one entry per secret"
    )
    for name, position in changes.items():
        entry = _mapping_at(
            rotation,
            name,
            f"{ROTATION_KEY}.{name}",
            "{current, next, stage}",
            "write current: under it",
        )
        _set_position(entry, position)
        if reencrypted and name in reencrypted:
            _set_after(entry, "reencrypted", reencrypted[name], "current")
        if since and name in since:
            after = "reencrypted" if "reencrypted" in entry else "current"
            _set_after(entry, "since", since[name].isoformat(), after)
        _set_records(entry, (records or {}).get(name, {}))
    out = io.StringIO()
    yaml.dump(document, out)
    new_lines = _lines(out.getvalue())
    new_block = _rotation_block(new_lines)
    if new_block is None:  # the key shares a line with others: a flow-style `config: {...}`
        raise RotationRefused(
            [
                f"{ROTATION_KEY}: the stack file writes config: in flow style ({{...}}), got no "
                f"line of its own for {ROTATION_KEY} (this editor keeps every other line byte "
                "for byte: write config: in block style, one key per line, then run this again)"
            ]
        )
    start = old_block.start if old_block is not None else new_block.start
    end = old_block.stop if old_block is not None else start
    # Comment lines right after the block belong to what follows; ruamel.yaml keeps them with
    # the key before them, so an entry that grows there carries them into the block: out again.
    trailing: list[str] = []
    while end + len(trailing) < len(lines) and _is_comment(lines[end + len(trailing)]):
        trailing.append(lines[end + len(trailing)])
    dumped = new_lines[new_block.start : new_block.stop]
    carried = _find(dumped, trailing) if trailing else None
    if carried is not None:
        dumped = dumped[:carried] + dumped[carried + len(trailing) :]
        new_lines = [
            *new_lines[: new_block.start],
            *dumped,
            *trailing,
            *new_lines[new_block.stop :],
        ]
        new_block = range(new_block.start, new_block.start + len(dumped))
    kept_old = lines[:start] + lines[end:]
    kept_new = new_lines[: new_block.start] + new_lines[new_block.stop :]
    if kept_old != kept_new or new_block.start != start:
        raise RotationRefused([_layout_refusal(lines, kept_old, kept_new, start, end)])
    block = [x.removesuffix("\n") + newline if x.endswith("\n") else x for x in dumped]
    new = "".join([*raw_lines[:start], *block, *raw_lines[end:]])
    if unterminated:
        new = new.removesuffix(newline)
    return bom + new


def _rotation_block(lines: list[str]) -> range | None:
    """The lines of `secrets-store:rotation` (its key line and the deeper lines under it)."""
    for index, line in enumerate(lines):
        if ROTATION_LINE.match(line):
            end = _block(lines, index).stop
            while end - 1 > index and _is_comment(lines[end - 1]):
                end -= 1  # trailing blank and comment lines belong to what follows
            return range(index, end)
    return None


def _is_comment(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _find(lines: list[str], run: list[str]) -> int | None:
    """Where `run` first occurs in `lines` as consecutive lines, or None."""
    for at in range(len(lines) - len(run) + 1):
        if lines[at : at + len(run)] == run:
            return at
    return None


def _keep_anchors(document: Any) -> None:
    """Have the dump write every `&anchor` the file has (ruamel.yaml drops unused ones)."""
    pending, seen = [document], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        anchor = getattr(node, "anchor", None)
        if anchor is not None and getattr(anchor, "value", None) is not None:
            anchor.always_dump = True
        if isinstance(node, Mapping):
            pending += [*node.keys(), *node.values(), *getattr(node, "merge", [])]
        elif isinstance(node, list):
            pending += node


def _set_position(entry: CommentedMap, position: Position) -> None:
    keys = list(entry)
    if "current" in entry:
        entry["current"] = position.current  # assignment keeps the key's place and comment
    else:
        entry.insert(
            keys.index("kind") + 1 if "kind" in keys else len(keys), "current", position.current
        )
    if position.next is None:
        # Steady: `next` and `stage` go (steady is the default). A comment they carried (the
        # lines after the entry, for ruamel.yaml) stays, on the key before them.
        for key in ("next", "stage"):
            if key in entry:
                comment = entry.ca.items.pop(key, None)
                del entry[key]
                if comment is not None and entry and list(entry)[-1] not in entry.ca.items:
                    entry.ca.items[list(entry)[-1]] = comment
        return
    for key, value, after in (
        ("next", position.next, "current"),
        ("stage", position.stage, "next"),
    ):
        if key in entry:
            entry[key] = value
        else:
            entry.insert(list(entry).index(after) + 1, key, value)


def _set_records(entry: CommentedMap, records: Mapping[str, Any]) -> None:
    """Write `reached`/`emergency` as one-line mappings right after the position (None:
    remove the key)."""
    for key in RECORD_KEYS:
        if key not in records:
            continue
        value = records[key]
        if value is None:
            if key in entry:
                del entry[key]
            continue
        flow = CommentedMap(value)
        flow.fa.set_flow_style()
        anchor = next(
            (k for k in ("reached", "since", "reencrypted", "stage", "next") if k in entry),
            "current",
        )
        _set_after(entry, key, flow, anchor)


TOP_KEY = re.compile(r"^  (?P<key>[^\s#]\S*):(?:\s|$)")


def _layout_refusal(
    lines: list[str], kept_old: list[str], kept_new: list[str], start: int, end: int
) -> str:
    """Which line outside the rotation block the round trip would rewrite: its number and
    the config key it belongs to (never its content: it may hold a ciphertext)."""
    first = next(
        (i for i, (a, b) in enumerate(zip(kept_old, kept_new, strict=False)) if a != b),
        min(len(kept_old), len(kept_new)),
    )
    index = first if first < start else first + (end - start)
    owner = next(
        (m["key"] for line in reversed(lines[: index + 1]) if (m := TOP_KEY.match(line))), None
    )
    where = f"line {index + 1}" + (f" (in {owner})" if owner else "")
    return (
        f"{ROTATION_KEY}: editing would also rewrite {where}, got a layout this editor cannot "
        "keep byte for byte (write that value on one line, for example `secure: v1:...` right "
        "after its key, or edit the rotation by hand)"
    )


def _set_after(entry: CommentedMap, key: str, value: Any, after: str) -> None:
    """Set `key` in place, or insert it right after `after` (at the end without it)."""
    if key in entry:
        entry[key] = value
    else:
        keys = list(entry)
        entry.insert(keys.index(after) + 1 if after in keys else len(keys), key, value)


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


def _encryption_problems(
    kinds: Mapping[str, str], moves: list[Move], reencrypted: bool
) -> list[str]:
    lines = []
    for move in moves:
        finishing = move.before.stage == "swapped"
        if finishing and kinds.get(move.secret) == "encryption_key":
            old = move.before.current
            if not reencrypted:
                lines.append(
                    f"{NAMESPACE}:secrets.{move.secret}: finishing deletes "
                    f"{value_key(move.secret, old)}, got no --reencrypted (values encrypted with "
                    f"v{old} could never be decrypted again: re-encrypt them with "
                    f"v{move.after.current}, then rerun with --reencrypted)"
                )
    return lines


def _reencryption_records(kinds: Mapping[str, str], moves: list[Move]) -> dict[str, int]:
    """`reencrypted: <new current>` for each encryption_key this edit finishes (--reencrypted)."""
    return {
        m.secret: m.after.current
        for m in moves
        if m.before.stage == "swapped" and kinds.get(m.secret) == "encryption_key"
    }


def plan_kinds(config: StackConfig, plan: Mapping[str, Any] | None) -> dict[str, str]:
    """Each secret's kind: as the stack file declares it, else as the program registered it
    (a program that declares its secrets in code)."""
    registered = {
        name: str(entry.get("kind") or "")
        for name, entry in ((plan or {}).get("secrets") or {}).items()
    }
    return {**registered, **{n: k for n, k in config.kinds.items() if k}}


def registered_position(plan: Mapping[str, Any], secret: str) -> Position | None:
    """Where the program placed `secret` in this plan (None: it registered no such secret)."""
    entry = (plan.get("secrets") or {}).get(secret)
    return position_from(entry) if isinstance(entry, Mapping) else None


def _fixed_in_code(moves: list[Move], config: StackConfig, plan: Mapping[str, Any]) -> list[str]:
    """Moves written to `rotation.<secret>` that the program did not follow: it fixes that
    secret's position in code."""
    lines = []
    for move in moves:
        if config.position_in_entry(move.secret):
            continue
        placed = registered_position(plan, move.secret)
        if placed is None or placed == move.after:
            continue
        lines.append(fixed_in_code(move.secret, move.before))
    return lines


def fixed_in_code(secret: str, held: Position) -> str:
    """The one-line refusal for a secret whose position the program fixes in code at `held`."""
    arguments = f"current={held.current}" + (
        f", next={held.next}, stage={held.stage!r}" if held.next is not None else ""
    )
    return (
        f"{ROTATION_KEY}.{secret}: the program fixes this secret's position in code "
        f"(VersionedSecret(..., {arguments})), so config cannot move it (remove "
        "current/next/stage from the VersionedSecret call to hand the position to config)"
    )


def _promotion_problems(
    config: StackConfig, standings: Mapping[str, Standing], now: datetime.datetime, load: Loader
) -> list[str]:
    """Refuse a move that the promotion rule refuses against its `promotion.after` stack's
    file: ahead of it, or (with `promotion.soak`) before that stack held the stage long enough."""
    after = config.promotion_after
    if not after:
        return []
    cycle = stack_cycle(config, load)
    if cycle:
        return [str(cycle_problem(config.stack, cycle))]
    other = load(after)
    if other is None:
        return []
    problems = promotion_problems(
        config.stack,
        after,
        standings,
        other.rotation_output(),
        soak=config.soak,
        now=now,
        key=config.position_key,
    )
    return [str(p) for p in problems]


def soak_applies(config: StackConfig) -> bool:
    """Whether moves of this stack record `reached`: it soaks (`promotion.soak`), or a stack
    that follows it does. Elsewhere nobody reads the record, and diffs stay small."""
    if config.soak:
        return True
    for path in sorted(config.path.parent.glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        if stack == config.stack:
            continue
        try:
            other = load_stack_config(stack, path)
        except StackFileError:
            continue
        if other.promotion_after == config.stack and other.soak:
            return True
    return False


def reached_after(
    before: Position,
    after: Position,
    record: Mapping[str, datetime.datetime],
    now: datetime.datetime,
) -> dict[str, datetime.datetime]:
    """The `reached` record once a secret moves from `before` to `after` at `now`: the
    record of the same rotation grows by the stage reached; a new rotation starts afresh."""
    same = before.next is not None and target_version(before) == target_version(after)
    return {**(record if same else {}), after.stage: now}


def apply_moves(
    config: StackConfig,
    moves: list[Move],
    *,
    reencrypted: bool = False,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    emergency: str | None = None,
    load: Loader | None = None,
    before: Mapping[str, Any] | None = None,
) -> Edit:
    """Check `moves`, edit the file text and plan both sides. Writes nothing.

    A secret whose position the file writes in its `secrets.<secret>` entry is edited there;
    any other in `rotation.<secret>`. Each move records when it reached its stage
    (`reached`, at `now`, where a soak reads it); a move that finishes a rotation records
    `since: <today>` there. `emergency`: the reason of an emergency rotation, recorded as
    `emergency: {reason, at}` (a routine move removes an old one). `load`: how other
    stacks' configs are read (default: their files; a change that edits several files
    passes the edited ones). `before`: the plan of `config`, when the caller has it."""
    load = load or directory_loader(config.path.parent)
    if before is None and any(not config.position_in_entry(m.secret) for m in moves):
        before = plan_config(config, load)  # kinds of secrets the program declares in code
    kinds = plan_kinds(config, before)
    now = now or datetime.datetime.now(datetime.UTC)
    today = today or now.date()
    timed = soak_applies(config)
    extra: dict[str, dict[str, Any]] = {}
    standings = dict(config.standings)
    for m in moves:
        held = standings.get(m.secret)
        reached = reached_after(m.before, m.after, held.reached if held else {}, now)
        standings[m.secret] = Standing(m.after, reached, emergency is not None)
        extra[m.secret] = {
            "emergency": {"reason": emergency, "at": moment_text(now)} if emergency else None,
        }
        if timed:
            extra[m.secret]["reached"] = {s: moment_text(at) for s, at in reached.items()}
    lines = _encryption_problems(kinds, moves, reencrypted)
    lines += _value_problems(config, moves)
    lines += _promotion_problems(config, standings, now, load)
    if lines:
        raise RotationRefused(lines)
    text, original = _source(config)
    try:
        finished = {
            m.secret: today
            for m in moves
            if m.after.stage == "steady" and m.after.current != m.before.current
        }
        records = _reencryption_records(kinds, moves)
        in_entry = {m.secret: m.after for m in moves if config.position_in_entry(m.secret)}
        in_rotation = {m.secret: m.after for m in moves if m.secret not in in_entry}
        new_text = text
        if in_entry:
            new_text = edit_positions(new_text, in_entry, records, finished, extra)
        if in_rotation:
            new_text = edit_rotation(new_text, in_rotation, records, finished, extra)
    except (YAMLError, RecursionError) as exc:  # the round trip of a file the loader read
        raise RotationRefused(
            [
                f"{NAMESPACE}:secrets: this editor cannot keep the file's layout, got "
                f"{exc.__class__.__name__} while editing it (edit the file by hand)"
            ]
        ) from None
    new_config = load_stack_config(config.stack, config.path, text=new_text, project=config.project)
    # Both plans run the real program: an invalid result is refused before anything is written.
    after = plan_config(new_config, load)
    fixed = _fixed_in_code(moves, config, after)
    if fixed:
        raise RotationRefused(fixed)
    diff = diff_plans(before if before is not None else plan_config(config, load), after)
    notes = []
    for m in moves:
        entry = config.secrets.get(m.secret)
        if m.after.stage == "steady" and entry is not None and entry.source == "config":
            key = config_key(value_key(m.secret, m.before.current))
            notes.append(
                f"{key} is no longer used once this is deployed: remove it then with "
                f"`pulumi config rm --stack {config.stack} {key}`"
            )
    return Edit(config.stack, config.path, moves, new_text, diff, notes, original)


def _source(config: StackConfig) -> tuple[str, bytes]:
    """(text, bytes) the config was loaded from: the edit starts from exactly those."""
    read = read_stack_file(config.path, config.raw)
    return read.text, read.raw


def rotate(
    stack: str,
    secret: str,
    root: Path,
    *,
    next_version: int | None = None,
    reencrypted: bool = False,
    config_file: Path | None = None,
) -> Edit:
    """Advance one secret of one stack by exactly one stage (see `Position.advance`).

    A secret the stack file does not declare is one the program declares in code: where it
    stands is what the program registers (its plan)."""
    config = load_stack_config(
        stack, config_file or stack_path(root, stack), project=project_at(root)
    )
    current = dict(config.positions)
    plan = None
    if secret not in config.secrets:
        plan = plan_config(config, directory_loader(config.path.parent))
        placed = registered_position(plan, secret)
        if placed is not None:
            current[secret] = placed
    if secret not in current:
        known = ", ".join(sorted(current)) or "none"
        key = f"{NAMESPACE}:secrets" if config.secrets else ROTATION_KEY
        raise RotationRefused(
            [
                f"{key}.{secret}: no such secret in stack {stack!r}, got "
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
        config,
        [Move(secret, before, before.advance(next_version))],
        reencrypted=reencrypted,
        before=plan,
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
    project = project_at(root)
    source_config = load_stack_config(source, stack_path(root, source), project=project)
    target_config = load_stack_config(target, stack_path(root, target), project=project)
    after = target_config.promotion_after
    if after != source:
        raise RotationRefused(
            [
                f"{NAMESPACE}:promotion.after: stack {target!r} follows {after!r}, got --from "
                f"{source!r} (promote from {after!r}, the stack it follows)"
                if after
                else f"{NAMESPACE}:promotion.after: stack {target!r} follows no stack, got --from "
                f"{source!r} (set promotion.after: {source} in "
                f"{project.stack_label(stack_file_name(target))})"
            ]
        )
    theirs, mine = _held(source_config)[0], _held(target_config)[0]
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
        text, original = _source(target_config)
        return Edit(target, target_config.path, [], text, {}, original=original)
    return apply_moves(target_config, moves, reencrypted=reencrypted)


# ---- writing safely ------------------------------------------------------------------------

LOCK_TIMEOUT_S = 120.0
"""How long a rotate/promote waits for another one editing the same stacks folder."""


@contextlib.contextmanager
def stack_lock(folder: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the edit lock of a stacks folder across a whole read-compute-write.

    An advisory `flock` on the folder itself: one rotate/promote edits a folder's stack
    files at a time, a second one waits its turn (then reads the first one's result), no
    lock file is left behind, a killed process releases it, and readers (plan, check,
    diff) never wait. Raises `RotationRefused` after `timeout` seconds of waiting.
    """
    timeout = LOCK_TIMEOUT_S if timeout is None else timeout
    try:
        fd = os.open(folder, os.O_RDONLY) if fcntl is not None else -1
    except OSError:
        fd = -1  # no such folder: loading the stack file reports it
    try:
        deadline = time.monotonic() + timeout
        while fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RotationRefused(
                        [
                            f"{folder}: another rotate or promote is editing these stack files, "
                            f"got no turn within {timeout:g} s (let it finish, then run this "
                            "again)"
                        ]
                    ) from None
                time.sleep(0.05)
            except OSError:
                break  # no flock on this filesystem: write_edit's check still refuses lost edits
        for leftover in sweep_leftovers(folder):
            sys.stderr.write(
                f"removed {leftover}: a temporary copy a killed write left behind (it held the "
                "whole file, secure: values included)\n"
            )
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock


LEFTOVER_PATTERNS = (".Pulumi.*.yaml.*.tmp", ".Pulumi.*.yml.*.tmp", ".secrets-store.yaml.*.tmp")
"""The temporary copies `write_edit` and migrate write beside a file before the rename."""


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary copies a killed write left in the stacks folder (and in the
    project folder above it, when it is one: migrate writes secrets-store.yaml there).
    Called with the edit lock held: every writer holds it, so none of them is a write still
    running."""
    places: list[tuple[Path, tuple[str, ...]]] = [(folder, LEFTOVER_PATTERNS)]
    parent = folder.parent
    if parent != folder and any((parent / n).is_file() for n in ("Pulumi.yaml", "Pulumi.yml")):
        places.append((parent, LEFTOVER_PATTERNS[-1:]))
    removed = []
    for where, patterns in places:
        for pattern in patterns:
            for path in where.glob(pattern):
                if path.is_file() and not path.is_symlink():
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed.append(path)
    return removed


def write_edit(edit: Edit) -> None:
    """Replace the stack file with `edit.text`, atomically, if it still holds `edit.original`.

    A temporary file in the same folder gets the new bytes, the file's mode (and owner,
    where permitted) and an fsync, then is renamed over the stack file: a reader or a
    crash sees the old file or the new one, never a mix. A symlinked stack file stays a
    symlink (its target is replaced). Raises `RotationRefused`, the file unchanged, when it
    changed since it was read or cannot be written.
    """
    target = Path(os.path.realpath(edit.path))
    data = edit.text.encode("utf-8")
    try:
        if edit.original is not None and target.read_bytes() != edit.original:
            raise RotationRefused(
                [
                    f"{edit.path}: changed while this command ran, got other content than it "
                    "read (nothing was written: run the command again on the new content)"
                ]
            )
        before = os.stat(target)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, stat.S_IMODE(before.st_mode))
                if (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
                    with contextlib.suppress(OSError):
                        os.fchown(fd, before.st_uid, before.st_gid)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise RotationRefused(
            [
                f"{edit.path}: could not write the edit, got {exc.__class__.__name__}"
                f"{f' ({exc.strerror})' if exc.strerror else ''} (the stack file is unchanged: "
                "fix that, then run this again)"
            ]
        ) from None
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- the emergency path ----------------------------------------------------------------------


def emergency_rotate(
    secret: str,
    root: Path,
    reason: str,
    *,
    stacks: Sequence[str] = (),
    reencrypted: bool = False,
    next_version: int | None = None,
    now: datetime.datetime | None = None,
) -> list[Edit]:
    """Move `secret` in every stack that declares it (or in `stacks`) to its kind's emergency
    position (`secrets_store.rotation.emergency_position`), each file recording
    `emergency: {reason, at}`. All edits are checked before any is returned: one refusal
    refuses them all. Writes nothing."""
    from secretsctl.schedule.due import promotion_order

    text = reason.strip()
    if not text or len(text) > MAX_REASON or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise RotationRefused(
            [
                f"--reason: must be one line of 1 to {MAX_REASON} characters, got "
                f"{shown(reason)} (say why in a few words, for example the incident ticket; "
                "never the key)"
            ]
        )
    project = project_at(root)
    configs = {
        s: load_stack_config(s, stack_path(root, s), project=project) for s in list_stacks(root)
    }
    unknown = [s for s in stacks if s not in configs]
    if unknown:
        raise RotationRefused(
            [
                f"--stack: no stack file for {s!r}, got {s!r} (stacks: {', '.join(configs)})"
                for s in unknown
            ]
        )
    chosen = [s for s in promotion_order(configs) if (not stacks or s in stacks)]
    # Where each stack holds the secret, and its kind: as the file writes them, else as the
    # program registers them (a secret declared in code with no rotation entry yet is steady
    # at 1 there, and a leaked key must move in that stack too).
    held: dict[str, tuple[Position, str]] = {}
    for stack in chosen:
        config = configs[stack]
        kind = config.kinds.get(secret) or ""
        if secret in config.positions and kind:
            held[stack] = (config.positions[secret], kind)
            continue
        positions, kinds = _held(config)
        if secret in positions:
            held[stack] = (positions[secret], kind or kinds.get(secret, ""))
    chosen = [s for s in chosen if s in held]
    if not chosen:
        raise RotationRefused(
            [
                f"{NAMESPACE}:secrets.{secret}: no such secret in any stack, got {secret!r} "
                "(name a declared secret)"
            ]
        )
    now = now or datetime.datetime.now(datetime.UTC)
    edits: list[Edit] = []
    lines: list[str] = []
    load = edited_loader(root, edits)  # a stack that follows is checked against the edit
    for stack in chosen:
        config = configs[stack]
        before, kind = held[stack]
        if next_version is not None and (before.next is not None or next_version <= before.current):
            lines.append(
                f"--next: starts a new version in a steady stack, got --next {next_version} while "
                f"{stack}'s {secret} is {before.describe()} (drop --next)"
            )
            continue
        after = emergency_position(before, kind, reencrypted=reencrypted, next_version=next_version)
        if after == before:
            text_now, original = _source(config)
            note = (
                f"{secret} is already at the emergency's position ({before.describe()}): "
                f"re-encrypt every value written with v{before.current}, then run this again "
                "with --reencrypted"
            )
            edits.append(Edit(stack, config.path, [], text_now, {}, [note], original))
            continue
        try:
            edits.append(
                apply_moves(
                    config,
                    [Move(secret, before, after)],
                    reencrypted=reencrypted,
                    now=now,
                    emergency=text,
                    load=load,
                )
            )
        except RotationRefused as exc:
            lines += exc.lines
    if lines:
        raise RotationRefused(lines)
    return edits


def _held(config: StackConfig) -> tuple[dict[str, Position], dict[str, str]]:
    """Each secret's position and kind: as the file writes them, and, for a secret the
    program declares in code (with no rotation entry yet: steady at 1), as the program
    registers them."""
    positions = dict(config.positions)
    try:
        plan = plan_config(config, directory_loader(config.path.parent))
    except (SpecError, InvalidInput):
        return positions, dict(config.kinds)
    for name in plan.get("secrets") or {}:
        placed = registered_position(plan, name)
        if name not in positions and placed is not None:
            positions[name] = placed
    return positions, plan_kinds(config, plan)


def edited_loader(root: Path, edits: Sequence[Edit]) -> Loader:
    """Stack configs as a change that edits several files leaves them: the edited text of
    each stack in `edits` (read when asked, so edits added later count), else its file."""
    files = directory_loader(stack_path(root, "x").parent)

    def load(stack: str) -> StackConfig | None:
        for edit in reversed(edits):
            if edit.stack == stack and edit.moves:
                return load_stack_config(stack, edit.path, text=edit.text)
        return files(stack)

    return load
