"""`secretsctl rehearse --engine`: each stage a real `pulumi up` against the local Cloudflare
API, and workerd serving what the account then holds (scripts as uploaded, values as
stored), never the offline plan.

GIVEN the built-in demo (api_key shared by two Workers, an encryption_key, a signing_key
      shared by auth and gateway, a json login list)
WHEN  it is rehearsed with --engine, on the careful path and on the emergency path
THEN  every stage was deployed by `pulumi up` (timed), the upload matched the plan, the
      traffic passed (only promised failures on the emergency path), counted per Worker,
      and no value was printed or written to the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudflare import Cloudflare

from local_cloudflare import serve
from secretsctl.rehearse.engine import _differences, account_deployment
from secretsctl.rehearse.stages import Deployment
from tests.engine_support import engine_bin
from tests.test_rehearse import STAGES, Run, invoke

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "engineRehearsalToken-0123456789abcdefghijklmnop"
DEMO_WORKERS = {"demo_api", "demo_billing", "demo_gateway", "demo_vault"}


@pytest.fixture(scope="module")
def careful() -> Iterator[Run]:
    engine_bin()  # skips, with the reason, where `make engine` has not built it
    yield invoke("--engine", "--json")


@pytest.fixture(scope="module")
def emergency() -> Iterator[Run]:
    engine_bin()
    yield invoke("--engine", "--emergency", "--json")


@pytest.mark.engine
def test_every_stage_is_a_real_pulumi_up_and_the_traffic_passes(careful: Run) -> None:
    assert careful.exit_code == 0, careful.stderr[-3000:]
    report = careful.json()
    assert report["ok"] and report["lost_values"] == 0
    ups = report["engine_ups"]
    assert [u["stage"] for u in ups] == ["steady", "fallback", "swapped", "finished"]
    assert all(u["seconds"] > 0 for u in ups)
    assert "created" in ups[0]["changes"] and "deleted" in ups[-1]["changes"]
    assert {r["stage"] for r in report["stages"]} == set(STAGES)
    assert {r["kind"] for r in report["stages"]} == {"api_key", "encryption_key", "signing_key"}
    # What workerd ran is what the provider uploaded, and that matched the offline plan.
    assert not [n for n in report["notes"] if "differ" in n or "holds" in n], report["notes"]
    assert not [n for n in report["notes"] if "does not serve" in n], report["notes"]


@pytest.mark.engine
def test_requests_and_failures_are_counted_per_stage_and_worker(careful: Run) -> None:
    rows = careful.json()["workers"]
    for stage in STAGES:
        seen = {w["worker"] for w in rows if w["stage"] == stage}
        assert seen == DEMO_WORKERS, stage
    assert all(w["requests"] > 0 and w["failures"] == 0 for w in rows)


@pytest.mark.engine
def test_the_emergency_path_runs_the_same_way_and_costs_only_what_is_promised(
    emergency: Run,
) -> None:
    assert emergency.exit_code == 0, emergency.stderr[-3000:]
    report = emergency.json()
    assert report["emergency"] and report["ok"]
    assert len(report["engine_ups"]) == 3  # start, the emergency deploy, the finish
    assert all(c["unpromised"] == 0 for c in report["costs"].values())


def test_engine_with_a_stack_is_refused_before_anything_runs() -> None:
    refused = invoke("--engine", "--stack", "dev")
    assert refused.exit_code == 2
    assert "--engine" in refused.stderr and "--stack" in refused.stderr


# ---- what workerd is given: the account, not the plan -------------------------------------


def test_the_deployment_is_what_the_account_holds(tmp_path: Path) -> None:
    with serve(tokens={TOKEN}, accounts=[ACCOUNT], keep_values=True) as server:
        client = Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0)
        store = next(iter(client.secrets_store.stores.list(account_id=ACCOUNT))).id
        client.secrets_store.stores.secrets.create(
            store,
            account_id=ACCOUNT,
            body=[{"name": "k_v1", "value": "held-value-Xq7", "scopes": ["workers"]}],
        )
        server.advance(60)
        bindings = [
            {
                "type": "secrets_store_secret",
                "name": "KEY",
                "store_id": store,
                "secret_name": "k_v1",
            },
            {"type": "plain_text", "name": "MODE", "text": "edge"},
        ]
        client.workers.scripts.update(
            "edge",
            account_id=ACCOUNT,
            metadata={"main_module": "edge.js", "bindings": bindings},
            files=[
                (
                    "edge.js",
                    b"import {g} from './lib/g.js';\nexport default {}",
                    "application/javascript+module",
                ),
                ("lib/g.js", b"export const g = 1;", "application/javascript+module"),
            ],
        )
        held = account_deployment(server, ACCOUNT, tmp_path)
    worker = held.workers["edge"]
    root = Path(worker["modules_root"])
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.js")) == [
        "edge.js",
        "lib/g.js",
    ]
    assert (root / "lib" / "g.js").read_bytes() == b"export const g = 1;"
    assert worker["main_module"] == "edge.js"
    assert held.bindings["edge"] == {"KEY": "k_v1"} and held.plain["edge"] == {"MODE": "edge"}
    assert held.secrets == {store: {"k_v1": "held-value-Xq7"}}


def test_an_upload_that_differs_from_the_plan_is_named_without_a_value() -> None:
    planned = Deployment({"edge": {}}, {"s": {"k_v1": "v-one"}}, {}, {"edge": {"KEY": "k_v1"}})
    held = Deployment({"edge": {}}, {"s": {"k_v2": "v-two"}}, {}, {"edge": {"KEY": "k_v2"}})
    notes = _differences("fallback", planned, held)
    assert len(notes) == 2 and all("fallback" in n for n in notes)
    assert not [n for n in notes if "v-one" in n or "v-two" in n]
