"""Shared fixtures: build stack configs in memory and run the real program under mocks."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.testing

from secretsctl.offline import runcache
from secretsctl.offline.mockrun import (
    ProgramRun,
    lazy_cloudflare,
    redrawn,
    remembering_runs,
    run_program,
)
from secretsctl.offline.plan import plan_document
from secretsctl.offline.stackfile import StackConfig

# pulumi_cloudflare as the mock runtime imports it (each module when first used), before any
# test module imports it whole: its __init__ alone is 3 s of every worker's collection.
lazy_cloudflare()

# typer builds the click command tree from the app on every CliRunner.invoke (~30 ms): build
# it once per test process. A click command is reusable across invocations.
typer.testing._get_command = functools.cache(typer.testing._get_command)  # type: ignore[attr-defined]

ACCOUNT = "0123456789abcdef0123456789abcdef"
# Canary values: tests assert these never show up anywhere but Pulumi secrets.
CANARY = "canary-Zx9QvT3pL7"


def key_value(fill: int) -> str:
    """A valid encryption/signing key value: base64 of 32 bytes."""
    import base64

    return base64.b64encode(bytes([fill]) * 32).decode()


def stack_config(
    namespace: dict[str, Any],
    values: dict[str, str] | None = None,
    stack: str = "dev",
    plain_values: dict[str, str] | None = None,
) -> StackConfig:
    """A StackConfig as the runtime sees it: structured keys as JSON, values as secrets."""
    config = {
        f"secrets-store:{k}": v if isinstance(v, str) else json.dumps(v)
        for k, v in namespace.items()
    }
    secret_keys = []
    for key, value in (values or {}).items():
        config[f"secrets-store:{key}"] = value
        secret_keys.append(f"secrets-store:{key}")
    for key, value in (plain_values or {}).items():
        config[f"secrets-store:{key}"] = value
    return StackConfig(stack, Path(f"Pulumi.{stack}.yaml"), config, secret_keys, [])


BASE_NAMESPACE: dict[str, Any] = {
    "accountId": ACCOUNT,
    "store": {"name": "default_secrets_store"},
    "secrets": {
        "api_key": {"kind": "api_key", "scopes": ["workers"], "current": 1},
        "db_config": {"kind": "json", "schema": "postgres", "current": 1},
        "vault_key": {"kind": "encryption_key", "source": "generate"},
        "hmac_key": {"kind": "signing_key", "source": "generate"},
    },
    "workers": {
        "api": {
            "module": "workers/api.js",
            "secrets": {
                "PRIMARY_KEY": {"secret": "api_key", "fallback": "FALLBACK_KEY"},
                "DB_CONFIG": "db_config",
            },
        },
        "billing": {"module": "workers/billing.js", "secrets": {"BILLING_KEY": "api_key"}},
        "vault": {
            "module": "workers/vault.js",
            "secrets": {"ENCRYPTION_KEY": "vault_key"},
            "kv": {"CACHE": "0f2ac74b498b48028cb68387c421e279"},
        },
        "signer": {"module": "workers/signer.js", "secrets": {"HMAC_SECRET": "hmac_key"}},
    },
}

DB_CONFIG = json.dumps(
    {"host": "db.example.com", "port": 5432, "username": "app", "password": CANARY + "-db"}
)
BASE_VALUES = {
    "api_key_v1": CANARY + "-v1",
    "api_key_v2": CANARY + "-v2",
    "api_key_v3": CANARY + "-v3",
    "db_config_v1": DB_CONFIG,
}


@pytest.fixture
def namespace() -> dict[str, Any]:
    """A fresh copy of a valid stack namespace that tests may edit."""
    return copy.deepcopy(BASE_NAMESPACE)


@pytest.fixture
def run() -> Callable[..., ProgramRun]:
    """Run the real __main__.py for a namespace (+ secret values) under mocks."""

    def _run(
        namespace: dict[str, Any],
        values: dict[str, str] | None = None,
        **options: Any,
    ) -> ProgramRun:
        stack = options.pop("stack", "dev")
        vals = BASE_VALUES if values is None else values
        return run_program(stack_config(namespace, vals, stack=stack), **options)

    return _run


# pytest names the running test in the environment: no program reads it, and a run's key
# holds the environment (`mockrun._run_key`).
runcache.IGNORED_ENVIRONMENT.add("PYTEST_CURRENT_TEST")


def _verify_remembered_runs() -> None:
    """RUNCACHE_VERIFY=1: every remembered run the tests would use runs again, and must equal
    the remembered one given the values the fresh run generated (`mockrun.redrawn`): a
    whole-suite check that what a run reads and generates is all it depends on."""
    recall, keep = runcache.recall, runcache.keep
    expected: dict[str, Any] = {}

    def recall_and_run_again(key: str, roots: Any, redraw: Any) -> Any:
        spans = runcache._spans[:]
        own = [span for span in spans if not span.redrawing]
        try:  # a command's (or test's) own span recalls as ever: that is its contract
            runcache._spans[:] = own
            hit = recall(key, roots, redraw)
            if hit is None:  # the suite's span, alone: a recall there keeps nothing in `own`
                runcache._spans[:] = [span for span in spans if span.redrawing]
                found = recall(key, roots, redraw)
                if found is not None:
                    expected[key] = copy.deepcopy(found)
        finally:
            runcache._spans[:] = spans
        return hit

    def keep_checked(key: str, result: Any, log: runcache.ReadLog, *args: Any) -> None:
        if key in expected:
            remembered = expected.pop(key)
            old = [raw for _, raw in sorted(_generated(remembered).items())]
            new = [raw for _, raw in sorted(_generated(result).items())]
            remembered = redrawn(remembered, dict(zip(old, new, strict=True)))
            if remembered != result:
                raise AssertionError(
                    f"a remembered run differs from a fresh one: {_difference(remembered, result)}"
                )
        keep(key, result, log, *args)

    runcache.recall, runcache.keep = recall_and_run_again, keep_checked  # type: ignore[assignment]


def _difference(remembered: ProgramRun, fresh: ProgramRun) -> str:
    """Where two runs differ, briefly: the URNs and fields (no values)."""
    was = {r.urn: r for r in remembered.resources}
    now = {r.urn: r for r in fresh.resources}
    changed = [
        f"{urn}: "
        + ", ".join(
            k
            for k in set(was[urn].inputs) | set(now[urn].inputs)
            if was[urn].inputs.get(k) != now[urn].inputs.get(k)
        )
        for urn in was.keys() & now.keys()
        if was[urn] != now[urn]
    ]
    gone, added = sorted(was.keys() - now.keys()), sorted(now.keys() - was.keys())
    others = [
        f
        for f in ("outputs", "state", "component_outputs")
        if getattr(remembered, f) != getattr(fresh, f)
    ]
    return f"changed {changed}, only remembered {gone}, only fresh {added}, other fields {others}"


def _generated(run: ProgramRun) -> dict[str, bytes]:
    """URN -> the random bytes a run's mocks hold for it."""
    import base64

    return {
        urn: base64.b64decode(out["base64"])
        for urn, out in run.state.items()
        if urn.split("::")[-2].endswith("RandomBytes") and "base64" in out
    }


if os.environ.get("RUNCACHE_VERIFY") == "1":
    _verify_remembered_runs()


@pytest.fixture(scope="session", autouse=True)
def runs_shared_across_tests() -> Iterator[None]:
    """A program run that reads the same files with the same inputs as one in an earlier test
    (in this worker) is a copy of its result, with fresh random values where the run
    generated some (`runcache.remembering_runs(redrawing=True)`): most tests plan copies of
    the example stacks. Files are compared, so a test that edits a program or a module runs
    it again; a test that patches code (`monkeypatch.setattr`) runs every program itself."""
    with remembering_runs(redrawing=True):
        yield


@pytest.fixture(autouse=True)
def patched_code_runs_again(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """From a test's first `monkeypatch.setattr` on, its runs neither use nor feed the
    remembered ones: the patch may change what a program does without changing a file."""
    with contextlib.ExitStack() as stack:
        setattr_ = monkeypatch.setattr
        patched = False

        def forgetting_setattr(*args: Any, **kwargs: Any) -> Any:
            nonlocal patched
            if not patched:
                stack.enter_context(runcache.forgotten())
                patched = True
            return setattr_(*args, **kwargs)

        monkeypatch.setattr = forgetting_setattr  # type: ignore[method-assign]
        yield


@pytest.fixture(scope="module")
def remembered_runs() -> Iterator[None]:
    """For modules that put copies of the example stacks through command after command: a
    program run whose inputs match an earlier one's in the module is a copy of its result
    (`mockrun.remembering_runs`). Use it with `pytestmark = pytest.mark.usefixtures(...)`
    only where no test changes the program, its modules or what they import."""
    with remembering_runs():
        yield


@pytest.fixture
def plan(run: Callable[..., ProgramRun]) -> Callable[..., dict[str, Any]]:
    def _plan(namespace: dict[str, Any], values: dict[str, str] | None = None) -> dict[str, Any]:
        return plan_document(run(namespace, values))

    return _plan


# The slowest modules (seconds of one run each, 2 cores), started first: pytest-xdist's
# `loadscope` hands out whole modules in collection order (pyproject.toml turns off its own
# reordering by test count), so a long module collected last (they sort late: rehearse,
# workflow_check, ...) would leave the other core idle at the end.
SLOW_FIRST = (
    "test_engine_deploy",  # the real engine: pulumi up of every rotation stage (~200 s)
    "test_engine_codefirst",  # ~80 s: a code-first project deployed, changed, destroyed
    "test_engine_rehearse",  # ~70 s: two rehearsals, each stage a pulumi up
    "test_engine_adopt",  # ~55 s: init against a live account, then up
    "test_adopt",  # ~20 s alone: a fresh venv, then the installed CLI in a project of its own
    "test_rehearse",  # ~27 s: five rehearsals on workerd
    "test_rotate_workflow",  # ~14 s: the rotation workflow's steps, real processes
    "test_workflow_check",  # ~9 s
    "test_live",  # ~8 s
    "test_crypto_interop",  # ~6 s
    "test_fuzz_stackfiles",  # ~6 s
    "test_rehearse_program",  # ~5 s: two rehearsals on workerd
    "test_safe_writes",  # ~5 s
    "test_local_cloudflare",  # ~3 s
    "test_plugin_schema",  # ~3 s
    "test_bot",  # ~3 s
    "test_loader_refusals",  # ~3 s
    "test_plan_cli",  # ~3 s
    "test_export_wrangler",  # ~3 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = Path(item.nodeid.split("::", 1)[0]).stem
        return SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: every module keeps its own order
