"""Baseline Pulumi program: the same Cloudflare resources as `__main__.py`, registered directly.

No spec, no components, no validation: read the config as JSON, look the store up
by name (or create it with `store.create`), register one SecretsStoreSecret
(+ RandomBytes for `source: generate`) per live version and one WorkersScript per
worker, with the same names and inputs, and export the same outputs. It covers
what the generated benchmark configs use (secret bindings and vars);
`benchmarks/run.py` checks that both programs register identical inputs before it
compares their times.

Each version also gets the same `SecretActivation` wait, and bindings take the
name from it. A hand-written program on a real account needs that wait just as
much (Cloudflare refuses to bind a secret that is still `pending`, error 10182),
so the baseline models it with the very same dynamic resource: what is compared
is the cost of the spec and components, not of a wait only one side does.

With BENCH_BASELINE_COMPONENTS=1 the same resources are registered under empty
components of our types and names (store, one per secret, one per worker; the store
with our alias) that register the outputs ours register, so URNs match ours too. That
run is what the SDK alone charges for components: `benchmarks/run.py` splits ours/baseline
into that floor and what our own code adds on top.
"""

import base64
import hashlib
import os
import posixpath
import re
from pathlib import Path

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from secrets_store.activation import SecretActivation

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^'"]*?(?:\bfrom\s*)?['"](?P<spec>\.{1,2}/[^'"]+)['"]""",
    re.MULTILINE,
)

COMPONENTS = os.environ.get("BENCH_BASELINE_COMPONENTS") == "1"


class Component(pulumi.ComponentResource):
    """An empty component of one of our types (only with BENCH_BASELINE_COMPONENTS=1)."""

    def __init__(self, kind: str, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"secrets-store:index:{kind}", name, None, opts)


def under(component: Component | None) -> pulumi.ResourceOptions | None:
    return pulumi.ResourceOptions(parent=component) if component is not None else None


config = pulumi.Config("secrets-store")
account_id = config.require("accountId")
prefix = config.get("namePrefix") or ""
secrets = config.require_object("secrets")
positions = config.get_object("rotation") or {}
workers = config.require_object("workers")
store_config = config.get_object("store") or {}
store_name = store_config.get("name", "default_secrets_store")

store_component = (
    Component(
        "SecretsStore",
        "store",
        pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="secrets-store:index:Store")]),
    )
    if COMPONENTS
    else None
)
if store_config.get("create"):
    store_id = cloudflare.SecretsStore(
        "store-store",
        account_id=account_id,
        name=store_name,
        opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True, parent=store_component),
    ).id
else:  # the store the account already has, looked up by name (the default)
    store_id = cloudflare.get_secrets_stores_output(account_id=account_id).results.apply(
        lambda found: next(
            str(s["id"] if isinstance(s, dict) else s.id)
            for s in found
            if (s["name"] if isinstance(s, dict) else s.name) == store_name
        )
    )


def position(spec: dict) -> tuple[list[int], int, int | None]:
    """(live versions, primary version, fallback version) of a secret's stage."""
    current, nxt, stage = spec.get("current", 1), spec.get("next"), spec.get("stage", "steady")
    if stage == "fallback":
        return [current, nxt], current, nxt
    if stage == "swapped":
        return [current, nxt], nxt, current
    return [current], current, None


names: dict[tuple[str, int], pulumi.Output[str]] = {}
rotation = {}
if store_component is not None:
    store_component.register_outputs(
        {"store_id": store_id, "adopted": not store_config.get("create")}
    )
for secret, spec in secrets.items():
    at = positions.get(secret, {})
    live, primary, fallback = position(at)
    component = Component("VersionedSecret", secret) if COMPONENTS else None
    for version in live:
        if spec.get("source", "config") == "generate":
            value = pulumi.Output.secret(
                random.RandomBytes(
                    f"{secret}-v{version}-value",
                    length=32,
                    opts=pulumi.ResourceOptions(
                        additional_secret_outputs=["base64", "hex"], parent=component
                    ),
                ).base64
            )
        else:
            value = config.require_secret(f"{secret}_v{version}")
        created = cloudflare.SecretsStoreSecret(
            f"{secret}-v{version}",
            account_id=account_id,
            store_id=store_id,
            name=f"{prefix}{secret}_v{version}",
            value=value,
            scopes=sorted(spec.get("scopes", ["workers"])),
            comment=spec.get("comment"),
            opts=under(component),
        )
        names[secret, version] = SecretActivation(
            f"{secret}-v{version}-active",
            account_id=account_id,
            store_id=store_id,
            secret_id=created.id,
            name=created.name,
            opts=under(component),
        ).name
    if component is not None:
        component.register_outputs(
            {
                "store_id": store_id,
                "primary_name": names[secret, primary],
                "fallback_name": names[secret, fallback] if fallback is not None else None,
                "names": [f"{prefix}{secret}_v{v}" for v in live],
            }
        )
    rotation[secret] = {
        "kind": spec["kind"],
        "current": at.get("current", 1),
        "next": at.get("next"),
        "stage": at.get("stage", "steady"),
        "cloudflare_names": [f"{prefix}{secret}_v{v}" for v in live],
    }

modules_cache: dict[str, list[tuple[str, str]]] = {}


def modules(main: str) -> list[tuple[str, str]]:
    """(name, source) of the main module and everything it imports, read once per module."""
    if main not in modules_cache:
        base = (ROOT / main).resolve().parent
        seen: dict[str, str] = {}
        pending = [posixpath.basename(main)]
        while pending:
            name = pending.pop(0)
            if name not in seen:
                seen[name] = (base / name).read_text()
                folder = posixpath.dirname(name)
                pending += [
                    posixpath.normpath(posixpath.join(folder, m["spec"]))
                    for m in IMPORT.finditer(seen[name])
                ]
        modules_cache[main] = list(seen.items())
    return modules_cache[main]


summaries = {}
for worker, spec in workers.items():
    bindings = []
    bound = {}
    for binding, target in spec.get("secrets", {}).items():
        target = {"secret": target} if isinstance(target, str) else target
        secret = target["secret"]
        _, primary, fallback = position(positions.get(secret, {}))
        pairs = [(binding, primary)]
        if fallback is not None:
            pairs.append((target.get("fallback") or f"{binding}_FALLBACK", fallback))
        for name, version in pairs:
            bindings.append(
                cloudflare.WorkersScriptBindingArgs(
                    type="secrets_store_secret",
                    name=name,
                    store_id=store_id,
                    secret_name=names[secret, version],
                )
            )
            bound[name] = f"{prefix}{secret}_v{version}"
    bindings += [
        cloudflare.WorkersScriptBindingArgs(type="plain_text", name=k, text=v)
        for k, v in spec.get("vars", {}).items()
    ]
    (main, content), *imported = modules(spec["module"])
    worker_component = Component("Worker", worker) if COMPONENTS else None
    script = cloudflare.WorkersScript(
        f"{worker}-script",
        account_id=account_id,
        script_name=f"{prefix}{worker}",
        main_module=main,
        content=content,
        files={
            name: cloudflare.WorkersScriptFilesArgs(
                content_type="application/javascript+module",
                content_base64=base64.b64encode(source.encode()).decode(),
                content_sha256=hashlib.sha256(source.encode()).hexdigest(),
            )
            for name, source in imported
        },
        bindings=bindings,
        compatibility_date=spec.get("compatibilityDate", "2025-11-01"),
        compatibility_flags=spec.get("compatibilityFlags") or None,
        opts=under(worker_component),
    )
    if worker_component is not None:
        worker_component.register_outputs({"script_name": script.script_name})
    summaries[worker] = {"script_name": f"{prefix}{worker}", "bindings": bound}

pulumi.export("store_id", store_id)
pulumi.export("rotation", rotation)
pulumi.export("workers", summaries)
