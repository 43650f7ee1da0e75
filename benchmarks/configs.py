"""Generated stack configs for the benchmarks: N secrets x W workers x 10 bindings each.

Built in memory as `StackConfig`s, the shape `run_program` takes: structured keys
as JSON text, secret values as plain strings listed in `secret_keys`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from secretsctl.offline.stackfile import StackConfig

ACCOUNT = "0123456789abcdef0123456789abcdef"
BINDINGS_PER_WORKER = 10
# Real example workers, cycled: each is uploaded with the lib/ modules it imports.
MODULES = (
    "workers/api.js",
    "workers/billing.js",
    "workers/vault.js",
    "workers/signer.js",
    "workers/auth.js",
    "workers/gateway.js",
)
# Kinds cycled over the secrets; keys are generated, the rest come from config values.
KINDS = ("api_key", "encryption_key", "signing_key", "json", "opaque")
SOURCE = {"encryption_key": "generate", "signing_key": "generate"}


def secret_name(i: int) -> str:
    return f"s{i:03d}"


def worker_name(i: int) -> str:
    return f"w{i:04d}"


def namespace(secrets: int, workers: int) -> dict[str, Any]:
    """The `secrets-store:` keys of a generated stack.

    Up to 100 live Cloudflare secrets (the account limit): small configs keep two
    secrets mid-rotation (one in fallback, one swapped), 100-secret configs are steady.
    """
    rotating = {1: "fallback", 2: "swapped"} if secrets <= 98 else {}
    secret_specs: dict[str, Any] = {}
    positions: dict[str, Any] = {}
    for i in range(secrets):
        kind = KINDS[i % len(KINDS)]
        spec: dict[str, Any] = {"kind": kind}
        if kind in SOURCE:
            spec["source"] = SOURCE[kind]
        secret_specs[secret_name(i)] = spec
        positions[secret_name(i)] = {"current": 1}
        if i in rotating:
            positions[secret_name(i)].update(next=2, stage=rotating[i])
    worker_specs: dict[str, Any] = {}
    for w in range(workers):
        bindings: dict[str, Any] = {}
        for j in range(BINDINGS_PER_WORKER):
            target = secret_name((w * BINDINGS_PER_WORKER + j) % secrets)
            # Every other binding names its fallback; the rest use <BINDING>_FALLBACK.
            bindings[f"KEY_{j}"] = {"secret": target, "fallback": f"OLD_{j}"} if j % 2 else target
        worker_specs[worker_name(w)] = {
            "module": MODULES[w % len(MODULES)],
            "secrets": bindings,
            "vars": {"UPSTREAM_URL": "https://api.example.com"},
        }
    return {
        "accountId": ACCOUNT,
        "namePrefix": "bench_",
        "store": {"name": "default_secrets_store"},
        "secrets": secret_specs,
        "workers": worker_specs,
        "rotation": positions,
    }


def value_for(kind: str, secret: str, version: int) -> str:
    """A value that passes the kind's rules (never a real secret)."""
    if kind == "json":
        return json.dumps({"secret": secret, "version": version})
    if kind in ("encryption_key", "signing_key"):
        return base64.b64encode(bytes([version]) * 32).decode()
    return f"bench-{secret}-v{version}"


def stack_config(ns: dict[str, Any], stack: str = "bench") -> StackConfig:
    """The runtime's view of a namespace: JSON keys, plus every config value as a secret."""
    config = {
        f"secrets-store:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in ns.items()
    }
    secret_keys: list[str] = []
    for name, spec in ns["secrets"].items():
        if spec.get("source", "config") != "config":
            continue
        at = ns["rotation"].get(name, {"current": 1})
        versions = [at["current"]] + ([at["next"]] if at.get("next") else [])
        for version in versions:
            key = f"secrets-store:{name}_v{version}"
            config[key] = value_for(spec["kind"], name, version)
            secret_keys.append(key)
    return StackConfig(stack, Path(f"Pulumi.{stack}.yaml"), config, secret_keys, [])


def generated(secrets: int, workers: int) -> StackConfig:
    return stack_config(namespace(secrets, workers))
