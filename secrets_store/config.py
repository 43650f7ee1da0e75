"""Reads the stack's `secrets-store:` config from the Pulumi runtime into a `StackSpec`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import SecretStr

from secrets_store import sdk_internals
from secrets_store.errors import SpecError
from secrets_store.modules import module_graph_problem
from secrets_store.spec import NAMESPACE, ConfigValue, StackSpec, parse_stack

STRUCTURED_KEYS = ("store", "promotion", "secrets", "workers")
PLAIN_KEYS = ("accountId", "namePrefix")
# Set only by secretsctl's offline runs: secret keys of the stack file it could not decrypt,
# and that the run is a plan (placeholders are shown, not refused).
OPAQUE_KEYS = "secretsctl:opaqueKeys"
OFFLINE_KEY = "secretsctl:offline"


class PlaceholderError(SpecError, pulumi.RunError):
    """Example ids still in the stack file. A RunError: Pulumi shows no traceback."""


def read_stack_spec(root: Path, stack: str | None = None) -> StackSpec:
    """The validated spec of the running stack. Raises `SpecError` before any resource exists."""
    raw = _namespace_config()
    secret_keys = sdk_internals.secret_config_keys()
    opaque = set(json.loads(runtime_config.get_config(OPAQUE_KEYS) or "[]"))
    structured: dict[str, Any] = {}
    values: dict[str, ConfigValue] = {}
    for key, text in raw.items():
        full = f"{NAMESPACE}:{key}"
        secret = full in secret_keys or runtime_config.is_config_secret(full)
        if key in (*PLAIN_KEYS, *STRUCTURED_KEYS) and secret:
            structured[key] = SecretStr(text)  # refused by parse_stack without being shown
        elif key in PLAIN_KEYS:
            structured[key] = text
        elif key in STRUCTURED_KEYS:
            structured[key] = _decode(text)
        else:
            values[key] = ConfigValue(
                value=None if full in opaque else SecretStr(text), secure=secret
            )
    spec = parse_stack(
        stack or pulumi.get_stack(),
        structured,
        values,
        module_check=lambda path: module_graph_problem(root, path),
    )
    if spec.placeholders and runtime_config.get_config(OFFLINE_KEY) != "true":
        # Before any resource: a placeholder account or store id would fail halfway through.
        raise PlaceholderError(spec.placeholders)
    return spec


def _namespace_config() -> dict[str, str]:
    """Every `secrets-store:` key the runtime was given, without the namespace."""
    merged = sdk_internals.all_config()
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}


def _decode(text: Any) -> Any:
    # Pulumi passes structured config as JSON text.
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text
