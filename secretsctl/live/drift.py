"""The plan side by side with the live account, and every drift between them (pure).

`compare` takes the offline plan (what `pulumi up` would leave) and a snapshot of
the account (secrets with their statuses, each worker's deployed bindings) and
returns the `status --live` document:

    {"stack", "ok", "secrets": {NAME: {"versions": {"<N>": {"cloudflare_name", "expected",
     "live": active|pending|deleted|absent}}}}, "workers": {W: {"script_name", "live",
     "bindings": {BINDING: {"expected", "live"}}}}, "drift": [{"kind", "key", "detail"}]}

Drift kinds: `version_absent` (a version the stage needs is not in the store),
`version_pending` (it is there but not active yet: a Worker upload binding it fails
with 10182), `unexpected_version` (a `{prefix}{name}_v{N}` secret the plan does not
keep), `binding_mismatch` (a worker's deployed Secrets Store binding differs from
the plan), `script_absent` (a worker's script does not exist).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from secretsctl.live.account import LiveBinding, LiveSecret

SECRET_BINDING = "secrets_store_secret"


@dataclass(frozen=True)
class Snapshot:
    """What the account holds, as read for one stack."""

    store_id: str
    secrets: Sequence[LiveSecret]
    scripts: Mapping[str, Sequence[LiveBinding] | None]
    """Script name -> its deployed bindings; None when the script does not exist."""


def expected_versions(plan: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """Secret -> version -> Cloudflare name, for every version the plan keeps alive."""
    out: dict[str, dict[int, str]] = {}
    for name, entry in plan["secrets"].items():
        versions = [entry["current"]] + ([entry["next"]] if entry.get("next") else [])
        out[name] = dict(zip(versions, entry["cloudflare_names"], strict=True))
    return out


def expected_bindings(plan: Mapping[str, Any], worker: str) -> dict[str, str]:
    """Binding -> Cloudflare secret name, for a worker's Secrets Store bindings in the plan."""
    bindings = plan["workers"][worker]["bindings"]
    return {
        b: str(fields.get("secret_name"))
        for b, fields in bindings.items()
        if fields.get("type") == SECRET_BINDING
    }


def compare(stack: str, plan: Mapping[str, Any], snapshot: Snapshot) -> dict[str, Any]:
    """The status document for one stack (see the module docstring)."""
    # A secret Cloudflare lists as `deleted` (it does so for a while after DELETE) is gone:
    # it never stands for a version, so a same-named live one wins and a leftover is no drift.
    present = [s for s in snapshot.secrets if s.status != "deleted"]
    live_by_name = {s.name: s for s in snapshot.secrets if s.status == "deleted"}
    live_by_name.update({s.name: s for s in present})
    drift: list[dict[str, str]] = []
    secrets: dict[str, Any] = {}
    for name, versions in expected_versions(plan).items():
        rows: dict[str, dict[str, Any]] = {}
        for version, cloudflare_name in versions.items():
            found = live_by_name.get(cloudflare_name)
            live = found.status if found is not None else "absent"
            rows[str(version)] = {
                "cloudflare_name": cloudflare_name,
                "expected": True,
                "live": live,
            }
            key = f"secrets.{name}.v{version}"
            if live in ("absent", "deleted"):
                drift.append(
                    _drift(
                        "version_absent",
                        key,
                        f"{cloudflare_name} is {live} in store {snapshot.store_id} (deleted out "
                        "of band? `pulumi refresh` then `pulumi up` creates it again)",
                    )
                )
            elif live == "pending":
                drift.append(
                    _drift(
                        "version_pending",
                        key,
                        f"{cloudflare_name} is still pending (a Worker upload binding it fails "
                        "with 10182; wait for it to be active)",
                    )
                )
        base = _base_name(next(iter(versions.values())))
        pattern = re.compile(rf"{re.escape(base)}_v([1-9][0-9]{{0,8}})")
        for secret in present:
            match = pattern.fullmatch(secret.name)
            if match and int(match[1]) not in versions:
                rows[match[1]] = {
                    "cloudflare_name": secret.name,
                    "expected": False,
                    "live": secret.status,
                }
                drift.append(
                    _drift(
                        "unexpected_version",
                        f"secrets.{name}.v{match[1]}",
                        f"{secret.name} is in the store but the plan does not keep it (left "
                        "over from a rotation, or made outside Pulumi: delete it once no "
                        "worker binds it)",
                    )
                )
        secrets[name] = {"versions": dict(sorted(rows.items(), key=lambda kv: int(kv[0])))}

    workers: dict[str, Any] = {}
    for worker, summary in plan["workers"].items():
        script = summary["script_name"]
        deployed = snapshot.scripts.get(script)
        expected = expected_bindings(plan, worker)
        bound = {b.name: b.secret_name for b in (deployed or []) if b.type == SECRET_BINDING}
        pairs = {
            b: {"expected": expected.get(b), "live": bound.get(b)}
            for b in sorted(set(expected) | set(bound))
        }
        workers[worker] = {"script_name": script, "live": deployed is not None, "bindings": pairs}
        if deployed is None:
            drift.append(
                _drift(
                    "script_absent",
                    f"workers.{worker}",
                    f"script {script} does not exist (never deployed, or deleted out of band: "
                    "`pulumi up` uploads it)",
                )
            )
            continue
        stores = {b.name: b.store_id for b in deployed if b.type == SECRET_BINDING}
        for binding, row in pairs.items():
            wrong_store = row["live"] is not None and stores.get(binding) != snapshot.store_id
            if row["expected"] != row["live"] or wrong_store:
                where = f" in store {stores.get(binding)}" if wrong_store else ""
                drift.append(
                    _drift(
                        "binding_mismatch",
                        f"workers.{worker}.{binding}",
                        f"{script} binds {row['live'] or 'nothing'}{where}, the plan binds "
                        f"{row['expected'] or 'nothing'} (redeployed by another tool, or the "
                        "last deploy did not land: `pulumi up` restores it)",
                    )
                )
    return {
        "stack": stack,
        "ok": not drift,
        "store_id": snapshot.store_id,
        "secrets": secrets,
        "workers": workers,
        "drift": drift,
    }


def _base_name(cloudflare_name: str) -> str:
    """`dev_api_key_v2` -> `dev_api_key`."""
    return cloudflare_name.rsplit("_v", 1)[0]


def _drift(kind: str, key: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "key": key, "detail": detail}
