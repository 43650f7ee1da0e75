"""`secretsctl rehearse`: a real rotation on workerd under live traffic, and the careless ones.

Every rehearsal here runs the real workers on workerd (miniflare) with the plan's
bindings and values. The demo's api_key values and the login client's secret are
canaries: they must never show up in what the command prints.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app
from secretsctl.offline.stackfile import SOURCE_ROOT
from secretsctl.rehearse import stages as rehearse_stages
from secretsctl.rehearse import traffic as traffic_module
from secretsctl.rehearse.driver import Response
from secretsctl.rehearse.run import Options, plan_rehearsal
from secretsctl.rehearse.stages import (
    LoginClient,
    demo_config,
    full_rotation,
    key_positions,
    plan_stages,
    transition_steps,
)
from secretsctl.rehearse.traffic import Signed, Traffic

CANARY = "canary-Rh3arsal9Q"
LOGIN_SECRET = f"{CANARY}-login-secret-0123456789"  # gateway refuses secrets under 32 chars
STAGES = ["steady", "fallback", "swapped", "finished"]
ROTATED = {"api_key": "api_key", "vault_key": "encryption_key", "jwt_key": "signing_key"}


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


# The shipped example stacks (examples/stacks/: stacks/ is the user's own).
EXAMPLES = {
    s: str(SOURCE_ROOT / "examples" / "stacks" / f"Pulumi.{s}.yaml") for s in ("dev", "prod")
}


def invoke(*args: str) -> Run:
    """Run the command in-process with canary api_key values in the demo."""
    counter = itertools.count(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rehearse_stages, "api_key_value", lambda: f"{CANARY}-{next(counter)}")
        mp.setattr(rehearse_stages, "client_secret_value", lambda: LOGIN_SECRET)
        mp.setenv("COLUMNS", "200")
        result = CliRunner().invoke(app, ["rehearse", *args], catch_exceptions=False)
    assert CANARY not in result.stdout + result.stderr, "a secret value was printed"
    return Run(result.exit_code, result.stdout, result.stderr)


def rows(report: dict, secret: str, stage: str) -> list[dict]:
    return [r for r in report["stages"] if r["secret"] == secret and r["stage"] == stage]


@dataclass(frozen=True)
class Demo(Run):
    report: dict

    def json(self) -> dict:
        return self.report


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run: its table on stdout, its JSON in the --report file."""
    path = tmp_path_factory.mktemp("rehearsal") / "report.json"
    run = invoke("--report", str(path))
    text = path.read_text()
    assert CANARY not in text, "a secret value was written to the report"
    yield Demo(run.exit_code, run.stdout, run.stderr, json.loads(text))


@pytest.fixture(scope="module")
def skip_stage() -> Iterator[Run]:
    yield invoke("--json", "--unsafe", "skip-stage")


# `--load` with a small count per row, so it stays quick (the real default is 1,000).
LOAD_PER_ROW = 25


@pytest.fixture(scope="module")
def loaded() -> Iterator[Run]:
    yield invoke("--json", "--load", "--requests-per-row", str(LOAD_PER_ROW), "--concurrency", "16")


# -- the demo: a careful rotation passes


def test_demo_rotates_each_kind_through_every_stage_without_a_failure(demo):
    # GIVEN the built-in demo WHEN rehearsed THEN every stage of every secret saw traffic
    report = demo.json()
    assert demo.exit_code == 0, demo.stdout
    assert report["ok"] is True
    for secret, kind in ROTATED.items():
        for stage in STAGES:
            found = rows(report, secret, stage)
            assert found, f"no row for {secret} {stage}"
            assert all(r["kind"] == kind for r in found)
            assert all(r["requests"] > 0 for r in found), f"{secret} {stage}: no traffic"
            assert all(r["failures"] == 0 for r in found), f"{secret} {stage}: {found}"
            assert all(r["max_ms"] >= r["p99_ms"] >= r["p50_ms"] > 0 for r in found)


def test_demo_values_written_at_every_stage_all_read_back(demo):
    report = demo.json()
    assert report["lost_values"] == 0
    assert report["values_written"] >= 4 * len(STAGES)


def test_demo_upstream_schedules_lean_on_the_fallback_exactly_where_they_should(demo):
    # The earliest revoke makes fallback-stage calls retry with F (the new key); the
    # latest register makes swapped-stage calls retry with F (the old key); careful never does.
    report = demo.json()

    def fallbacks(stage: str, schedule: str) -> int:
        return sum(
            r["fallbacks"] for r in rows(report, "api_key", stage) if r["schedule"] == schedule
        )

    assert fallbacks("fallback", "early-revoke") > 0
    assert fallbacks("swapped", "late-register") > 0
    assert all(fallbacks(stage, "careful") == 0 for stage in STAGES)
    assert fallbacks("steady", "early-revoke") == fallbacks("steady", "late-register") == 0


def test_demo_applies_each_transition_in_pulumi_up_order(demo):
    steps = [(d["stage"], d["step"]) for d in demo.json()["deploys"]]
    assert steps == [
        ("steady", "initial"),
        ("fallback", "create"),
        ("fallback", "workers"),
        ("swapped", "workers"),
        ("finished", "workers"),
        ("finished", "delete"),
    ]


def test_demo_table_shows_every_stage_and_exits_zero(demo):
    result = demo
    assert result.exit_code == 0, result.stdout
    for word in ("requests", "failures", "fallbacks", "p50 ms", "p99 ms", "max ms", *STAGES):
        assert word in result.stdout
    assert "OK:" in result.stdout
    assert "stage fallback" in result.stderr  # the progress display


def test_demo_switches_versions_without_restarting_workerd(demo):
    # Every version is loaded with the first deploy: later deploys switch, never restart.
    assert not any("restarted" in note for note in demo.json()["notes"])


# -- under load: requests in flight through every deploy step


def test_load_keeps_requests_in_flight_through_every_deploy_and_loses_nothing(loaded):
    report = loaded.json()
    assert loaded.exit_code == 0, loaded.stdout
    assert report["ok"] is True and report["lost_values"] == 0
    assert not any("restarted" in note or "short of" in note for note in report["notes"])
    for secret in ROTATED:
        for stage in STAGES:
            for r in rows(report, secret, stage):
                assert r["requests"] >= LOAD_PER_ROW, r
                assert r["failures"] == 0, r
                assert r["max_ms"] >= r["p99_ms"] >= r["p50_ms"] > 0, r
    # Each step after the first deploy happened while requests were running.
    later = [d for d in report["deploys"] if d["step"] != "initial"]
    assert len(later) == 5
    assert all(d["in_flight"] > 0 for d in later), later


# -- careless operators fail, in the stage where they go wrong (skip-stage below runs without
# --load, so both traffic paths rehearse an unsafe rotation)


def test_revoke_early_fails_in_the_fallback_stage_under_load_and_exits_non_zero():
    result = invoke(
        "--load", "--requests-per-row", "10", "--concurrency", "16", "--unsafe", "revoke-early"
    )
    assert result.exit_code == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED in stage")]
    assert failed, result.stdout
    assert all(line.startswith("FAILED in stage fallback: api_key") for line in failed), failed
    assert "invalid_key" in failed[0]


@pytest.mark.parametrize("parent", ["no-such-folder", "a-file"])
def test_an_unwritable_report_path_is_refused_before_anything_runs(tmp_path: Path, parent: str):
    (tmp_path / "a-file").write_text("")  # writable, but not a folder
    result = invoke("--report", str(tmp_path / parent / "report.json"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--report: cannot write into" in result.stderr
    assert "stage" not in result.stderr  # no rehearsal started


def test_skip_stage_fails_in_the_finished_stage_for_every_kind(skip_stage):
    report = skip_stage.json()
    assert skip_stage.exit_code == 1
    assert report["ok"] is False
    failing = {(f["secret"], f["stage"]) for f in report["failing_stages"]}
    assert failing == {(s, "finished") for s in ROTATED}
    reasons = {f["secret"]: f["reasons"] for f in report["failing_stages"]}
    assert any("unknown_key_id" in r for r in reasons["vault_key"])
    assert any("unknown_key_id" in r for r in reasons["jwt_key"])


def test_skip_stage_loses_the_values_encrypted_under_the_old_key(skip_stage):
    report = skip_stage.json()
    assert report["lost_values"] > 0
    assert [r["stage"] for r in report["stages"] if r["secret"] == "vault_key"] == [
        "steady",
        "finished",
    ]


# -- a real stack's next transition


def test_stack_dev_rehearses_its_next_stage_with_local_stand_ins():
    result = invoke("--stack", "dev", "--config-file", EXAMPLES["dev"], "--json")
    report = result.json()
    assert result.exit_code == 0, result.stdout
    assert {(r["secret"], r["stage"]) for r in report["stages"]} == {
        ("api_key", "fallback"),
        ("api_key", "swapped"),
    }
    assert any("stand-ins" in note and "api_key_v1" in note for note in report["notes"])


def test_stack_dev_jwt_key_logs_in_with_the_client_its_login_clients_stand_in_lists():
    # GIVEN dev, whose LOGIN_CLIENTS value is a `secure:` ciphertext nobody here can read
    # WHEN its jwt_key is rehearsed (gateway /login, then /me, under live traffic)
    result = invoke(
        "--stack", "dev", "--config-file", EXAMPLES["dev"], "--secret", "jwt_key", "--json"
    )
    report = result.json()
    # THEN every login authenticated with the rehearsal's client (listed by the stand-in)
    assert result.exit_code == 0, result.stdout
    for stage in ("steady", "fallback"):
        (row,) = rows(report, "jwt_key", stage)
        assert row["requests"] > 0 and row["failures"] == 0, row
    assert any("stand-ins" in n and "login_clients_v1" in n for n in report["notes"])
    assert any("TOKEN_TTL_SECONDS of auth" in n for n in report["notes"])


def test_stack_with_nothing_to_rehearse_is_invalid_input():
    result = invoke("--stack", "prod", "--config-file", EXAMPLES["prod"])
    assert result.exit_code == 2
    assert "nothing to promote" in result.stderr


def test_unknown_secret_is_invalid_input():
    result = invoke("--stack", "dev", "--config-file", EXAMPLES["dev"], "--secret", "nope")
    assert result.exit_code == 2
    assert "'nope' is not declared" in result.stderr


# -- stage planning, without workerd


def test_transition_creates_before_workers_move_and_deletes_last(tmp_path: Path):
    base = demo_config({1: f"{CANARY}-1", 2: f"{CANARY}-2"})
    stages = plan_stages(base, full_rotation(key_positions(base), skip_stage=False), tmp_path)
    into_fallback = transition_steps(stages[0].deployment, stages[1].deployment)
    finish = transition_steps(stages[2].deployment, stages[3].deployment)
    assert [s.name for s in into_fallback] == ["create", "workers"]
    assert [s.name for s in finish] == ["workers", "delete"]
    # While workers move, both versions exist; only the delete step drops the old ones.
    names = lambda step: {n for store in step.description["secrets"].values() for n in store}  # noqa: E731
    assert {"demo_api_key_v1", "demo_api_key_v2"} <= names(finish[0])
    assert "demo_api_key_v1" not in names(finish[1])
    assert "demo_vault_key_v1" not in names(finish[1])


def test_demo_gateway_lists_the_rehearsal_client_and_auth_issues_short_tokens(tmp_path: Path):
    stages, kinds, _, client = plan_rehearsal(Options(), tmp_path)
    first = stages[0].deployment
    # gateway checks logins against login_clients, which lists the client by its digest only
    assert first.bindings["demo_gateway"]["LOGIN_CLIENTS"] == "demo_login_clients_v1"
    document = json.loads(first.value("demo_login_clients_v1") or "{}")
    (entry,) = document["clients"]
    assert entry["client_id"] == client.client_id
    assert entry["secret_sha256"] == hashlib.sha256(client.secret.encode()).hexdigest()
    assert client.secret not in json.dumps(document)
    # auth's lifetime is the rehearsal's, set on the worker (no client can choose it)
    assert first.plain["demo_auth"]["TOKEN_TTL_SECONDS"] == "2"
    # the clients document stays steady: the rehearsal rotates the key kinds
    assert "login_clients" not in kinds
    assert all(s.positions.keys() == {"api_key", "vault_key", "jwt_key"} for s in stages)


def test_a_token_that_expired_in_flight_is_no_failure_but_one_refused_while_live_is(
    monkeypatch: pytest.MonkeyPatch,
):
    """On a loaded machine a token built with the margin left can reach the verifier after
    its exp + leeway: refused then, the verifier is right. Refused as expired while it was
    still live when the answer came back is a rotation failure."""
    clock = [1_000.0]
    monkeypatch.setattr(traffic_module, "time", SimpleNamespace(time=lambda: clock[0]))
    traffic = Traffic(ROTATED, [], 2, LoginClient("rehearsal", LOGIN_SECRET))
    traffic.signed.append(Signed("jwt_key", "demo_auth", "kid1", 1_001.0, "a.b.c"))
    [(request, check)] = traffic.verify_all_live()
    assert request.path == "/me"
    expired = Response(401, 900.0, False, json.dumps({"error": "token_expired"}))
    assert not check(expired).ok  # answered at 1000.0: still live, so a wrong refusal
    clock[0] = 1_001.2
    assert check(expired).ok  # answered after it expired: the verifier was right
    other = Response(401, 900.0, False, json.dumps({"error": "unknown_kid"}))
    assert check(other).reason == "verify: unknown_kid"
    assert not check(other).ok


def test_login_client_repr_hides_its_secret_and_its_header_is_http_basic():
    client = LoginClient("rehearsal", LOGIN_SECRET)
    assert CANARY not in repr(client)
    scheme, token = client.authorization().split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"rehearsal:{LOGIN_SECRET}"


def test_generated_keys_stay_the_same_across_stages(tmp_path: Path):
    base = demo_config()
    stages = plan_stages(base, full_rotation(key_positions(base), skip_stage=False), tmp_path)
    v1 = [s.deployment.value("demo_vault_key_v1") for s in stages[:3]]
    assert v1[0] is not None and v1.count(v1[0]) == 3
    assert stages[1].deployment.value("demo_vault_key_v2") == stages[3].deployment.value(
        "demo_vault_key_v2"
    )


def test_workerd_gets_the_registered_modules_not_the_files_on_disk(tmp_path: Path):
    base = demo_config()
    stage = plan_stages(base, full_rotation(key_positions(base), skip_stage=False), tmp_path)[0]
    worker = stage.deployment.workers["demo_vault"]
    root = Path(worker["modules_root"])
    assert root.is_relative_to(tmp_path)
    script = next(r for r in stage.plan.run.resources if r.inputs.get("scriptName") == "demo_vault")
    assert (root / "vault.js").read_text() == script.inputs["content"]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.js")) == sorted(
        ["vault.js", *script.inputs["files"]]
    )


# -- a TypeScript Worker, built by esbuild and uploaded as a bundle


def test_stack_with_a_typescript_bundle_rotates_with_no_failed_request(tmp_path):
    import shutil

    from tests.example_support import build_edge_signer

    # GIVEN a project of its own (this repo's program, no topology file) whose one stack's
    # Worker is the esbuild output of the TypeScript example (it imports the helpers through
    # the npm package's exports), with a Durable Object, a D1 and an R2 binding passed
    # through extraBindings, and its signing key mid-rotation
    build_edge_signer()
    source = Path(__file__).resolve().parents[1]
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: edge\nruntime: python\nstackConfigDir: stacks\n")
    shutil.copy(source / "__main__.py", tmp_path / "__main__.py")
    shutil.copy(Path(__file__).parent / "fixtures" / "Pulumi.edge.yaml", tmp_path / "stacks")
    dist = "workers/examples/edge-signer/dist"
    shutil.copytree(source / dist, tmp_path / dist)
    # WHEN its next stage is rehearsed on workerd under live traffic
    result = invoke("--stack", "edge", "--cwd", str(tmp_path), "--json")
    report = result.json()
    # THEN signatures made and checked through fallback -> swapped never fail
    assert result.exit_code == 0, result.stdout + result.stderr
    for stage in ("fallback", "swapped"):
        (row,) = rows(report, "hmac_key", stage)
        assert row["requests"] > 0 and row["failures"] == 0, row


def test_emergency_costs_only_what_the_readme_promises_and_exits_zero():
    # GIVEN the demo's three kinds, WHEN they take the emergency path under traffic
    run = invoke("--emergency", "--json")
    assert run.exit_code == 0, run.stderr
    report = run.json()
    assert report["emergency"] is True and report["ok"] is True
    costs = report["costs"]
    # THEN nothing fails that the README did not promise, for every kind
    assert {kind: cost["unpromised"] for kind, cost in costs.items()} == {
        "api_key": 0,
        "encryption_key": 0,
        "signing_key": 0,
    }
    # the promised cost: tokens signed by the dropped key fail at once, nothing else does
    assert costs["signing_key"]["promised"] > 0
    assert costs["api_key"]["promised"] == costs["encryption_key"]["promised"] == 0
    # api_key and jwt_key jump straight to the new version; vault_key swaps, then finishes
    assert rows(report, "jwt_key", "finished") and rows(report, "api_key", "finished")
    assert rows(report, "vault_key", "swapped") and rows(report, "vault_key", "finished")
    assert report["lost_values"] == 0 and report["values_written"] > 0


def test_emergency_with_unsafe_is_invalid_input():
    run = invoke("--emergency", "--unsafe", "skip-stage")
    assert run.exit_code == 2
    assert "--emergency: rehearses the built-in demo's emergency path" in run.stderr
