"""Reads the stack's `secrets-store:` config from the Pulumi runtime into a `StackSpec`.

Public Pulumi APIs only (`pulumi.Config`, and `pulumi.runtime`'s exported config
functions): the settings keys are known, and the value keys are those the settings name
(each secret's live versions, each worker's `secretText`). Keys nobody names are found in
the config the language host hands the program (`pulumi.runtime.get_config_env()`, the
`PULUMI_CONFIG` bag), so a misspelt key is still refused; a program given its config only
in-process (Automation API inline programs) reads the same settings, and refuses no
unknown key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pydantic import SecretStr

from secrets_store.errors import SpecError
from secrets_store.modules import bundle_problem, module_graph_problem
from secrets_store.schema_files import ref_target, schema_refs
from secrets_store.spec import (
    NAMESPACE,
    ConfigValue,
    SchemaFile,
    StackSpec,
    parse_stack,
    shown,
    value_key,
)
from secrets_store.topology import merged, read_topology, topology_path

STRUCTURED_KEYS = ("store", "promotion", "secrets", "workers", "rotation")
PLAIN_KEYS = ("accountId", "namePrefix")
# Set only by secretsctl's offline runs: secret keys of the stack file it could not decrypt,
# and that the run is a plan (placeholders are shown, not refused).
OFFLINE_NAMESPACE = "secretsctl"
OPAQUE_KEYS = f"{OFFLINE_NAMESPACE}:opaqueKeys"
OFFLINE_KEY = f"{OFFLINE_NAMESPACE}:offline"
# Set only by secretsctl's offline runs: the topology of the stack file's project as JSON
# ("": none), which may not be the file next to the program it runs (a scratch copy of a
# stack) nor the one on disk (a stack file as of a base git ref, with the base's topology).
TOPOLOGY_KEY = f"{OFFLINE_NAMESPACE}:topology"


class PlaceholderError(SpecError, pulumi.RunError):
    """Example ids still in the stack file. A RunError: Pulumi shows no traceback."""


def read_stack_spec(root: Path, stack: str | None = None) -> StackSpec:
    """The validated spec of the running stack. Raises `SpecError` before any resource exists."""
    config = pulumi.Config(NAMESPACE)
    offline = pulumi.Config(OFFLINE_NAMESPACE)
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env())
    opaque = set(json.loads(offline.get("opaqueKeys") or "[]"))

    def is_secret(key: str) -> bool:
        full = f"{NAMESPACE}:{key}"
        return full in secret_keys or pulumi.runtime.is_config_secret(full)

    structured: dict[str, Any] = {}
    for key in (*PLAIN_KEYS, *STRUCTURED_KEYS):
        text = config.get(key)
        if text is None:
            continue
        if is_secret(key):
            structured[key] = SecretStr(text)  # refused by parse_stack without being shown
        else:
            structured[key] = text if key in PLAIN_KEYS else _decode(text)
    given = offline.get("topology")
    if given is None:  # `pulumi up`: the project's own file, beside the program
        topology = read_topology(topology_path(root))
        shared = topology.data if topology is not None else None
    else:  # secretsctl: the data of the stack's project's file, as of the ref it plans
        shared = json.loads(given) if given else None
    if shared is not None:
        # Shared declarations under the stack's own (`secrets-store.yaml`, README).
        structured = merged(shared, structured)
    values: dict[str, ConfigValue] = {}
    for key in sorted(_named_value_keys(structured) | _handed_keys()):
        text = config.get(key)
        if text is None or key in (*PLAIN_KEYS, *STRUCTURED_KEYS):
            continue
        full = f"{NAMESPACE}:{key}"
        values[key] = ConfigValue(
            value=None if full in opaque else SecretStr(text), secure=is_secret(key)
        )
    spec = parse_stack(
        stack or pulumi.get_stack(),
        structured,
        values,
        module_check=lambda module, bundle: (
            bundle_problem(root, bundle, module) if bundle else module_graph_problem(root, module)
        ),
        load_schema=lambda path: load_schema_file(root, path),
    )
    if spec.placeholders and offline.get("offline") != "true":
        # Before any resource: a placeholder account or store id would fail halfway through.
        raise PlaceholderError(spec.placeholders)
    return spec


MAX_SCHEMA_BYTES = 1024 * 1024


def load_schema_file(root: Path, schema: str) -> SchemaFile:
    """The JSON Schema file `schema` names, a path inside the project `root` (after
    following symlinks), with the sibling files its references name (each checked the
    same way; `secrets_store.schema_files`); or the one-line reason it cannot be used."""
    project = root.resolve()
    loaded = _read_schema(project, project, schema)
    if loaded.problem or loaded.schema is None:
        return loaded
    resources: dict[str, Any] = {}
    pending = [(schema, loaded.schema)]
    while pending:
        name, data = pending.pop()
        folder = (project / name).resolve().parent
        for ref in schema_refs(data):
            target = ref_target(ref)
            if target is None:
                return SchemaFile(
                    problem=f"{shown(name)}: $ref {shown(ref)} reaches outside the schema (only "
                    "a fragment of it, #/..., or a schema file beside it inside the project: "
                    "no network, no file elsewhere)"
                )
            if not target or target in resources:
                continue
            sibling = _read_schema(project, folder, target, referenced_by=name)
            if sibling.problem or sibling.schema is None:
                return sibling
            resources[target] = sibling.schema
            pending.append(((folder / target).relative_to(project).as_posix(), sibling.schema))
    return SchemaFile(schema=loaded.schema, resources=resources)


def _read_schema(
    project: Path, folder: Path, schema: str, referenced_by: str | None = None
) -> SchemaFile:
    """One schema file, `schema` relative to `folder`, inside `project` once resolved."""
    fix = "(a path relative to the project root, for example schemas/db.schema.json)"
    if referenced_by is not None:
        schema_label = f"{shown(schema)} (referenced by {shown(referenced_by)})"
    else:
        schema_label = shown(schema)
    try:
        path = (folder / schema).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte
        return SchemaFile(problem=f"file not found, got {schema_label} {fix}")
    if not path.is_relative_to(project):
        return SchemaFile(
            problem=f"must stay inside the project, got {schema_label}, which resolves outside "
            f"it {fix}"
        )
    try:
        if not path.is_file() or path.stat().st_size > MAX_SCHEMA_BYTES:
            return SchemaFile(
                problem=f"is not a JSON Schema file of at most {MAX_SCHEMA_BYTES:,} bytes, got "
                f"{schema_label} {fix}"
            )
        schema_data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, RecursionError):
        return SchemaFile(problem=f"cannot be read, got {schema_label} {fix}")
    except json.JSONDecodeError as exc:
        return SchemaFile(
            problem=f"is not valid JSON, got an error at line {exc.lineno} column {exc.colno} "
            f"of {schema_label} (fix the schema file)"
        )
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema_data).check_schema(schema_data)
    except exceptions.SchemaError as exc:
        return SchemaFile(
            problem=f"is not a valid JSON Schema, got {schema_label} failing its metaschema's "
            f"{shown(str(exc.validator))} rule (fix the schema file)"
        )
    except (AttributeError, TypeError):  # a schema that is not an object or boolean
        return SchemaFile(
            problem=f"is not a valid JSON Schema, got {type(schema_data).__name__} in "
            f"{schema_label} (a schema is a JSON object)"
        )
    return SchemaFile(schema=schema_data)


def _named_value_keys(structured: Mapping[str, Any]) -> set[str]:
    """Value keys the settings name: each secret's live versions, each worker's secretText
    (from the raw settings: parse_stack reports what is wrong with them)."""
    keys: set[str] = set()
    secrets = structured.get("secrets")
    rotation = structured.get("rotation")
    rotation = rotation if isinstance(rotation, Mapping) else {}
    for name, secret in secrets.items() if isinstance(secrets, Mapping) else ():
        if not isinstance(secret, Mapping):
            continue
        position = rotation.get(name)
        if isinstance(position, Mapping):
            secret = {**secret, **position}  # the position's home in the new form
        for field in ("current", "next"):
            version = secret.get(field, 1 if field == "current" else None)
            if isinstance(version, int) and not isinstance(version, bool):
                keys.add(value_key(str(name), version))
    workers = structured.get("workers")
    for worker in workers.values() if isinstance(workers, Mapping) else ():
        texts = worker.get("secretText") if isinstance(worker, Mapping) else None
        if isinstance(texts, Mapping):
            keys |= {str(k) for k in texts.values() if isinstance(k, str)}
    return keys


def _handed_keys() -> set[str]:
    """Every `secrets-store:` key of the config bag the language host hands the program."""
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :] for k in pulumi.runtime.get_config_env() if k.startswith(prefix)}


def _decode(text: Any) -> Any:
    # Pulumi passes structured config as JSON text.
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text
