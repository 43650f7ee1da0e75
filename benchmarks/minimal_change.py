"""Minimal change per rotation stage: what each deploy of a rotation touches, by URN.

For a secret S rotating from version a to b, the theoretical minimum per deploy is:

| transition          | created        | deleted        | inputs changed            |
|---------------------|----------------|----------------|---------------------------|
| steady -> fallback  | S_vb (+ wait, + value) | -              | every script binding S |
| fallback -> swapped | -                      | -              | every script binding S |
| swapped -> finished | -                      | S_va (+ wait, + value) | every script binding S |

"+ wait" is the version's `SecretActivation` (bindings wait until Cloudflare reports it
active); "+ value" is its `random.RandomBytes` when S is `source: generate`.
Nothing is ever replaced, and nothing else changes: not other secrets, not other
workers, not the generated values of other versions (Pulumi would regenerate them).

Used by `tests/test_minimal_change.py` (correctness) and `benchmarks/run.py` (counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.configs import ACCOUNT, stack_config
from secretsctl.offline.mockrun import ProgramRun, run_program

SECRET_TYPE = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT_TYPE = "cloudflare:index/workersScript:WorkersScript"
BYTES_TYPE = "random:index/randomBytes:RandomBytes"
ACTIVE_TYPE = "pulumi-python:dynamic/secrets-store:SecretActivation"
# Inputs that name a resource in Cloudflare: changing one replaces it.
IDENTITY = {
    SECRET_TYPE: ("name", "storeId", "accountId"),
    SCRIPT_TYPE: ("scriptName", "accountId"),
    "cloudflare:index/secretsStore:SecretsStore": ("name", "accountId"),
    BYTES_TYPE: ("length",),
}

ROTATING = "rotating"
# (kind, source) of the rotating secret: every kind, generated and config values.
CASES: tuple[tuple[str, str], ...] = (
    ("api_key", "config"),
    ("api_key", "generate"),
    ("encryption_key", "generate"),
    ("encryption_key", "config"),
    ("signing_key", "generate"),
    ("json", "config"),
    ("opaque", "config"),
)
# (stage, current, next) along one rotation, v1 -> v2.
STAGES: tuple[tuple[str, int, int | None], ...] = (
    ("steady", 1, None),
    ("fallback", 1, 2),
    ("swapped", 1, 2),
    ("steady", 2, None),
)
TRANSITIONS = ("steady->fallback", "fallback->swapped", "swapped->finished")
# Workers that bind the rotating secret (under three binding names between them).
BINDERS = ("api", "billing")


def namespace(kind: str, source: str, stage: str, current: int, nxt: int | None) -> dict[str, Any]:
    """A stack with the rotating secret at one stage, next to secrets and workers that stay."""
    at: dict[str, Any] = {"current": current}
    if nxt is not None:
        at.update(next=nxt, stage=stage)
    return {
        "accountId": ACCOUNT,
        "namePrefix": "mc_",
        "store": {"name": "default_secrets_store"},
        "secrets": {
            ROTATING: {"kind": kind, "source": source},
            "steady_key": {"kind": "api_key"},
            "steady_generated": {"kind": "encryption_key", "source": "generate"},
            "steady_json": {"kind": "json"},
        },
        "rotation": {ROTATING: at, "steady_key": {"current": 3}},
        "workers": {
            # Binds it twice: a named fallback and the default <BINDING>_FALLBACK.
            "api": {
                "module": "workers/api.js",
                "secrets": {
                    "PRIMARY_KEY": {"secret": ROTATING, "fallback": "FALLBACK_KEY"},
                    "OTHER_KEY": ROTATING,
                    "DB_CONFIG": "steady_json",
                },
            },
            "billing": {
                "module": "workers/billing.js",
                "secrets": {"BILLING_KEY": ROTATING, "STEADY_KEY": "steady_key"},
            },
            # Must never change: binds only steady secrets, or none.
            "vault": {
                "module": "workers/vault.js",
                "secrets": {"ENCRYPTION_KEY": "steady_generated"},
            },
            "signer": {"module": "workers/signer.js", "vars": {"MODE": "sign"}},
        },
    }


def run_stages(kind: str, source: str) -> list[ProgramRun]:
    """The program at each stage, each run given the previous run's state (as the engine would)."""
    runs: list[ProgramRun] = []
    state: dict[str, dict[str, Any]] | None = None
    for stage, current, nxt in STAGES:
        # Config values are deterministic per (secret, version), so they match across stages.
        config = stack_config(namespace(kind, source, stage, current, nxt), stack="dev")
        run = run_program(config, state=state)
        state = run.state
        runs.append(run)
    return runs


@dataclass
class Diff:
    """What one deploy changes, by URN."""

    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    """Inputs differ (updated in place or replaced)."""
    replaced: set[str] = field(default_factory=set)
    """Identity inputs differ: Cloudflare would delete and recreate it."""
    unchanged: int = 0

    def touched(self) -> set[str]:
        return self.created | self.deleted | self.changed


def diff_runs(before: ProgramRun, after: ProgramRun) -> Diff:
    """Compare two runs' registrations by URN: raw inputs, secret values included."""
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    diff = Diff(created=new.keys() - old.keys(), deleted=old.keys() - new.keys())
    for urn in old.keys() & new.keys():
        a, b = old[urn].inputs, new[urn].inputs
        if a == b:
            diff.unchanged += 1
            continue
        diff.changed.add(urn)
        if any(a.get(k) != b.get(k) for k in IDENTITY.get(new[urn].type, ())):
            diff.replaced.add(urn)
    return diff


def urn_of(run: ProgramRun, type_: str, name: str) -> str:
    matches = [r.urn for r in run.resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, f"{type_} {name}: {len(matches)} registrations"
    return matches[0]


def expected(runs: list[ProgramRun], source: str) -> list[Diff]:
    """The theoretical minimum of each transition, from the table in this module's doc."""
    scripts = set()
    for run in runs:
        scripts |= {urn_of(run, SCRIPT_TYPE, f"{w}-script") for w in BINDERS}

    def version(run: ProgramRun, v: int) -> set[str]:
        urns = {
            urn_of(run, SECRET_TYPE, f"{ROTATING}-v{v}"),
            urn_of(run, ACTIVE_TYPE, f"{ROTATING}-v{v}-active"),
        }
        if source == "generate":
            urns.add(urn_of(run, BYTES_TYPE, f"{ROTATING}-v{v}-value"))
        return urns

    return [
        Diff(created=version(runs[1], 2), changed=scripts),
        Diff(changed=scripts),
        Diff(deleted=version(runs[2], 1), changed=scripts),
    ]


@dataclass(frozen=True)
class TransitionReport:
    kind: str
    source: str
    transition: str
    actual: Diff
    minimum: Diff

    @property
    def ok(self) -> bool:
        a, m = self.actual, self.minimum
        return (
            a.created == m.created
            and a.deleted == m.deleted
            and a.changed == m.changed
            and not a.replaced
        )


def check(kind: str, source: str) -> list[TransitionReport]:
    """Every transition of one rotation of a (kind, source) secret, against the minimum."""
    runs = run_stages(kind, source)
    minimum = expected(runs, source)
    return [
        TransitionReport(kind, source, name, diff_runs(runs[i], runs[i + 1]), minimum[i])
        for i, name in enumerate(TRANSITIONS)
    ]


def check_all() -> list[TransitionReport]:
    return [report for kind, source in CASES for report in check(kind, source)]
