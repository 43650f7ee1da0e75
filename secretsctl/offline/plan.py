"""The offline plan: what `pulumi up` would register for a stack, without secret values.

Runs the real `__main__.py` under the mock runtime (see `mockrun`) and shapes
the result as the plan contract in the README, which other tools and tests read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secrets_store.spec import NAMESPACE
from secretsctl.offline.mockrun import ProgramRun, Registration, run_program
from secretsctl.offline.project import Project
from secretsctl.offline.stackfile import StackConfig, read_stack

SCRIPT_TYPE = "cloudflare:index/workersScript:WorkersScript"
SECRET_TYPE = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
# The components' types (secrets_store.secret.TYPE, secrets_store.worker.TYPE): not imported,
# so that reading a plan loads no Pulumi provider.
VERSIONED_SECRET_TYPE = "secrets-store:index:VersionedSecret"
WORKER_TYPE = "secrets-store:index:Worker"
ADOPTED_TYPE = "pulumi-python:dynamic/secrets-store:AdoptedSecretVersion"
"""A version taken over by id (`secrets_store.adopted`): it keeps its live value."""


@dataclass(frozen=True)
class Plan:
    """A plan and the program run it came from."""

    document: dict[str, Any]
    run: ProgramRun


def plan_stack(
    stack: str,
    config_file: Path | None = None,
    *,
    config: StackConfig | None = None,
    project: Project | None = None,
    **run_options: Any,
) -> Plan:
    """Plan one stack from its stack file (or an already loaded `config`), with the program
    of `project` (default: the stack file's).

    Raises `SpecError` for invalid config, before anything is registered.
    """
    config = config or read_stack(stack, config_file, project)
    if "stack_outputs" not in run_options:
        # The promotion guard's StackReference, answered from the after stack's file.
        from secretsctl.offline.references import run_options as reference_options

        run_options.update(reference_options(config))
    run = run_program(config, **run_options)
    document = plan_document(run)
    # What this stack sets on top of secrets-store.yaml (plain config: values are shown).
    document["overrides"] = [
        {"key": f"{NAMESPACE}:{o.key}", "topology": o.topology, "stack": o.stack}
        for o in config.overrides
    ]
    return Plan(document, run)


def plan_document(run: ProgramRun) -> dict[str, Any]:
    """The plan JSON (README: "What secretsctl plan shows offline"). Secrets show as `[secret]`.

    `secrets` and `workers` come from what the program registered, whatever program it is:
    each VersionedSecret's registered position, and the bindings of every WorkersScript
    (under its Worker's name, or its own resource name when no Worker holds it).
    """
    names = {r.urn: r.name for r in run.resources}
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "parent": names.get(r.parent, ""),
            "urn": r.urn,
            "inputs": _shown_inputs(r),
            **({"protect": True} if r.protect else {}),
            **({"retain_on_delete": True} if r.retain_on_delete else {}),
            # Adopted from Cloudflare by this id; its value is never sent.
            **({"imported": imported_id(r)} if imported_id(r) else {}),
            **({"ignore_changes": list(r.ignore_changes)} if r.ignore_changes else {}),
            # The URNs it answers to (an alias: a renamed resource or component keeps its state).
            **({"aliases": sorted(r.aliases)} if r.aliases else {}),
        }
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]
    return {
        "stack": run.stack,
        "store_id": run.outputs.get("store_id") or _store_of(run),
        "resources": resources,
        "secrets": registered_secrets(run),
        "workers": registered_workers(run),
        # Keys still holding a shipped REPLACE_ME example id: `pulumi up` refuses them.
        "placeholders": list(run.outputs.get("placeholders", [])),
    }


def imported_id(resource: Registration) -> str:
    """The id a resource adopts from Cloudflare (`<account_id>/<store_id>/<secret_id>`): an
    `AdoptedSecretVersion`'s, or an `import_` option's; empty when it creates its own."""
    if resource.type == ADOPTED_TYPE:
        parts = [resource.inputs.get(k) for k in ("account_id", "store_id", "secret_id")]
        return "/".join(str(p) for p in parts) if all(isinstance(p, str) for p in parts) else ""
    return resource.import_id


def registered_secrets(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Secret name -> {kind, current, next, stage, cloudflare_names}, as each VersionedSecret
    registered it (plain data: names and positions, never a value)."""
    imported = {
        str(r.inputs.get("name")): imported_id(r)
        for r in [*run.of_type(SECRET_TYPE), *run.of_type(ADOPTED_TYPE)]
        if imported_id(r)
    }
    out: dict[str, dict[str, Any]] = {}
    for component in run.of_type(VERSIONED_SECRET_TYPE):
        registered = run.component_outputs.get(component.urn, {})
        if "current" not in registered:
            continue  # its construction failed before it registered anything
        names = list(registered.get("names") or [])
        entry: dict[str, Any] = {
            "kind": registered.get("kind"),
            "current": registered["current"],
            "next": registered.get("next"),
            "stage": registered.get("stage"),
            "cloudflare_names": names,
        }
        # Versions adopted from Cloudflare (import): each keeps its live value.
        adopted = {n: imported[n] for n in names if n in imported}
        if adopted:
            entry["imported"] = adopted
        out[str(registered.get("secret_name") or component.name)] = entry
    return dict(sorted(out.items()))


def registered_workers(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Worker -> {script_name, bindings}: every WorkersScript the program registered."""
    holders = {r.urn: r.name for r in run.of_type(WORKER_TYPE)}
    workers = {}
    for script in run.of_type(SCRIPT_TYPE):
        worker = holders.get(script.parent, script.name)
        registered = run.component_outputs.get(script.parent, {})
        workers[worker] = {
            "script_name": script.inputs.get("scriptName"),
            "bindings": _bindings(script),
            # A code-first Worker's main module, from the program's working directory.
            **(
                {"main_module_path": registered["main_module_path"]}
                if isinstance(registered.get("main_module_path"), str)
                else {}
            ),
        }
    return dict(sorted(workers.items()))


def _shown_inputs(resource: Registration) -> dict[str, Any]:
    inputs = resource.redacted_inputs()
    if "__provider" in inputs:
        # A dynamic resource's pickled provider: code, not configuration a reviewer reads.
        inputs["__provider"] = "[dynamic provider]"
    return inputs


def _bindings(script: Registration) -> dict[str, dict[str, Any]]:
    """Every binding of a script by name, as registered (secret ones redacted)."""
    out: dict[str, dict[str, Any]] = {}
    for binding in script.redacted_inputs().get("bindings", []):
        fields = {_snake(k): v for k, v in binding.items() if k != "name"}
        out[binding["name"]] = fields
    return dict(sorted(out.items()))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _store_of(run: ProgramRun) -> str | None:
    """The store a program's secrets are registered in, when it exports none (a program of
    one's own): the `storeId` every version is sent with (a looked-up store shows as such)."""
    stores = {
        str(r.inputs.get("storeId")) for r in run.of_type(SECRET_TYPE) if r.inputs.get("storeId")
    }
    return stores.pop() if len(stores) == 1 else None


# ---- reading a plan document: what the program registered, by Cloudflare account --------


def registered_versions(document: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(account id, Cloudflare secret name) -> the resource that registers it: every secret
    version the program declares, created or adopted, as it will exist in Cloudflare."""
    found: dict[tuple[str, str], str] = {}
    for resource in document.get("resources") or ():
        inputs = resource.get("inputs") or {}
        if resource.get("type") == SECRET_TYPE:
            account, name = inputs.get("accountId"), inputs.get("name")
        elif resource.get("type") == ADOPTED_TYPE:
            account, name = inputs.get("account_id"), inputs.get("name")
        else:
            continue
        if isinstance(account, str) and isinstance(name, str):
            found.setdefault((account, name), str(resource.get("name")))
    return found


def registered_bindings(document: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(account id, Cloudflare secret name) -> `script.BINDING` of the first Worker binding
    the program registers on it: who reads that secret, in which account."""
    found: dict[tuple[str, str], str] = {}
    for resource in document.get("resources") or ():
        if resource.get("type") != SCRIPT_TYPE:
            continue
        inputs = resource.get("inputs") or {}
        account, script = inputs.get("accountId"), inputs.get("scriptName")
        for binding in inputs.get("bindings") or ():
            name = binding.get("secretName") if isinstance(binding, Mapping) else None
            if binding.get("type") == "secrets_store_secret" and isinstance(name, str):
                found.setdefault((str(account), name), f"{script}.{binding.get('name')}")
    return found


def registered_scripts(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(account id, Worker script name) of every script the program registers."""
    found = set()
    for resource in document.get("resources") or ():
        inputs = resource.get("inputs") or {}
        account, script = inputs.get("accountId"), inputs.get("scriptName")
        if resource.get("type") == SCRIPT_TYPE and isinstance(account, str):
            found.add((account, str(script)))  # an account not known offline names none
    return found
