"""Stack files (`stacks/Pulumi.<stack>.yaml`): read once into one typed model.

`StackConfig` holds the config the way the Pulumi runtime sees it (full keys,
values as strings, which keys are `secure:`) and, decoded once, what every tool
reads from it: account, prefix, promotion order and each secret's kind, source
and rotation position. Full validation is `secrets_store.spec.parse_stack`'s job
(the program runs it); this model is lenient so that tools can still describe a
file that the program would refuse.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from secrets_store.rotation import Position, position_from
from secrets_store.spec import NAMESPACE, value_key
from secretsctl.errors import InvalidInput

# This checkout: the example project, and the rehearsal's Node driver and workers.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = "Pulumi.yaml"
STACKS_DIR = "stacks"


class StackFileError(InvalidInput):
    """A stack file that cannot be read: missing or not YAML."""


def project_root(start: Path | None = None) -> Path:
    """The Pulumi project to work on: the nearest folder holding Pulumi.yaml, from `start` up.

    `start` defaults to the working directory. Raises `StackFileError` naming the fix.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise StackFileError(
        f"{here}: not inside a Pulumi project, got no {PROJECT_FILE} here or in any folder "
        "above (cd into your project, or pass --root PATH or --config-file PATH)"
    )


def stack_path(root: Path, stack: str) -> Path:
    """The one place a stack file's path is built: `<root>/stacks/Pulumi.<stack>.yaml`."""
    return root / STACKS_DIR / stack_file_name(stack)


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def stack_of(file_name: str) -> str | None:
    """The stack a file name belongs to (`Pulumi.dev.yaml` -> `dev`), or None."""
    if file_name.startswith("Pulumi.") and file_name.endswith(".yaml"):
        return file_name[len("Pulumi.") : -len(".yaml")] or None
    return None


def list_stacks(root: Path) -> list[str]:
    """Stack names that have a file in `<root>/stacks`, sorted."""
    names = (stack_of(p.name) for p in (root / STACKS_DIR).glob("Pulumi.*.yaml"))
    return sorted(n for n in names if n)


def config_key(key: str) -> str:
    """`key` qualified with the project namespace, as the runtime names it."""
    return key if ":" in key else f"{NAMESPACE}:{key}"


@dataclass(frozen=True)
class SecretEntry:
    """One declared secret as the file writes it (defaults applied, not validated)."""

    kind: str
    source: str
    position: Position | None
    """None: the file's current/next/stage do not form a position (the program refuses it)."""


@dataclass(frozen=True)
class StackConfig:
    """One stack's config in the runtime's shape, plus its decoded settings."""

    stack: str
    path: Path
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    """Keys stored as `secure:` (Pulumi secrets)."""
    opaque_keys: list[str] = field(default_factory=list)
    """Secure keys whose ciphertext cannot be decrypted here: present, never shown."""

    # ---- decoded once -------------------------------------------------------------------

    @functools.cached_property
    def namespace(self) -> Mapping[str, Any]:
        """The structured, non-secret `secrets-store:` keys, parsed from their JSON text."""
        out: dict[str, Any] = {}
        prefix = f"{NAMESPACE}:"
        for key, text in self.config.items():
            if key.startswith(prefix) and key not in self.secret_keys:
                try:
                    out[key[len(prefix) :]] = json.loads(text)
                except json.JSONDecodeError:
                    out[key[len(prefix) :]] = text
        return out

    @functools.cached_property
    def account_id(self) -> str | None:
        value = self.namespace.get("accountId")
        return value if isinstance(value, str) else None

    @functools.cached_property
    def name_prefix(self) -> str:
        value = self.namespace.get("namePrefix")
        return value if isinstance(value, str) else ""

    @functools.cached_property
    def promotion_after(self) -> str | None:
        """The stack this one may never be ahead of (`promotion.after`), or None."""
        after = self._promotion.get("after")
        return after if isinstance(after, str) and after else None

    @functools.cached_property
    def stack_reference(self) -> str | None:
        """`promotion.stackReference` when set."""
        configured = self._promotion.get("stackReference")
        return configured if isinstance(configured, str) and configured else None

    @functools.cached_property
    def secrets(self) -> Mapping[str, SecretEntry]:
        """Every declared secret, in file order."""
        raw = self.namespace.get("secrets")
        out: dict[str, SecretEntry] = {}
        for name, entry in (raw if isinstance(raw, Mapping) else {}).items():
            entry = entry if isinstance(entry, Mapping) else {}
            out[str(name)] = SecretEntry(
                kind=str(entry.get("kind") or ""),
                source=str(entry.get("source") or "config"),
                position=position_from(entry),
            )
        return out

    @functools.cached_property
    def positions(self) -> Mapping[str, Position]:
        """Each secret's rotation position as written; unusable ones left out."""
        return {n: s.position for n, s in self.secrets.items() if s.position is not None}

    @functools.cached_property
    def kinds(self) -> Mapping[str, str]:
        return {n: s.kind for n, s in self.secrets.items()}

    @property
    def _promotion(self) -> Mapping[str, Any]:
        promotion = self.namespace.get("promotion")
        return promotion if isinstance(promotion, Mapping) else {}

    # ---- questions tools ask -------------------------------------------------------------

    def has_value(self, secret: str, version: int) -> bool:
        """True when the file holds a value key for this version (decryptable or not)."""
        return config_key(value_key(secret, version)) in self.config

    def sibling(self, stack: str) -> Path:
        """The path of another stack's file next to this one."""
        return self.path.parent / stack_file_name(stack)

    def rotation_output(self) -> dict[str, dict[str, Any]]:
        """The `rotation` stack output this file would deploy (positions only)."""
        return {
            name: {"current": p.current, "next": p.next, "stage": p.stage}
            for name, p in self.positions.items()
        }


def load_stack_config(stack: str, path: Path, text: str | None = None) -> StackConfig:
    """Read a stack file (or its `text`, for example from a base git ref)."""
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
        # Pulumi qualifies bare keys with the project name.
        key = config_key(str(key))
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(key)
            opaque.append(key)
            config[key] = ""
        elif isinstance(value, str):
            config[key] = value
        else:
            # default=str: an unquoted date (`compatibilityDate: 2025-11-01`) is YAML's date.
            config[key] = json.dumps(value, default=str)
    return StackConfig(stack, path, config, secret_keys, opaque)


def read_stack(
    stack: str, config_file: Path | None = None, root: Path | None = None
) -> StackConfig:
    """A stack's config from `config_file`, else from `<project>/stacks/Pulumi.<stack>.yaml`."""
    return load_stack_config(stack, config_file or stack_path(root or project_root(), stack))
