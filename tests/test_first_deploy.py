"""The first real `pulumi up` on a typical account, under the mock runtime: the store is
looked up and adopted, nothing is sent on a failed lookup or a placeholder, a new version
is bound only after its activation wait, and a service target is uploaded first."""

from __future__ import annotations

import pytest

from secrets_store.config import PlaceholderError
from secrets_store.store import StoreNotFoundError
from secretsctl.offline.mockrun import run_program
from tests.conftest import ACCOUNT, BASE_VALUES, stack_config

SECRET = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
STORE = "cloudflare:index/secretsStore:SecretsStore"
ACTIVE = "pulumi-python:dynamic/secrets-store:SecretActivation"
STORE_ID = "6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a"


def cloudflare_resources(run):
    return [r for r in run.resources if r.type.startswith("cloudflare:")]


def test_the_default_store_is_looked_up_by_name_and_adopted(namespace):
    # GIVEN a stack that names no store, on an account whose dashboard made the default one
    del namespace["store"]
    stores = [{"id": "other", "name": "legacy"}, {"id": STORE_ID, "name": "default_secrets_store"}]
    run = run_program(stack_config(namespace, BASE_VALUES), stores=stores, offline=False)
    # THEN nothing creates a store, and every secret and binding uses the one found
    assert run.of_type(STORE) == []
    assert {r.inputs["storeId"] for r in run.of_type(SECRET)} == {STORE_ID}
    assert run.outputs["store_id"] == STORE_ID


def test_a_program_of_its_own_gets_the_missing_store_in_its_arguments_terms(tmp_path):
    # GIVEN a program that adopts a store by name with the component's own arguments
    program = tmp_path / "infra.py"
    program.write_text(
        "from secrets_store import SecretsStore\n"
        f"SecretsStore('shop', account_id={ACCOUNT!r}, store_name='team_store')\n"
    )
    with pytest.raises(ValueError, match=r"StoreNotFound|no Secrets Store named") as refused:
        run_program(
            stack_config({}, {}),
            program=program,
            stores=[{"id": STORE_ID, "name": "default_secrets_store"}],
            offline=False,
        )
    # THEN the refusal names the component's argument and the arguments that fix it
    message = str(refused.value)
    assert "SecretsStore shop.store_name: no Secrets Store named 'team_store'" in message
    assert "store_id=<id>" in message and "create=True" in message
    assert "secrets-store:store" not in message


def test_a_missing_store_stops_the_deploy_before_any_resource_naming_both_fixes(namespace):
    # GIVEN an account with no store of that name
    namespace["store"] = {"name": "team_store"}
    # (the SDK reports an input's failure wrapped, as "While processing resource ...")
    with pytest.raises(ValueError, match=r"StoreNotFound|no Secrets Store named") as refused:
        run_program(
            stack_config(namespace, BASE_VALUES),
            stores=[{"id": STORE_ID, "name": "default_secrets_store"}],
            offline=False,
        )
    # THEN the error names the key and both fixes, and lists what the account has
    message = str(refused.value)
    assert "secrets-store:store.name: no Secrets Store named 'team_store'" in message
    assert "store.id" in message and "store.create: true" in message
    assert "default_secrets_store" in message


def test_nothing_reaches_cloudflare_when_the_lookup_fails(namespace, monkeypatch):
    import secretsctl.offline.mockrun as mockrun

    sent: list[str] = []
    original = mockrun.RecordingMonitor.RegisterResource

    def register(self, request):
        if request.type.startswith("cloudflare:"):
            sent.append(request.name)
        return original(self, request)

    monkeypatch.setattr(mockrun.RecordingMonitor, "RegisterResource", register)
    with pytest.raises(ValueError, match=StoreNotFoundError.__name__ + "|no Secrets Store"):
        run_program(stack_config(namespace, BASE_VALUES), stores=[], offline=False)
    assert sent == []


def test_create_true_creates_the_store_protected_and_kept(namespace):
    namespace["store"] = {"name": "default_secrets_store", "create": True}
    run = run_program(stack_config(namespace, BASE_VALUES), stores=[], offline=False)
    (store,) = run.of_type(STORE)
    assert store.protect and store.retain_on_delete


def test_create_and_id_together_are_refused(namespace):
    from secrets_store.errors import SpecError

    namespace["store"] = {"id": STORE_ID, "create": True}
    with pytest.raises(SpecError, match=r"secrets-store:store.create: conflicts with store.id"):
        run_program(stack_config(namespace, BASE_VALUES))


def test_placeholders_are_shown_by_the_plan_and_refused_by_pulumi_up(namespace):
    namespace["accountId"] = "REPLACE_ME_ACCOUNT_ID"
    namespace["workers"]["vault"]["kv"]["CACHE"] = "REPLACE_ME_KV_NAMESPACE_ID"
    config = stack_config(namespace, BASE_VALUES)
    # The offline plan accepts them and lists each key with the command that sets it
    plan = run_program(config)
    listed = plan.outputs["placeholders"]
    assert any(
        line.startswith("secrets-store:accountId:") and "pulumi config set --stack dev" in line
        for line in listed
    )
    assert any("secrets-store:workers.vault.kv.CACHE" in line for line in listed)
    # `pulumi up` refuses them before any resource is registered
    with pytest.raises(PlaceholderError) as refused:
        run_program(config, offline=False)
    assert set(refused.value.keys) == {
        "secrets-store:accountId",
        "secrets-store:workers.vault.kv.CACHE",
    }


def test_every_binding_waits_for_its_version_to_be_active(namespace, run):
    # GIVEN api_key mid-rotation: v2 is created and bound as the fallback in one deploy
    namespace["secrets"]["api_key"].update(next=2, stage="fallback")
    result = run(namespace)
    actives = {r.name: r for r in result.of_type(ACTIVE)}
    secrets = {r.name: r for r in result.of_type(SECRET)}
    # THEN each version has an activation wait that depends on the secret itself
    assert secrets["api_key-v2"].urn in actives["api_key-v2-active"].dependencies
    # AND the scripts binding it depend on the wait, not only on the secret
    (api,) = [r for r in result.of_type(SCRIPT) if r.name == "api-script"]
    assert actives["api_key-v2-active"].urn in api.dependencies
    assert actives["api_key-v2-active"].inputs["name"] == "api_key_v2"


def test_a_service_binding_takes_its_target_from_the_target_script(namespace, run):
    namespace["workers"]["auth"] = {
        "module": "workers/auth.js",
        "secrets": {"SIGNING_KEY": "hmac_key"},
    }
    namespace["workers"]["gateway"] = {
        "module": "workers/gateway.js",
        "secrets": {"JWT_KEY": "hmac_key"},
        "services": {"AUTH": "auth"},
    }
    namespace["namePrefix"] = "qa_"
    result = run(namespace)
    scripts = {r.name: r for r in result.of_type(SCRIPT)}
    # THEN gateway depends on auth's script: uploaded after it, deleted before it
    assert scripts["auth-script"].urn in scripts["gateway-script"].dependencies
    (service,) = [b for b in scripts["gateway-script"].inputs["bindings"] if b["type"] == "service"]
    assert service["service"] == "qa_auth"


def test_a_cycle_of_service_bindings_is_refused(namespace):
    from secrets_store.errors import SpecError

    namespace["workers"]["api"]["services"] = {"BILLING": "billing"}
    namespace["workers"]["billing"]["services"] = {"API": "api"}
    with pytest.raises(SpecError, match=r"service bindings form a cycle, got api → billing → api"):
        run_program(stack_config(namespace, BASE_VALUES))


def test_the_offline_plan_never_shows_a_made_up_store_id(namespace, plan):
    del namespace["store"]
    document = plan(namespace)
    assert document["store_id"] == "<default_secrets_store: looked up at deploy>"
    assert ACCOUNT  # (the account id is real in this config)
