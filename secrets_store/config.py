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
from secrets_store.spec import (
    NAMESPACE,
    ConfigValue,
    SchemaFile,
    StackSpec,
    parse_stack,
    shown,
)
from secrets_store.topology import merged, read_topology, topology_path

STRUCTURED_KEYS = ("store", "promotion", "secrets", "workers", "rotation")
PLAIN_KEYS = ("accountId", "namePrefix")
# Set only by secretsctl's offline runs: secret keys of the stack file it could not decrypt,
# and that the run is a plan (placeholders are shown, not refused).
OPAQUE_KEYS = "secretsctl:opaqueKeys"
OFFLINE_KEY = "secretsctl:offline"
# Set only by secretsctl's offline runs: the topology file of the stack file's project ("":
# none), which may not be the one next to the program it runs (a scratch copy of a stack).
TOPOLOGY_KEY = "secretsctl:topologyFile"


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
    given = runtime_config.get_config(TOPOLOGY_KEY)
    if given is None:
        topology = read_topology(topology_path(root))
    else:
        topology = read_topology(Path(given)) if given else None
    if topology is not None:
        # Shared declarations under the stack's own (`secrets-store.yaml`, README).
        structured = merged(topology.data, structured)
    spec = parse_stack(
        stack or pulumi.get_stack(),
        structured,
        values,
        module_exists=lambda path: (root / path).is_file(),
        load_schema=lambda path: load_schema_file(root, path),
    )
    if spec.placeholders and runtime_config.get_config(OFFLINE_KEY) != "true":
        # Before any resource: a placeholder account or store id would fail halfway through.
        raise PlaceholderError(spec.placeholders)
    return spec


MAX_SCHEMA_BYTES = 1024 * 1024


def load_schema_file(root: Path, schema: str) -> SchemaFile:
    """The JSON Schema file `schema` names, a path inside the project `root` (after
    following symlinks); or the one-line reason it cannot be used."""
    fix = "(a path relative to the project root, for example schemas/db.schema.json)"
    project = root.resolve()
    try:
        path = (project / schema).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte
        return SchemaFile(problem=f"file not found, got {shown(schema)} {fix}")
    if not path.is_relative_to(project):
        return SchemaFile(
            problem=f"must stay inside the project, got {shown(schema)}, which resolves outside "
            f"it {fix}"
        )
    try:
        if not path.is_file() or path.stat().st_size > MAX_SCHEMA_BYTES:
            return SchemaFile(
                problem=f"is not a JSON Schema file of at most {MAX_SCHEMA_BYTES:,} bytes, got "
                f"{shown(schema)} {fix}"
            )
        schema_data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, RecursionError):
        return SchemaFile(problem=f"cannot be read, got {shown(schema)} {fix}")
    except json.JSONDecodeError as exc:
        return SchemaFile(
            problem=f"is not valid JSON, got an error at line {exc.lineno} column {exc.colno} "
            f"of {shown(schema)} (fix the schema file)"
        )
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema_data).check_schema(schema_data)
    except exceptions.SchemaError as exc:
        return SchemaFile(
            problem=f"is not a valid JSON Schema, got {shown(schema)} failing its metaschema's "
            f"{shown(str(exc.validator))} rule (fix the schema file)"
        )
    except (AttributeError, TypeError):  # a schema that is not an object or boolean
        return SchemaFile(
            problem=f"is not a valid JSON Schema, got {type(schema_data).__name__} in "
            f"{shown(schema)} (a schema is a JSON object)"
        )
    return SchemaFile(schema=schema_data)


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
