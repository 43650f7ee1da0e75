"""`verify --live`: the go/no-go before the next rotation stage (pure, from a status document).

Safe to advance only when every version the current stage needs is `active` and every
worker's deployed Secrets Store bindings equal the plan's (the last deploy landed
everywhere). A version the plan no longer keeps is a warning, not a blocker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from secretsctl.live.drift import expected_versions

BLOCKING = {
    "version_absent",
    "version_pending",
    "version_inactive",
    "binding_mismatch",
    "script_absent",
}


@dataclass
class Verdict:
    ok: bool
    blockers: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    checked_secrets: list[str] = field(default_factory=list)
    checked_workers: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "secrets": self.checked_secrets,
            "workers": self.checked_workers,
            "blockers": self.blockers,
            "warnings": self.warnings,
        }


def verdict(
    plan: Mapping[str, Any], status: Mapping[str, Any], secrets: Collection[str]
) -> Verdict:
    """Go (ok) or no-go for `secrets` (all when empty), with every reason."""
    chosen = list(secrets) or sorted(plan["secrets"])
    names = {n for s in chosen for n in expected_versions(plan)[s].values()}
    # Workers that bind any of the chosen secrets' versions (in the plan or live).
    workers = sorted(
        w
        for w, row in status["workers"].items()
        if any(b["expected"] in names or b["live"] in names for b in row["bindings"].values())
    )
    blockers: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    for item in status["drift"]:
        kind, key = item["kind"], item["key"]
        part = key.split(".")
        about_secret = part[0] == "secrets" and part[1] in chosen
        about_worker = part[0] == "workers" and part[1] in workers
        if not (about_secret or about_worker):
            continue
        (blockers if kind in BLOCKING else warnings).append(item)
    return Verdict(not blockers, blockers, warnings, chosen, workers)
