"""`secretsctl migrate`: today's stack files rewritten into the topology-once form.

What every stack declares alike goes to `secrets-store.yaml` (next to `Pulumi.yaml`);
what differs stays in each stack file as an explicit override; rotation positions
(current, next, stage, since) move to `secrets-store:rotation`. Lossless: each stack's
effective config (topology under its own keys) is the same before and after, so its plan
is too. Comments and `secure:` values are kept (a ruamel.yaml round trip), and a second
run changes nothing.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from secrets_store.spec import NAMESPACE, POSITION_FIELDS
from secrets_store.topology import (
    TOPOLOGY_FILE,
    TOPOLOGY_KEYS,
    deep_merge,
    read_topology,
    topology_path,
)
from secretsctl.errors import InvalidInput
from secretsctl.offline.stackfile import (
    list_stacks,
    load_stack_config,
    read_stack_file,
    stack_path,
)
from secretsctl.workflow.rotate import Edit, _keep_anchors, _yaml, stack_lock, write_edit

PER_STACK_FIELDS = ("importIds", "reencrypted")
"""Secret settings that are facts of one stack's account, never shared."""
ROTATION_KEY = f"{NAMESPACE}:rotation"


class MigrationRefused(InvalidInput):
    """Stacks `migrate` cannot rewrite without changing what they mean."""


@dataclass(frozen=True)
class Rewrite:
    path: Path
    before: str | None
    """The file's text now (None: a new file)."""
    after: str
    original: bytes | None = None

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=str(self.path) if self.before is not None else "/dev/null",
                tofile=str(self.path),
            )
        )


def _plain(value: Any) -> Any:
    """JSON-ready data of a round-trip node, as Pulumi passes structured config."""
    return json.loads(json.dumps(value, default=str))


def _refuse_shapes(path: str, values: list[tuple[str, Any]]) -> None:
    """Refuse a key that is a mapping in one stack and not in another."""
    mappings = [f for f, v in values if isinstance(v, Mapping)]
    others = [f for f, v in values if not isinstance(v, Mapping)]
    if mappings and others:
        raise MigrationRefused(
            [
                f"{others[0]}: {NAMESPACE}:{path}: is not a mapping here but a mapping in "
                f"{mappings[0]}, got different shapes (write it the same way in every stack, "
                "for example the short binding `api_key` as `{secret: api_key}`, then run "
                "migrate again)"
            ]
        )


def common(path: str, values: list[tuple[str, Any]]) -> tuple[bool, Any]:
    """What every stack's value at `path` shares: (True, shared) or (False, None).

    `values`: (file, value) of each stack that has the key. A mapping shares the keys every
    stack has (recursively); anything else is shared only when equal everywhere."""
    _refuse_shapes(path, values)
    if not isinstance(values[0][1], Mapping):
        first = values[0][1]
        return (True, first) if all(v == first for _, v in values) else (False, None)
    keys = list(dict.fromkeys(k for _, v in values for k in v))
    shared: dict[str, Any] = {}
    for key in keys:
        present = [(f, v[key]) for f, v in values if key in v]
        if len(present) < len(values):
            if len(present) > 1:
                common(f"{path}.{key}", present)  # not shared, but shapes are still checked
            continue
        found, value = common(f"{path}.{key}", present)
        if found and value != {}:  # an empty mapping shares nothing: each stack keeps its own
            shared[key] = value
    return True, shared


def difference(effective: Any, shared: Any) -> Any:
    """What a stack must state on top of `shared` to mean `effective` (None: nothing)."""
    if isinstance(effective, Mapping) and isinstance(shared, Mapping):
        out = {}
        for key, value in effective.items():
            if key not in shared:
                out[key] = value
                continue
            rest = difference(value, shared[key])
            if rest is not None:
                out[key] = rest
        return out or None
    return None if effective == shared else effective


def reconcile(node: CommentedMap, target: Mapping[str, Any]) -> bool:
    """Make `node` hold `target` in place, keeping its comments and the nodes that already
    hold the right value; True when anything changed."""
    changed = False
    for key in [k for k in node if str(k) not in target]:
        del node[key]
        changed = True
    for key, value in target.items():
        if key in node:
            current = node[key]
            if _plain(current) == value:
                continue
            if isinstance(current, CommentedMap) and isinstance(value, Mapping):
                changed |= reconcile(current, value)
                continue
        node[key] = copy.deepcopy(value)
        changed = True
    return changed


def _section_key(config: Mapping[Any, Any], section: str) -> str | None:
    for key in (f"{NAMESPACE}:{section}", section):
        if key in config:
            return key
    return None


def _without(entries: Any, fields: tuple[str, ...]) -> Any:
    """Secret entries with `fields` left out."""
    if not isinstance(entries, Mapping):
        return entries
    return {
        name: {k: v for k, v in e.items() if k not in fields} if isinstance(e, Mapping) else e
        for name, e in entries.items()
    }


def plan_migration(root: Path) -> list[Rewrite]:
    """Every file `migrate` would write for the project at `root` (empty: nothing to do).

    Raises `MigrationRefused` naming the keys it cannot express."""
    stacks = list_stacks(root)
    if not stacks:
        raise MigrationRefused(
            [f"{root}: no stack files to migrate, got none (run migrate in a Pulumi project)"]
        )
    topology_file = topology_path(root)
    old = read_topology(topology_file)
    shared_before = dict(old.data) if old else {}
    documents: dict[str, tuple[Path, str, bytes, Any]] = {}
    effective: dict[str, dict[str, Any]] = {}
    positions: dict[str, dict[str, CommentedMap]] = {}
    for stack in stacks:
        path = stack_path(root, stack)
        read = read_stack_file(path)
        text, raw = read.text, read.raw
        config = load_stack_config(stack, path, raw)
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        withheld = [
            k for k in (*TOPOLOGY_KEYS, "rotation") if f"{NAMESPACE}:{k}" in config.secret_keys
        ]
        if withheld:
            raise MigrationRefused(
                [
                    f"{name}: {NAMESPACE}:{withheld[0]}: is stored as a secret, got a secure "
                    "value (store it as plain config first, then run migrate again)"
                ]
            )
        lines = text.removeprefix("\ufeff").splitlines(keepends=True)
        yaml = _yaml(lines)
        document = yaml.load(text.removeprefix("\ufeff"))
        documents[stack] = (path, text, raw, document)
        own = config.own_namespace
        effective[stack] = {
            k: deep_merge(shared_before.get(k), own[k]) if k in own else shared_before.get(k)
            for k in TOPOLOGY_KEYS
            if k in own or k in shared_before
        }
        positions[stack] = _positions(name, document, own)
    names = {
        s: str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
        for s, p in ((s, documents[s][0]) for s in stacks)
    }
    shared: dict[str, Any] = {}
    for section in TOPOLOGY_KEYS:
        values = [
            (names[s], _without(effective[s][section], (*POSITION_FIELDS, *PER_STACK_FIELDS)))
            for s in stacks
            if section in effective[s]
        ]
        if len(values) == len(stacks):
            found, value = common(section, values)
            if found and value:
                shared[section] = value
        elif len(values) > 1:
            common(section, values)  # shapes only: a section some stacks lack is theirs

    rewrites: list[Rewrite] = []
    if shared != shared_before:
        rewrites.append(_topology_rewrite(root, old, shared, documents[stacks[0]][3]))
    for stack in stacks:
        path, text, raw, document = documents[stack]
        config_map = document.get("config") if isinstance(document, Mapping) else None
        if not isinstance(config_map, CommentedMap):
            continue
        changed = False
        for section in TOPOLOGY_KEYS:
            own = _without(effective[stack].get(section), POSITION_FIELDS)
            rest = difference(own, shared.get(section)) if section in effective[stack] else None
            key = _section_key(config_map, section)
            if rest is None:
                if key is not None:
                    del config_map[key]
                    changed = True
            elif key is None:
                config_map[f"{NAMESPACE}:{section}"] = rest
                changed = True
            elif isinstance(config_map[key], CommentedMap):
                changed |= reconcile(config_map[key], rest)
            else:
                config_map[key] = rest
                changed = True
        wanted = positions[stack]
        key = _section_key(config_map, "rotation")
        if wanted and key is None:
            after = _section_key(config_map, "secrets")
            keys = list(config_map)
            at = keys.index(after) + 1 if after else len(keys)
            config_map.insert(at, ROTATION_KEY, CommentedMap(wanted))
            changed = True
        elif wanted and key is not None and isinstance(config_map[key], CommentedMap):
            changed |= reconcile(config_map[key], _plain(wanted))
        if changed:
            _keep_anchors(document)
            out = io.StringIO()
            _yaml(text.splitlines(keepends=True)).dump(document, out)
            bom = "\ufeff" if text.startswith("\ufeff") else ""
            rewrites.append(Rewrite(path, text, bom + out.getvalue(), raw))
    return rewrites


def _positions(name: str, document: Any, own: Mapping[str, Any]) -> dict[str, CommentedMap]:
    """Each secret's position as the file writes it (round-trip values: a date stays a
    date), from `rotation` and from inside `secrets`; refuses the two disagreeing."""
    config_map = document.get("config") if isinstance(document, Mapping) else None
    if not isinstance(config_map, Mapping):
        return {}
    out: dict[str, CommentedMap] = {}
    key = _section_key(config_map, "rotation")
    rotation = config_map.get(key) if key else None
    for secret, entry in rotation.items() if isinstance(rotation, Mapping) else []:
        out[str(secret)] = entry
    key = _section_key(config_map, "secrets")
    secrets = config_map.get(key) if key else None
    for secret, entry in secrets.items() if isinstance(secrets, Mapping) else []:
        if not isinstance(entry, Mapping):
            continue
        legacy = {f: entry[f] for f in POSITION_FIELDS if f in entry}
        if not legacy:
            continue
        written = out.setdefault(str(secret), CommentedMap())
        for field_name, value in legacy.items():
            if field_name in written and _plain(written[field_name]) != _plain(value):
                raise MigrationRefused(
                    [
                        f"{name}: {NAMESPACE}:rotation.{secret}.{field_name}: disagrees with "
                        f"secrets.{secret}.{field_name}, got two positions (keep the right one, "
                        "remove the other, then run migrate again)"
                    ]
                )
            written[field_name] = value
            notes = getattr(entry, "ca", None)
            comment = notes.items.get(field_name) if notes is not None else None
            if comment:  # `current: 1  # why` keeps its why
                written.ca.items[field_name] = copy.deepcopy(comment)
    return out


def _topology_rewrite(root: Path, old: Any, shared: dict[str, Any], first: Any) -> Rewrite:
    """The topology file holding `shared`: the existing file edited in place, or a new one
    that keeps the comments of the first stack file's declarations."""
    path = topology_path(root)
    yaml = _yaml()
    if old is not None:
        document = yaml.load(old.text) or CommentedMap()
        reconcile(document, shared)
        before: str | None = old.text
    else:
        document = CommentedMap()
        config_map = first.get("config") if isinstance(first, Mapping) else None
        for section, value in shared.items():
            key = (
                _section_key(config_map, section) if isinstance(config_map, CommentedMap) else None
            )
            node = copy.deepcopy(config_map[key]) if key and config_map is not None else None
            if isinstance(node, CommentedMap):
                reconcile(node, value)
                document[section] = node
            else:
                document[section] = value
        document.yaml_set_start_comment(
            "What every stack shares: secrets (kind, source, scopes, schema, policy) and\n"
            "workers (module, bindings, vars, services). A stack file's own\n"
            f"{NAMESPACE}:secrets / {NAMESPACE}:workers are merged on top (README:\n"
            '"Topology once"); rotation positions are per stack, in secrets-store:rotation.'
        )
        before = None
    out = io.StringIO()
    yaml.dump(document, out)
    return Rewrite(path, before, out.getvalue())


def apply(rewrites: list[Rewrite]) -> None:
    """Write each file atomically: the topology first (stacks that still state everything
    mean the same with it), then each stack file, refused if it changed since it was read."""
    for rewrite in rewrites:
        if rewrite.before is None:
            _create(rewrite.path, rewrite.after)
        else:
            write_edit(Edit("", rewrite.path, [], rewrite.after, {}, original=rewrite.original))


def _create(path: Path, text: str) -> None:
    """Create `path` with `text` atomically, never replacing a file that appeared since."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            raise MigrationRefused(
                [f"{path}: appeared while migrate ran, got a new file (run migrate again)"]
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def migrate(root: Path, *, dry_run: bool = False) -> list[Rewrite]:
    """Plan and (unless `dry_run`) write the migration, holding the stack files' lock."""
    folder = stack_path(root, "x").parent
    with stack_lock(folder):
        rewrites = plan_migration(root)
        if not dry_run:
            apply(rewrites)
    return rewrites


__all__ = ["TOPOLOGY_FILE", "MigrationRefused", "Rewrite", "migrate", "plan_migration"]
