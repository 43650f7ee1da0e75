"""The stack-file front end: a `StackSpec` built with the public components, and its outputs.

This is one user of the public API (`SecretsStore`, `VersionedSecret`, `Worker`,
`SecretBinding`): everything it does, a program of your own can do with them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from secrets_store.errors import Problem, SpecError
from secrets_store.modules import Module, ModuleGraphError, collect_bundle, collect_modules
from secrets_store.rotation import bound_versions
from secrets_store.secret import VersionedSecret, VersionedSecretArgs
from secrets_store.spec import NAMESPACE, UNDECRYPTED, SecretSpec, StackSpec, WorkerSpec
from secrets_store.store import SecretsStore, SecretsStoreArgs
from secrets_store.worker import SecretBinding, SecretBindingArgs, Worker

# Stands in for a value the offline plan could not decrypt; it is a Pulumi secret like any other.


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
    store_args: SecretsStoreArgs = {
        "account_id": account_id,
        "store_name": spec.store.name,
        "create": spec.store.create,
    }
    if spec.store.id:
        store_args["store_id"] = spec.store.id
    store = SecretsStore("store", store_args, stack_file_terms=True)
    # Every Cloudflare resource waits for the store (and, through it, for the gate): a failed
    # lookup or a refused promotion stops them all unsent. Secrets and their activations
    # take the store's id anyway, so their account id stays plain text (an Output per
    # resource was a tenth of a 100-secret run); workers may bind no secret, so theirs waits.
    store_id: pulumi.Output[str] = store.store_id
    if gate is not None and spec.store.id:  # an id given in the stack file is known at once
        store_id = pulumi.Output.all(gate, store.store_id).apply(lambda pair: str(pair[1]))
    account_id = store_id.apply(lambda _: spec.account_id)

    def plain_value(key: str) -> str:
        entry = spec.values[key].value
        return entry.get_secret_value() if entry else UNDECRYPTED

    def secret_value(key: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(plain_value(key))

    def secret_args(name: str, secret: SecretSpec) -> VersionedSecretArgs:
        args: VersionedSecretArgs = {
            "account_id": spec.account_id,
            "store_id": store_id,
            "kind": secret.kind,
            "current": secret.current,
            "stage": secret.stage,
            "scopes": list(secret.scopes),
            "name_prefix": spec.name_prefix,
        }
        if secret.next is not None:
            args["next"] = secret.next
        if secret.comment is not None:
            args["comment"] = secret.comment
        if secret.import_ids:
            args["import_ids"] = dict(secret.import_ids)
        if secret.source == "generate":
            args["generate"] = True
        else:
            # Plain here: SecretsStoreSecret marks `value` secret itself (its schema says so,
            # tests/test_public_api.py checks it); a wrap per value was two more tasks each.
            # An imported version keeps its live value: none is read, none is sent.
            args["values"] = {
                v: plain_value(spec.value_key(name, v))
                for v in secret.position.live_versions
                if v not in secret.import_ids
            }
        return args

    # One component per secret, shared by every worker that binds it.
    secrets = {
        name: VersionedSecret(name, secret_args(name, secret))
        for name, secret in spec.secrets.items()
    }
    # Workers that share a main module (or bundle) share its files: each is read and hashed once.
    modules = functools.cache(lambda main: collect_modules(root, main))
    bundles = functools.cache(lambda folder, main: collect_bundle(root, folder, main))

    def worker_modules(name: str, worker: WorkerSpec) -> list[Module]:
        try:
            if worker.bundle:
                return bundles(worker.bundle, worker.module)
            return modules(worker.module)
        except ModuleGraphError as exc:  # changed on disk since the spec checked it
            key = f"{NAMESPACE}:workers.{name}.{'bundle' if worker.bundle else 'module'}"
            raise SpecError([Problem(key, str(exc))]) from None

    workers: dict[str, Worker] = {}
    for name in spec.deploy_order():  # a service binding's target is built before its caller
        worker = spec.workers[name]
        bindings: dict[str, SecretBindingArgs] = {
            binding: SecretBinding(secrets[bound.secret], fallback=bound.fallback)
            for binding, bound in worker.secrets.items()
        }
        workers[name] = Worker(
            name,
            modules=worker_modules(name, worker),
            account_id=account_id,
            script_name=spec.script_name(name),
            main_module=worker.module,
            root=str(root),
            bindings=bindings,
            vars=dict(worker.vars),
            kv_namespaces=dict(worker.kv),
            services={b: workers[target].script_name for b, target in worker.services.items()},
            secret_texts={b: secret_value(k) for b, k in worker.secret_text.items()},
            compatibility_date=worker.compatibility_date,
            compatibility_flags=list(worker.compatibility_flags),
            extra_bindings=[dict(entry) for entry in worker.extra_bindings],
        )
    # Keep the stack file's order in summaries.
    return Deployment(store, secrets, {name: workers[name] for name in spec.workers})


def _records(spec: StackSpec, secret: str) -> dict[str, Any]:
    """What the stacks that follow read besides the position: when each stage was reached,
    and an emergency's reason (plain text, never a value)."""
    declared = spec.secrets.get(secret)
    records: dict[str, Any] = {}
    if declared is not None and declared.reached:
        records["reached"] = dict(declared.reached)
    if declared is not None and declared.emergency is not None:
        records["emergency"] = declared.emergency.model_dump()
    return records


def export_outputs(spec: StackSpec, deployment: Deployment) -> None:
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
                **_records(spec, name),
            }
            for name, s in deployment.secrets.items()
        },
    )
    pulumi.export(
        "workers",
        {
            name: {
                "script_name": spec.script_name(name),
                "bindings": secret_bindings(spec, deployment, name),
            }
            for name in deployment.workers
        },
    )
    if spec.placeholders:
        # Only an offline plan gets here with placeholders (`pulumi up` refuses them first).
        pulumi.export("placeholders", [str(p) for p in spec.placeholders])


def secret_bindings(spec: StackSpec, deployment: Deployment, worker: str) -> dict[str, str]:
    """Binding name -> Cloudflare secret name at this stage (plain data: names, never values)."""
    out: dict[str, str] = {}
    for binding, bound in spec.workers[worker].secrets.items():
        secret = deployment.secrets[bound.secret]
        for version in bound_versions(binding, bound.fallback, secret.position):
            out[version.binding] = secret.cloudflare_name(version.version)
    return out
