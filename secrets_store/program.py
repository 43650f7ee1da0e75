"""The whole stack from its spec: store, shared versioned secrets, workers, outputs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from secrets_store.modules import collect_modules
from secrets_store.secret import VersionedSecret, VersionedSecretArgs
from secrets_store.spec import StackSpec
from secrets_store.store import SecretsStore
from secrets_store.worker import Worker, WorkerArgs

# Stands in for a value the offline plan could not decrypt; it is a Pulumi secret like any other.
UNDECRYPTED = "[undecrypted]"


@dataclass(frozen=True)
class Deployment:
    """The components of one stack, by role."""

    store: SecretsStore
    secrets: dict[str, VersionedSecret]
    workers: dict[str, Worker]


def build(spec: StackSpec, root: Path, gate: pulumi.Output[Any] | None = None) -> Deployment:
    """Register every resource of the stack. `spec` is already validated.

    `gate` (the promotion guard, `secrets_store.promotion.promotion_gate`): every Cloudflare
    resource's account id waits on it, so a refusal fails before any of them is sent.
    """
    account_id: pulumi.Input[str] = (
        gate.apply(lambda _: spec.account_id) if gate is not None else spec.account_id
    )
    store = SecretsStore("store", account_id, spec.store)

    def secret_value(key: str) -> pulumi.Output[str]:
        entry = spec.values[key].value
        return pulumi.Output.secret(entry.get_secret_value() if entry else UNDECRYPTED)

    # One component per secret, shared by every worker that binds it.
    secrets = {
        name: VersionedSecret(
            name,
            VersionedSecretArgs(
                secret=name,
                spec=secret,
                account_id=account_id,
                store_id=store.store_id,
                name_prefix=spec.name_prefix,
                values={
                    v: secret_value(spec.value_key(name, v))
                    for v in secret.position.live_versions
                    if secret.source == "config"
                },
            ),
        )
        for name, secret in spec.secrets.items()
    }
    # Workers that share a main module share its graph: each file is read and hashed once.
    modules = functools.cache(lambda main: collect_modules(root, main))
    service_scripts = {w: spec.script_name(w) for w in spec.workers}
    workers = {
        name: Worker(
            name,
            WorkerArgs(
                spec=worker,
                script_name=spec.script_name(name),
                account_id=account_id,
                store_id=store.store_id,
                modules=modules(worker.module),
                secrets=secrets,
                service_scripts=service_scripts,
                secret_texts={b: secret_value(k) for b, k in worker.secret_text.items()},
            ),
        )
        for name, worker in spec.workers.items()
    }
    return Deployment(store, secrets, workers)


def export_outputs(deployment: Deployment) -> None:
    """Stack outputs: names and positions only; never a value."""
    pulumi.export("store_id", deployment.store.store_id)
    pulumi.export(
        "rotation",
        {
            name: {
                "kind": s.kind,
                "current": s.position.current,
                "next": s.position.next,
                "stage": s.position.stage,
                "cloudflare_names": s.cloudflare_names,
            }
            for name, s in deployment.secrets.items()
        },
    )
    pulumi.export(
        "workers",
        {
            name: {"script_name": w.script_name, "bindings": w.secret_bindings}
            for name, w in deployment.workers.items()
        },
    )
