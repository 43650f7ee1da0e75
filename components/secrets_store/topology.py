"""The project's topology, declared once: `secrets-store.yaml` next to `Pulumi.yaml`.

It holds what every stack shares, in exactly the shapes of the stack config keys
`secrets-store:secrets` and `secrets-store:workers`, minus rotation positions (per stack,
in `secrets-store:rotation`). A stack file's own `secrets` / `workers` are deep-merged on
top of it (mappings key by key; scalars and lists replace), so a stack adds or overrides
a piece explicitly and a legacy stack file that declares everything means what it meant.

Read by the Pulumi program (`secrets_store.config`) and by `secretsctl` (the stack file
model) alike, with the same hardened reader as stack files.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secrets_store.errors import Problem, SpecError
from secrets_store.spec import POSITION_FIELDS, ROTATION_ENTRY_FIELDS, shown
from secrets_store.yamlfile import YamlFileError, load_yaml

TOPOLOGY_FILE = "secrets-store.yaml"
TOPOLOGY_KEYS = ("secrets", "workers")
WHAT = "topology file"


class TopologyError(SpecError):
    """A `secrets-store.yaml` that cannot be used; each problem names the file and the key."""


@dataclass(frozen=True)
class Topology:
    """The shared declarations, as plain JSON-ready data."""

    path: Path
    data: Mapping[str, Any]
    text: str
    """The file's text as read (part of what an offline run depends on)."""


@dataclass(frozen=True)
class Override:
    """One place a stack's own config differs from the topology (`topology` None: added)."""

    key: str
    """`secrets.<name>.<field>...` or `workers.<name>...`, as under `secrets-store:`."""
    topology: Any
    stack: Any


def topology_path(project_root: Path) -> Path:
    return project_root / TOPOLOGY_FILE


def read_topology(path: Path) -> Topology | None:
    """The topology at `path`, or None when there is no such file.

    Raises `TopologyError` (one line per problem, naming the file and the key) for a file
    that cannot be read or does not have the topology's shape.
    """
    if not path.exists() and not path.is_symlink():
        return None
    return _loaded(path, None)


def parse_topology(path: Path, text: str | bytes) -> Topology:
    """The topology in `text` (or its bytes: a file at a git ref), as if read from `path`.
    Raises `TopologyError` as `read_topology` does."""
    return _loaded(path, text)


def _loaded(path: Path, given: str | bytes | None) -> Topology:
    try:
        read = load_yaml(path, given, WHAT, "create it, or remove the link")
    except YamlFileError as exc:
        raise TopologyError([Problem(str(path), str(exc).removeprefix(f"{path}: "))]) from None
    return Topology(path, _checked(path, read.data), read.text)


def _checked(path: Path, document: Any) -> dict[str, Any]:
    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problems.append(Problem(f"{path.name}: {key}" if key else path.name, message))

    if document is None:
        return {}
    if not isinstance(document, Mapping):
        add(
            "",
            f"the top level must be a mapping with secrets: and workers:, got "
            f"{type(document).__name__} (start the file with `secrets:`)",
        )
        raise TopologyError(problems)
    try:
        # JSON-ready, as Pulumi passes structured config: dates become their text.
        data = json.loads(json.dumps(document, default=str))
    except (TypeError, ValueError):
        add("", "holds a key that is not text, got a non-text key (quote every key)")
        raise TopologyError(problems) from None
    for key in data:
        if key not in TOPOLOGY_KEYS:
            add(
                key,
                f"unknown key, got {shown(key)} (the topology holds secrets: and workers:; "
                "per-stack settings belong in the stack file)",
            )
    for section in TOPOLOGY_KEYS:
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            add(section, f"must be a mapping of name to settings, got {type(entries).__name__}")
            continue
        for name, entry in entries.items():
            if not isinstance(entry, Mapping):
                add(
                    f"{section}.{name}",
                    f"must be a mapping of settings, got {type(entry).__name__} "
                    "(for example `kind: api_key`)",
                )
                continue
            if _holds_secure(entry):
                add(
                    f"{section}.{name}",
                    "holds a secure value, got a `secure:` entry (the topology is plain "
                    "config shared by every stack; secret values belong in the stack files)",
                )
            for field in POSITION_FIELDS if section == "secrets" else ():
                if field in entry:
                    add(
                        f"secrets.{name}.{field}",
                        f"is a rotation position, got it in the topology (positions are per "
                        f"stack: set secrets-store:rotation.{name}.{field} in each stack file)",
                    )
    if problems:
        raise TopologyError(problems)
    return {k: v for k, v in data.items() if v is not None}


def _holds_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "secure" in value or any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


def deep_merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge key by key (base's order first), anything
    else in `over` replaces. Neither argument is changed."""
    if not isinstance(base, Mapping) or not isinstance(over, Mapping):
        return copy.deepcopy(over)
    merged = {k: copy.deepcopy(v) for k, v in base.items()}
    for key, value in over.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def merged(topology: Mapping[str, Any] | None, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """A stack's `secrets-store:` settings with the topology under its secrets and workers."""
    out = dict(namespace)
    for key in TOPOLOGY_KEYS:
        if topology and key in topology:
            out[key] = (
                deep_merge(topology[key], namespace[key])
                if key in namespace
                else (copy.deepcopy(topology[key]))
            )
    return out


def overrides(topology: Mapping[str, Any] | None, namespace: Mapping[str, Any]) -> list[Override]:
    """Every piece a stack sets on top of the topology, at the deepest key where it differs
    (a piece the topology lacks is one addition). None without a topology."""
    if topology is None:
        return []
    found: list[Override] = []

    def walk(key: str, shared: Any, own: Any) -> None:
        if isinstance(shared, Mapping) and isinstance(own, Mapping):
            for name, value in own.items():
                walk(f"{key}.{name}", shared.get(name), value)
        elif shared != own:
            found.append(Override(key, shared, own))

    for section in TOPOLOGY_KEYS:
        if section in namespace:
            walk(section, topology.get(section, {}), namespace[section])
    return found


def has_positions(secrets: Any) -> list[str]:
    """Secrets whose rotation position is written inside `secrets:` (the legacy place)."""
    if not isinstance(secrets, Mapping):
        return []
    return [
        str(name)
        for name, entry in secrets.items()
        if isinstance(entry, Mapping) and any(f in entry for f in POSITION_FIELDS)
    ]


def lift_positions(secrets: Any, rotation: Any) -> tuple[Any, Any, list[str]]:
    """A stack's own `secrets` and `rotation` in today's form: each position written inside
    `secrets.<secret>` (the first release's place), with the records kept beside it, moved
    to `rotation.<secret>`. A secret positioned in both places stays as written: the program
    refuses that, naming both keys. Returns (secrets, rotation, the secrets moved); the
    arguments are never changed."""
    moved = [
        name
        for name in has_positions(secrets)
        if not (isinstance(rotation, Mapping) and name in rotation)
    ]
    if not moved or (rotation is not None and not isinstance(rotation, Mapping)):
        return secrets, rotation, []
    secrets = dict(secrets)
    rotation = dict(rotation or {})
    for name in moved:
        entry = dict(secrets[name])
        rotation[name] = {f: entry.pop(f) for f in ROTATION_ENTRY_FIELDS if f in entry}
        secrets[name] = entry
    return secrets, rotation, moved
