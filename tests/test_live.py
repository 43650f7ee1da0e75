"""The live account through Cloudflare's official library, against the local Cloudflare API:
`status --live` (each drift kind), `verify --live`, `init`, and the wait for active secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from local_cloudflare import serve
from secrets_store.activation import ActivationError, ActivationProvider, wait_until_active
from secrets_store.spec import NAMESPACE
from secretsctl.cli import app
from secretsctl.offline.mockrun import remembering_runs
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.stackfile import load_stack_config
from tests.live_support import ACCOUNT, CANARY, TOKEN, LiveStack, live_dev, plan_of

runner = CliRunner()
STORES = ("GET", "/accounts/{account_id}/secrets_store/stores")
SETTINGS = ("GET", "/accounts/{account_id}/workers/scripts/{script_name}/settings")


@pytest.fixture(autouse=True)
def _each_program_run_once() -> Iterator[None]:
    # The fixture deploys the plan, then each command plans the same files again.
    with remembering_runs():
        yield


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with live_dev(tmp_path, monkeypatch) as stack:
        stack.server.reset_requests()
        yield stack


def cli(live: LiveStack, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--stack", live.stack, "--root", str(live.root)])
    assert CANARY not in result.output, "a secret value reached the output"
    return result


def status_json(live: LiveStack) -> tuple[int, dict[str, Any]]:
    result = cli(live, "status", "--live", "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


# ---- status --------------------------------------------------------------------------------


def test_status_of_a_freshly_deployed_stack_shows_no_drift_in_two_calls_plus_one_per_worker(live):
    # GIVEN the dev stack deployed exactly as planned
    code, document = status_json(live)
    # THEN it matches the JSON contract and reports no drift
    assert code == 0 and document["ok"] is True and document["drift"] == []
    assert document["secrets"]["api_key"]["versions"] == {
        "1": {"cloudflare_name": "dev_api_key_v1", "expected": True, "live": "active"},
        "2": {"cloudflare_name": "dev_api_key_v2", "expected": True, "live": "active"},
    }
    api = document["workers"]["api"]
    assert api["script_name"] == "dev_api" and api["live"] is True
    assert api["bindings"]["FALLBACK_KEY"] == {
        "expected": "dev_api_key_v2",
        "live": "dev_api_key_v2",
    }
    # AND it read the account with 2 list calls plus one settings read per worker
    workers = len(document["workers"])
    assert sum(live.server.requests.values()) == 2 + workers
    assert live.server.requests[STORES] == 1 and live.server.requests[SETTINGS] == workers


@pytest.mark.parametrize(
    ("plant", "kind", "key"),
    [
        # a version the stage needs, deleted in the dashboard
        (lambda lv: lv.server.remove_secret(ACCOUNT, "dev_api_key_v2"), "version_absent",
         "secrets.api_key.v2"),
        # the same, deleted through the API: still listed, as `deleted`, for a while
        (lambda lv: delete_by_name(lv, "dev_api_key_v2"), "version_absent",
         "secrets.api_key.v2"),
        # a version that Cloudflare has not activated yet
        (lambda lv: lv.server.set_secret_status(ACCOUNT, "dev_db_config_v1", "pending"),
         "version_pending", "secrets.db_config.v1"),
        # a version nobody declared (a leftover, or made by hand)
        (lambda lv: lv.server.plant_secret(ACCOUNT, "dev_hmac_key_v9", CANARY),
         "unexpected_version", "secrets.hmac_key.v9"),
        # a worker redeployed by another tool, bound to another version
        (lambda lv: lv.server.redeploy_script(
            ACCOUNT, "dev_billing",
            [{"type": "secrets_store_secret", "name": "BILLING_KEY", "store_id": lv.store_id,
              "secret_name": "dev_api_key_v2"}]),
         "binding_mismatch", "workers.billing.BILLING_KEY"),
        # a script deleted out of band
        (lambda lv: lv.client.workers.scripts.delete("dev_signer", account_id=ACCOUNT),
         "script_absent", "workers.signer"),
    ],
    ids=["version_absent", "version_deleted", "version_pending", "unexpected_version",
         "binding_mismatch", "script_absent"],
)  # fmt: skip
def test_status_reports_each_kind_of_drift_and_exits_1(live, plant, kind, key):
    plant(live)
    code, document = status_json(live)
    assert code == 1 and document["ok"] is False
    assert (kind, key) in {(d["kind"], d["key"]) for d in document["drift"]}


def delete_by_name(live, name):
    secrets = live.client.secrets_store.stores.secrets
    [found] = [s for s in secrets.list(live.store_id, account_id=ACCOUNT) if s.name == name]
    secrets.delete(found.id, account_id=ACCOUNT, store_id=live.store_id)


def test_a_version_deleted_after_its_rotation_is_no_drift(live):
    # GIVEN a leftover version, deleted through the API (Cloudflare lists it `deleted`)
    live.server.plant_secret(ACCOUNT, "dev_hmac_key_v9", CANARY)
    delete_by_name(live, "dev_hmac_key_v9")
    # THEN it is not an unexpected version: deleted is gone
    code, document = status_json(live)
    assert code == 0 and document["drift"] == [], document["drift"]


def test_status_text_is_a_table_naming_each_drift(live):
    live.server.remove_secret(ACCOUNT, "dev_api_key_v2")
    result = cli(live, "status", "--live")
    assert result.exit_code == 1
    assert "DRIFT" in result.output and "version_absent" in result.output
    assert "dev_api_key_v2" in result.output and "API calls" in result.output


def test_a_store_given_by_id_is_not_listed(live):
    text = live.path.read_text().replace(
        "    name: default_secrets_store", f"    id: {live.store_id}\n    name: x", 1
    )
    live.path.write_text(text)
    code, _ = status_json(live)
    assert code == 0 and live.server.requests[STORES] == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLOUDFLARE_API_TOKEN": None}, "CLOUDFLARE_API_TOKEN: not set"),
        ({"CLOUDFLARE_API_TOKEN": "wrong-token"}, "refused by Cloudflare (401)"),
        ({"CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}, "cannot reach"),
    ],
    ids=["no-token", "unauthorised", "unreachable"],
)
def test_status_exits_2_with_one_line_when_the_account_cannot_be_read(
    live, monkeypatch, env, message
):
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, value)
    result = cli(live, "status", "--live")
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_status_refuses_a_placeholder_account_before_any_call(live):
    live.path.write_text(live.path.read_text().replace(ACCOUNT, "REPLACE_ME_ACCOUNT_ID"))
    result = cli(live, "status", "--live")
    assert result.exit_code == 2 and "secrets-store:accountId" in result.output
    assert sum(live.server.requests.values()) == 0


# ---- verify --------------------------------------------------------------------------------


def test_verify_refuses_while_a_version_is_pending_and_passes_once_it_is_active(live):
    # GIVEN the new version of api_key still pending in Cloudflare
    live.server.set_secret_status(ACCOUNT, "dev_api_key_v2", "pending")
    no = cli(live, "verify", "--live", "api_key")
    # THEN it is not safe to advance, and it says why
    assert no.exit_code == 1, no.output
    assert "NO-GO" in no.output and "version_pending" in no.output
    # WHEN Cloudflare activates it
    live.server.set_secret_status(ACCOUNT, "dev_api_key_v2", "active")
    go = cli(live, "verify", "--live", "api_key")
    # THEN advancing is safe, and the next stage's changes are shown
    assert go.exit_code == 0, go.output
    assert "GO" in go.output and "swapped" in go.output
    assert "PRIMARY_KEY: dev_api_key_v1 → dev_api_key_v2" in go.output


def test_verify_refuses_when_the_last_deploy_did_not_land_on_a_worker(live):
    live.server.redeploy_script(ACCOUNT, "dev_legacy", [])  # another tool dropped the bindings
    result = cli(live, "verify", "--live", "api_key", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {"binding_mismatch"} == {b["kind"] for b in document["blockers"]}
    assert document["next"][0]["secret"] == "api_key"


def test_verify_ignores_drift_of_other_secrets(live):
    live.server.set_secret_status(ACCOUNT, "dev_hmac_key_v1", "pending")
    assert cli(live, "verify", "--live", "api_key").exit_code == 0
    assert cli(live, "verify", "--live", "hmac_key").exit_code == 1


def test_verify_names_an_undeclared_secret(live):
    result = cli(live, "verify", "--live", "nope")
    assert result.exit_code == 2 and "nope" in result.output


# ---- init ----------------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An account with a store, two secrets (one of them mid-rotation), a KV namespace and a
    script, and an empty project."""
    with serve(tokens={TOKEN}, accounts=[ACCOUNT]) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        server.plant_secret(ACCOUNT, "api_key_v1", CANARY, comment='vendor "key"')
        server.plant_secret(ACCOUNT, "api_key_v2", CANARY)
        server.plant_secret(ACCOUNT, "db_config_v3", CANARY, scopes=("workers", "access"))
        server.plant_secret(ACCOUNT, "db_sync_v3", CANARY)
        server.plant_secret(ACCOUNT, "LEGACY TOKEN".replace(" ", "_"), CANARY)
        kv = server.seed_kv_namespace(ACCOUNT, "cache")
        root = tmp_path / "project"
        (root / "stacks").mkdir(parents=True)
        (root / "Pulumi.yaml").write_text(
            "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
        )
        yield server, root, kv


def test_init_declares_the_accounts_secrets_imported_by_id(fresh):
    _server, root, kv = fresh
    result = runner.invoke(
        app, ["init", "--stack", "qa", "--account-id", ACCOUNT, "--root", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    path = root / "stacks" / "Pulumi.qa.yaml"
    text = path.read_text()
    assert CANARY not in text
    # THEN the store is adopted, every versioned secret declared at its newest version and
    # imported by id, the rest listed, and the KV namespace shown as a comment
    config = load_stack_config("qa", path)
    assert config.positions["api_key"].current == 2
    assert config.positions["db_sync"].current == 3
    secrets = config.namespace["secrets"]
    store_id = config.namespace["store"]["id"]
    assert secrets["api_key"]["importIds"]["2"].startswith(f"{ACCOUNT}/{store_id}/")
    assert secrets["db_sync"]["scopes"] == ["workers"]
    assert "also in the store: api_key_v1" in text and "LEGACY_TOKEN" in text
    # AND a secret another service reads by name is listed, not declared (README "Scopes")
    assert "db_config" not in secrets and "#   db_config_v3 (scopes workers, access" in text
    assert kv in text
    # AND no value is asked for: every declared version is imported with its live value
    assert "pulumi config set" not in result.output
    # AND the plan imports the versions instead of creating them, with no value in config
    plan = plan_stack("qa", config=load_stack_config("qa", path))
    assert not plan.run.of_type("cloudflare:index/secretsStoreSecret:SecretsStoreSecret")
    imported = {n: i for s in plan.document["secrets"].values() for n, i in s["imported"].items()}
    assert imported["api_key_v2"] == secrets["api_key"]["importIds"]["2"]
    # AND init never overwrites
    again = runner.invoke(
        app, ["init", "--stack", "qa", "--account-id", ACCOUNT, "--root", str(root)]
    )
    assert again.exit_code == 2 and "already exists" in again.output
    assert path.read_text().startswith(text[:200])


CODE_FIRST = """\
import pulumi
from secrets_store import SecretsStore, VersionedSecret

account = pulumi.Config("secrets-store").require("accountId")
store = SecretsStore("store", account_id=account)
VersionedSecret("api_key", store=store, kind="api_key")
VersionedSecret("db_sync", store=store, kind="api_key")
"""


def test_init_in_a_code_first_project_writes_the_config_contract_its_program_reads(fresh):
    _server, root, _kv = fresh
    (root / "infra").mkdir()
    (root / "infra" / "__main__.py").write_text(CODE_FIRST)
    (root / "Pulumi.yaml").write_text(
        "name: shop\nruntime: python\nmain: infra/__main__.py\nstackConfigDir: stacks\n"
    )
    result = runner.invoke(
        app, ["init", "--stack", "qa", "--account-id", ACCOUNT, "--root", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "legacy form" not in result.output and CANARY not in result.output
    path = root / "stacks" / "Pulumi.qa.yaml"
    text = path.read_text()
    assert f"{NAMESPACE}:secrets" not in text and f"{NAMESPACE}:store" not in text
    config = load_stack_config("qa", path)
    assert config.legacy_form is None
    assert config.positions["api_key"].current == 2
    imports = config.namespace["importIds"]
    assert imports["api_key"]["2"].startswith(f"{ACCOUNT}/")
    # THEN the program adopts each live version by the id init wrote, creating none
    plan = plan_stack("qa", config=config)
    assert not plan.run.of_type("cloudflare:index/secretsStoreSecret:SecretsStoreSecret")
    imported = {n: i for s in plan.document["secrets"].values() for n, i in s["imported"].items()}
    assert imported == {
        "api_key_v2": imports["api_key"]["2"],
        "db_sync_v3": imports["db_sync"]["3"],
    }


# ---- the wait for active secrets -----------------------------------------------------------


def _secret_id(server: Any, client: Any, store_id: str, name: str) -> str:
    for secret in client.secrets_store.stores.secrets.list(store_id, account_id=ACCOUNT):
        if secret.name == name:
            return str(secret.id)
    raise AssertionError(name)


@pytest.fixture
def pending(monkeypatch: pytest.MonkeyPatch) -> Any:
    from cloudflare import Cloudflare

    with serve(tokens={TOKEN}, accounts=[ACCOUNT], pending_seconds=10) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        client = Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0)
        store_id = str(next(iter(client.secrets_store.stores.list(account_id=ACCOUNT))).id)
        client.secrets_store.stores.secrets.create(
            store_id, account_id=ACCOUNT, body=[{"name": "k_v2", "value": CANARY,
                                                 "scopes": ["workers"]}]
        )  # fmt: skip
        server.reset_requests()
        yield server, client, store_id, _secret_id(server, client, store_id, "k_v2")


GET_SECRET = ("GET", "/accounts/{account_id}/secrets_store/stores/{store_id}/secrets/{secret_id}")


def test_the_wait_polls_a_pending_secret_until_cloudflare_activates_it(pending):
    server, client, store_id, secret_id = pending
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        server.advance(seconds)  # the local API's clock moves as time passes

    status = wait_until_active(
        client, account_id=ACCOUNT, store_id=store_id, secret_id=secret_id, name="k_v2",
        timeout=60, sleep=sleep, clock=lambda: sum(waited),
    )  # fmt: skip
    assert status == "active"
    assert sum(waited) >= 10 and len(waited) == server.requests[GET_SECRET] - 1
    assert waited[:3] == [0.5, 1.0, 2.0]  # backing off


def test_an_already_active_secret_costs_one_read_and_no_wait(pending):
    server, _client, store_id, secret_id = pending
    server.advance(10)
    provider = ActivationProvider()  # credentials from CLOUDFLARE_API_TOKEN/BASE_URL
    result = provider.create(
        {"account_id": ACCOUNT, "store_id": store_id, "secret_id": secret_id, "name": "k_v2"}
    )
    assert result.outs["status"] == "active" and result.outs["name"] == "k_v2"
    assert server.requests[GET_SECRET] == 1


def test_the_wait_gives_up_with_a_message_naming_the_secret(pending):
    _server, client, store_id, secret_id = pending
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds  # time passes, but Cloudflare never activates it

    with pytest.raises(ActivationError, match=r"secret k_v2 .* still pending after 5 s") as exc:
        wait_until_active(
            client, account_id=ACCOUNT, store_id=store_id, secret_id=secret_id, name="k_v2",
            timeout=5, sleep=sleep, clock=lambda: clock[0],
        )  # fmt: skip
    assert CANARY not in str(exc.value)


@pytest.mark.parametrize("how", ["behind_the_back", "through_the_api"])
def test_the_wait_refuses_a_secret_deleted_meanwhile(pending, how):
    server, client, store_id, secret_id = pending
    if how == "behind_the_back":
        server.remove_secret(ACCOUNT, "k_v2")  # gone: 404
    else:  # listed `deleted` for a while
        client.secrets_store.stores.secrets.delete(secret_id, account_id=ACCOUNT, store_id=store_id)
    with pytest.raises(ActivationError, match="k_v2") as refused:
        wait_until_active(
            client, account_id=ACCOUNT, store_id=store_id, secret_id=secret_id, name="k_v2",
            timeout=5, sleep=lambda s: None,
        )  # fmt: skip
    expected = "absent" if how == "behind_the_back" else "deleted"
    assert f"Cloudflare reports it {expected}" in str(refused.value)


def test_the_provider_refuses_without_a_token(monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(ActivationError, match="cloudflare:apiToken"):
        ActivationProvider().create(
            {"account_id": ACCOUNT, "store_id": "s", "secret_id": "i", "name": "k_v1"}
        )


def test_plan_of_the_local_dev_stack_is_deployable_in_pulumi_up_order(live):
    # The fixture deployed the plan through the official library with the API's rules:
    # a service target after its caller would have failed with 10143.
    plan = plan_of(live)
    assert plan["workers"]["gateway"]["bindings"]["AUTH"]["service"] == "dev_auth"


# ---- an API that answers with errors -----------------------------------------------------


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A stand-in API answering every request with one status and Cloudflare's error envelope."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    status: dict[str, int] = {"code": 429, "error": 971}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"success": False, "errors": [{"code": status["error"], "message": "x"}],
                 "messages": [], "result": None}
            ).encode()  # fmt: skip
            self.send_response(status["code"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits up to one poll interval (0.5 s by default).
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield status, f"http://127.0.0.1:{server.server_port}/client/v4"
    server.shutdown()


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        (404, 7003, "answered 404"),  # e.g. a store id that does not exist
        (429, 971, "answered 429, got rate limited"),
        (500, 10013, "failed with HTTP 500, got error 10013"),
    ],
)
def test_api_errors_end_in_one_line_and_exit_2(tmp_path, monkeypatch, answering, code, error,
                                               message):  # fmt: skip
    # GIVEN a deployed dev stack, then an API that answers every call with one error
    with live_dev(tmp_path, monkeypatch) as stack:
        root = stack.root
    status, base_url = answering
    status.update(code=code, error=error)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", base_url)
    result = runner.invoke(app, ["status", "--stack", "dev", "--live", "--root", str(root)])
    # THEN one line naming what happened, exit 2, no traceback
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_init_never_writes_outside_stacks(fresh):
    _server, root, _kv = fresh
    result = runner.invoke(
        app, ["init", "--stack", "../../escape", "--account-id", ACCOUNT, "--root", str(root)]
    )
    assert result.exit_code == 2 and "--stack: not a stack name" in result.output
    assert not list(root.parent.rglob("*escape*"))
