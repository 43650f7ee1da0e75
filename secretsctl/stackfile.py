"""Stack files (`stacks/Pulumi.<stack>.yaml`) as the Pulumi runtime would see them offline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from components.rotation import Position, position_from
from components.spec import NAMESPACE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_ROOT / "stacks"


class StackFileError(ValueError):
    """A stack file that cannot be read: missing or not YAML."""


@dataclass(frozen=True)
class StackConfig:
    """One stack's config in the runtime's shape: full keys, values as strings."""

    stack: str
    path: Path
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    """Keys stored as `secure:` (Pulumi secrets)."""
    opaque_keys: list[str] = field(default_factory=list)
    """Secure keys whose ciphertext cannot be decrypted here: present, never shown."""

    def namespace(self) -> dict[str, Any]:
        """The structured `secrets-store:` keys, parsed (for tools that read positions)."""
        out: dict[str, Any] = {}
        prefix = f"{NAMESPACE}:"
        for key, text in self.config.items():
            if key.startswith(prefix) and key not in self.secret_keys:
                try:
                    out[key[len(prefix) :]] = json.loads(text)
                except json.JSONDecodeError:
                    out[key[len(prefix) :]] = text
        return out

    def positions(self) -> dict[str, Position]:
        """Each secret's rotation position as written (defaults applied); unusable ones left out."""
        secrets = self.namespace().get("secrets")
        out = {}
        for name, entry in (secrets if isinstance(secrets, dict) else {}).items():
            position = position_from(entry) if isinstance(entry, dict) else None
            if position is not None:
                out[name] = position
        return out


def stack_path(stack: str, root: Path = PROJECT_ROOT) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def list_stacks(root: Path = PROJECT_ROOT) -> list[str]:
    """Stack names that have a file in stacks/, sorted."""
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml")
    )


def load_stack_config(stack: str, path: Path | None = None, text: str | None = None) -> StackConfig:
    """Read a stack file (or its `text`, for example from a base git ref)."""
    path = path or stack_path(stack)
    if text is None:
        if not path.is_file():
            raise StackFileError(f"{path}: no such stack file (create it, or pass --config-file)")
        text = path.read_text()
    try:
        document = YAML(typ="safe").load(text) or {}
    except Exception as exc:  # ruamel raises several types; report them all the same way
        raise StackFileError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: `config` must be a mapping, got {type(raw).__name__}")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    opaque: list[str] = []
    for key, value in raw.items():
        key = str(key)
        if ":" not in key:
            # Pulumi qualifies bare keys with the project name.
            key = f"{NAMESPACE}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(key)
            opaque.append(key)
            config[key] = ""
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(value)
    return StackConfig(stack, path, config, secret_keys, opaque)
