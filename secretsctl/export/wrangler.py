"""A worker's `wrangler.jsonc` at its stack's current rotation stage, from the offline plan.

The fields are wrangler's own (https://developers.cloudflare.com/workers/wrangler/configuration/):
`name`, `main` (from the project root: a bundle Worker's entry inside its bundle folder),
`compatibility_date`, `compatibility_flags`, `secrets_store_secrets` (`binding`, `store_id`,
`secret_name`), `kv_namespaces` (`binding`, `id`), `services` (`binding`, `service`), `vars`,
`durable_objects.bindings` (`name`, `class_name`, `script_name`), `d1_databases` (`binding`,
`database_id`) and `r2_buckets` (`binding`, `bucket_name`, `jurisdiction`). The bindings are
exactly those the plan registers: each Secrets Store binding points at the version the stage
binds, fallback bindings included.

Never a secret value: a legacy `secret_text` binding becomes a comment saying how to set it
(`wrangler secret put`, `.dev.vars`). A value that is not a real id (a store looked up by name
at deploy, a shipped `REPLACE_ME` placeholder) is kept, so that wrangler refuses it, and a
JSONC comment above it says how to get the real one.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secrets_store.rotation import position_from
from secrets_store.spec import NAMESPACE, is_placeholder
from secretsctl.errors import InvalidInput
from secretsctl.offline.mockrun import looked_up_store_id
from secretsctl.offline.plan import SCRIPT_TYPE
from secretsctl.offline.stackfile import StackConfig, shown

LOOKED_UP = re.compile(r"<(?P<name>.+): looked up at deploy>")
STORE_LIST = "`npx wrangler secrets-store store list --remote`"
KV_LIST = "`npx wrangler kv namespace list`"


class UnknownWorker(InvalidInput):
    """`--worker` names no worker of the stack."""


@dataclass
class WranglerConfig:
    """The wrangler.jsonc object (wrangler's field names, in its order) and its comments."""

    header: list[str]
    fields: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Comment lines printed above a field."""
    closing: list[str] = field(default_factory=list)
    """Comment lines printed at the end of the object."""
    stand_ins: list[str] = field(default_factory=list)
    """Values that are not real ids (flagged in the notes)."""


def declared_workers(config: StackConfig) -> list[str]:
    workers = config.namespace.get("workers")
    return sorted(str(w) for w in workers) if isinstance(workers, Mapping) else []


def unknown_worker(
    config: StackConfig, worker: str, planned: Mapping[str, Any] | None = None
) -> UnknownWorker:
    """`worker` is not one of the stack file's workers (or, `planned`, of the plan's)."""
    known = ", ".join(sorted(planned) if planned is not None else declared_workers(config))
    known = known or "none"
    return UnknownWorker(
        f"{NAMESPACE}:workers: no such worker in stack {config.stack!r}, got {shown(worker)} "
        f"(declared: {known}; pass one of them to --worker)"
    )


def wrangler_config(
    document: Mapping[str, Any], config: StackConfig, worker: str
) -> WranglerConfig:
    """The wrangler.jsonc of `worker`, from a plan `document` of the stack `config` describes."""
    planned = document.get("workers", {}).get(worker)
    declared = config.namespace.get("workers")
    # A program that declares its workers in code: the plan's script is all there is.
    settings = declared.get(worker) if isinstance(declared, Mapping) else {}
    if planned is None or not isinstance(settings, Mapping):
        raise unknown_worker(config, worker, document.get("workers", {}))
    script = _script(document, planned["script_name"])
    bindings: Mapping[str, Mapping[str, Any]] = planned["bindings"]
    exported = WranglerConfig(header=_header(document, config, worker, bindings), fields={})

    exported.fields["name"] = planned["script_name"]
    exported.fields["main"] = _main(settings, script, planned, config)
    exported.fields["compatibility_date"] = script.get("compatibilityDate")
    if script.get("compatibilityFlags"):
        exported.fields["compatibility_flags"] = list(script["compatibilityFlags"])

    by_type: dict[str, dict[str, Mapping[str, Any]]] = {}
    for binding, spec in bindings.items():
        by_type.setdefault(str(spec.get("type")), {})[binding] = spec

    stores = by_type.pop("secrets_store_secret", {})
    if stores:
        exported.fields["secrets_store_secrets"] = [
            {"binding": b, "store_id": s["store_id"], "secret_name": s["secret_name"]}
            for b, s in stores.items()
        ]
        for store_id in dict.fromkeys(str(s["store_id"]) for s in stores.values()):
            _flag_store(exported, store_id, document, config.stack)
    namespaces = by_type.pop("kv_namespace", {})
    if namespaces:
        exported.fields["kv_namespaces"] = [
            {"binding": b, "id": s["namespace_id"]} for b, s in namespaces.items()
        ]
        for binding, spec in namespaces.items():
            if is_placeholder(spec["namespace_id"]):
                exported.stand_ins.append(str(spec["namespace_id"]))
                exported.notes.setdefault("kv_namespaces", []).append(
                    f"id {json.dumps(spec['namespace_id'])} ({binding}) is a REPLACE_ME "
                    f"placeholder from the stack file, not a real id. Get it with {KV_LIST}, set "
                    f"it (`pulumi config set --path --stack {config.stack} "
                    f"'{NAMESPACE}:workers.{worker}.kv.{binding}' <KV namespace id>`) and export "
                    "again."
                )
    services = by_type.pop("service", {})
    if services:
        exported.fields["services"] = [
            {"binding": b, "service": s["service"]} for b, s in services.items()
        ]
    texts = by_type.pop("plain_text", {})
    if texts:
        exported.fields["vars"] = {b: s["text"] for b, s in texts.items()}
    objects = by_type.pop("durable_object_namespace", {})
    if objects:
        exported.fields["durable_objects"] = {
            "bindings": [
                {
                    "name": b,
                    "class_name": s["class_name"],
                    **({"script_name": s["script_name"]} if s.get("script_name") else {}),
                }
                for b, s in objects.items()
            ]
        }
    databases = by_type.pop("d1", {})
    if databases:
        exported.fields["d1_databases"] = [
            {"binding": b, "database_id": s["id"]} for b, s in databases.items()
        ]
    buckets = by_type.pop("r2_bucket", {})
    if buckets:
        exported.fields["r2_buckets"] = [
            {
                "binding": b,
                "bucket_name": s["bucket_name"],
                **({"jurisdiction": s["jurisdiction"]} if s.get("jurisdiction") else {}),
            }
            for b, s in buckets.items()
        ]

    legacy = by_type.pop("secret_text", {})
    if legacy:
        names = ", ".join(legacy)
        exported.closing += [
            f"Legacy Worker secret(s) (secret_text), never exported: {names}.",
            *(f"  deployed: `npx wrangler secret put {b}`" for b in legacy),
            f"  `wrangler dev`: one `NAME=value` line per secret in .dev.vars ({names}); "
            "keep .dev.vars out of git.",
        ]
    for kind, rest in by_type.items():
        exported.closing.append(
            f"Not exported: {', '.join(rest)} ({kind} binding; see wrangler's configuration docs)."
        )
    return exported


def _main(
    settings: Mapping[str, Any],
    script: Mapping[str, Any],
    planned: Mapping[str, Any],
    config: StackConfig,
) -> str:
    """`main` as a path from the project root (where the export is written): a module
    Worker's module, a bundle Worker's entry inside its bundle folder, or, for a Worker the
    program declares in code, its main module from the program's working directory."""
    module = settings.get("module")
    bundle = settings.get("bundle")
    if isinstance(module, str) and isinstance(bundle, str) and bundle:
        return posixpath.normpath(posixpath.join(bundle, module))
    if isinstance(module, str):
        return module
    in_code = planned.get("main_module_path")
    if isinstance(in_code, str):
        project = config.owner()
        where = os.path.relpath(project.working_dir / in_code, project.root)
        return Path(where).as_posix()
    return str(script.get("mainModule"))


def _script(document: Mapping[str, Any], script_name: str) -> Mapping[str, Any]:
    for resource in document.get("resources", []):
        if resource["type"] == SCRIPT_TYPE and resource["inputs"].get("scriptName") == script_name:
            return dict(resource["inputs"])
    return {}


def _header(
    document: Mapping[str, Any],
    config: StackConfig,
    worker: str,
    bindings: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    bound = {str(s.get("secret_name")) for s in bindings.values()}
    stages = []
    for secret, entry in document.get("secrets", {}).items():
        position = position_from(entry)
        if position is not None and bound & set(entry.get("cloudflare_names") or ()):
            stages.append(f"{secret} {position.describe()}")
    header = [
        f"wrangler.jsonc for worker `{worker}` of stack `{config.stack}`: the bindings `pulumi up` "
        "deploys at the stack's current rotation stage.",
        f"From `secretsctl export wrangler --stack {config.stack} --worker {worker}` (offline "
        "plan); `main` is relative to the Pulumi project root. No secret value is ever written.",
    ]
    if stages:
        header.append(f"Rotation: {'; '.join(stages)}. Export again after each stage.")
    return header


def _flag_store(
    exported: WranglerConfig, store_id: str, document: Mapping[str, Any], stack: str
) -> None:
    """Flag a store id that is not a real one, with how to get the real one."""
    placeholder_id = any(
        str(line).startswith(f"{NAMESPACE}:store.id:") for line in document.get("placeholders", [])
    )
    looked_up = LOOKED_UP.fullmatch(store_id)
    if looked_up and looked_up_store_id(looked_up["name"]) != store_id:
        looked_up = None
    if looked_up is None and not is_placeholder(store_id):
        return
    exported.stand_ins.append(store_id)
    if placeholder_id or looked_up is None:
        note = (
            f"store_id {json.dumps(store_id)} is not a real id: {NAMESPACE}:store.id is still a "
            f"REPLACE_ME placeholder in the stack file. Get the id with {STORE_LIST}, set it "
            f"(`pulumi config set --path --stack {stack} '{NAMESPACE}:store.id' <store id>`) "
            "and export again."
        )
    else:
        note = (
            f"store_id {json.dumps(store_id)} is not a real id: `pulumi up` looks up the store "
            f"named {looked_up['name']} when it deploys. Get its id with {STORE_LIST} and put "
            f"it in each store_id below (or set {NAMESPACE}:store.id to adopt it by id)."
        )
    exported.notes.setdefault("secrets_store_secrets", []).append(note)


def render_jsonc(exported: WranglerConfig) -> str:
    """The config as JSONC: comments on lines of their own, one array entry per line."""
    lines = [*_comments(exported.header, ""), "{"]
    items = list(exported.fields.items())
    for index, (name, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines += _comments(exported.notes.get(name, ()), "  ")
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"  {json.dumps(name)}: [")
            lines += [
                f"    {json.dumps(entry)}{',' if i < len(value) - 1 else ''}"
                for i, entry in enumerate(value)
            ]
            lines.append(f"  ]{comma}")
        elif isinstance(value, dict) and value:
            lines.append(f"  {json.dumps(name)}: {{")
            lines += [
                f"    {json.dumps(key)}: {json.dumps(text)}{',' if i < len(value) - 1 else ''}"
                for i, (key, text) in enumerate(value.items())
            ]
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(name)}: {json.dumps(value)}{comma}")
    lines += _comments(exported.closing, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _comments(lines: Iterable[str], indent: str) -> list[str]:
    """`//` comment lines, each note wrapped at 100 columns (continuations indented)."""
    prefix = f"{indent}// "
    out: list[str] = []
    for line in lines:
        lead = prefix + " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(
            line.strip(),
            width=100,
            initial_indent=lead,
            subsequent_indent=lead + "  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    return out
