"""The real program under Pulumi's mock runtime: resources, bindings, secrecy, state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from secrets_store.errors import SpecError
from secretsctl.offline.mockrun import ProgramRun, redact, remembering_runs, unwrap
from tests.conftest import ACCOUNT, CANARY, key_value

SECRET = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
STORE = "cloudflare:index/secretsStore:SecretsStore"
RANDOM = "random:index/randomBytes:RandomBytes"

# Per kind, a valid value for version N (keys must be 32 bytes of base64).
VALUE_FOR = {
    "api_key": lambda n: f"{CANARY}-key-{n}",
    "opaque": lambda n: f"{CANARY}-opaque-{n}",
    "json": lambda n: json.dumps({"token": CANARY, "n": n}),
    "encryption_key": lambda n: key_value(n),
    "signing_key": lambda n: key_value(100 + n),
}

# The README's stage table for S with a=1, b=2: (stage spec, live, B, F).
STAGES = [
    ({"current": 1}, ["s_v1"], "s_v1", None),
    ({"current": 1, "next": 2, "stage": "fallback"}, ["s_v1", "s_v2"], "s_v1", "s_v2"),
    ({"current": 1, "next": 2, "stage": "swapped"}, ["s_v1", "s_v2"], "s_v2", "s_v1"),
    ({"current": 2}, ["s_v2"], "s_v2", None),
]


def one_secret_namespace(kind: str, stage: dict[str, Any]) -> dict[str, Any]:
    """Secret `s` bound by two workers under different names, one with a named fallback."""
    return {
        "accountId": ACCOUNT,
        "secrets": {"s": {"kind": kind, **stage}},
        "workers": {
            "one": {
                "module": "workers/api.js",
                "secrets": {"KEY": {"secret": "s", "fallback": "KEY_OLD"}},
            },
            "two": {"module": "workers/billing.js", "secrets": {"OTHER": "s"}},
        },
    }


def secret_bindings(run: ProgramRun, script: str) -> dict[str, str]:
    for registration in run.of_type(SCRIPT):
        if registration.inputs["scriptName"] == script:
            return {
                b["name"]: b["secretName"]
                for b in registration.inputs["bindings"]
                if b["type"] == "secrets_store_secret"
            }
    raise AssertionError(f"no WorkersScript {script!r} registered")


@pytest.mark.parametrize("kind", sorted(VALUE_FOR))
@pytest.mark.parametrize(("stage", "live", "primary", "fallback"), STAGES)
def test_every_stage_of_every_kind_binds_as_the_design_table_says(
    run, kind, stage, live, primary, fallback
):
    # GIVEN secret s of this kind at this stage, bound by two workers
    values = {f"s_v{n}": VALUE_FOR[kind](n) for n in (1, 2)}
    # WHEN the program runs
    result = run(one_secret_namespace(kind, stage), values)
    # THEN exactly the live versions exist, once each, shared by both workers
    assert sorted(r.inputs["name"] for r in result.of_type(SECRET)) == live
    # AND every binding of s, under every name, points as the table says
    expected_one = {"KEY": primary} | ({"KEY_OLD": fallback} if fallback else {})
    expected_two = {"OTHER": primary} | ({"OTHER_FALLBACK": fallback} if fallback else {})
    assert secret_bindings(result, "one") == expected_one, "worker one's bindings"
    assert secret_bindings(result, "two") == expected_two, "worker two's bindings"


def test_a_shared_secret_is_one_set_of_resources_bound_under_several_names(run, namespace):
    namespace["secrets"]["api_key"].update(stage="fallback", next=2)
    result = run(namespace)
    api_key_versions = [r for r in result.of_type(SECRET) if r.inputs["name"].startswith("api_key")]
    assert len(api_key_versions) == 2, "one SecretsStoreSecret per live version, not per worker"
    assert secret_bindings(result, "api")["PRIMARY_KEY"] == "api_key_v1"
    assert secret_bindings(result, "api")["FALLBACK_KEY"] == "api_key_v2"
    assert secret_bindings(result, "billing") == {
        "BILLING_KEY": "api_key_v1",
        "BILLING_KEY_FALLBACK": "api_key_v2",
    }


def test_secret_resources_carry_store_scopes_comment_and_prefixed_names(run, namespace):
    namespace["namePrefix"] = "stg_"
    namespace["secrets"]["api_key"].update(scopes=["workers"], comment="vendor key")
    result = run(namespace)
    (api_key,) = [r for r in result.of_type(SECRET) if r.inputs["name"] == "stg_api_key_v1"]
    assert api_key.inputs["scopes"] == ["workers"]
    assert api_key.inputs["comment"] == "vendor key"
    assert api_key.inputs["accountId"] == ACCOUNT
    scripts = sorted(r.inputs["scriptName"] for r in result.of_type(SCRIPT))
    assert scripts == ["stg_api", "stg_billing", "stg_signer", "stg_vault"]


def test_a_created_store_is_protected_and_retained_on_delete(run, namespace):
    namespace["store"] = {"name": "default_secrets_store", "create": True}
    result = run(namespace)
    (store,) = result.of_type(STORE)
    assert store.protect and store.retain_on_delete
    assert store.inputs == {"accountId": ACCOUNT, "name": "default_secrets_store"}
    store_ids = {r.inputs["storeId"] for r in result.of_type(SECRET)}
    assert store_ids == {result.outputs["store_id"]}


def test_an_adopted_store_creates_no_store_resource_and_binds_its_id(run, namespace):
    namespace["store"] = {"id": "6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a"}
    result = run(namespace)
    assert result.of_type(STORE) == []
    assert {r.inputs["storeId"] for r in result.of_type(SECRET)} == {
        "6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a"
    }
    bindings = result.of_type(SCRIPT)[0].inputs["bindings"]
    assert {b["storeId"] for b in bindings if b["type"] == "secrets_store_secret"} == {
        "6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a"
    }


def generated_values(run: ProgramRun) -> dict[str, str]:
    return {
        r.inputs["name"]: unwrap(r.inputs)["value"]
        for r in run.of_type(SECRET)
        if r.inputs["name"] in ("vault_key_v1", "hmac_key_v1")
    }


def test_generated_values_are_stable_across_runs_with_the_same_state(run, namespace):
    first = run(namespace)
    second = run(namespace, state=first.state)
    assert generated_values(first) == generated_values(second)
    # The inputs that would make Pulumi regenerate a value are identical across runs.
    assert [r.inputs for r in first.of_type(RANDOM)] == [r.inputs for r in second.of_type(RANDOM)]
    assert {r.inputs["length"] for r in first.of_type(RANDOM)} == {32}
    # Without that state (a new stack) the values are fresh: the mock really generates.
    assert generated_values(run(namespace)) != generated_values(first)


def test_remembered_runs_are_copies_and_every_other_input_runs_again(run, namespace):
    import copy

    original = copy.deepcopy(namespace)
    with remembering_runs():
        first = run(namespace)
        values = generated_values(first)
        first.resources.clear()  # a caller changing its copy changes nothing remembered
        again = run(namespace)
        assert generated_values(again) == values  # remembered: a fresh run would generate anew
        namespace["secrets"]["api_key"]["comment"] = "changed"
        assert generated_values(run(namespace)) != values  # other config: run again
        namespace["secrets"]["api_key"]["kind"] = "password"
        for _ in range(2):  # a run that raises is never remembered
            with pytest.raises(SpecError):
                run(namespace)
    assert generated_values(run(original)) != values  # outside: every run runs


def test_generated_values_are_32_random_bytes_in_base64(run, namespace):
    import base64

    for value in generated_values(run(namespace)).values():
        assert len(base64.b64decode(value)) == 32


def canary_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in canary_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in canary_paths(v, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and CANARY in value else []


def test_every_secret_value_is_a_pulumi_secret_in_every_resource_input(run, namespace):
    namespace["workers"]["legacy"] = {
        "module": "workers/legacy.js",
        "secretText": {"API_KEY": "legacy_api_key"},
    }
    result = run(
        namespace,
        {
            "api_key_v1": CANARY + "-v1",
            "db_config_v1": json.dumps(
                {"host": "h", "port": 1, "username": "u", "password": CANARY}
            ),
            "legacy_api_key": CANARY + "-legacy",
        },
    )
    leaks = {r.urn: canary_paths(redact(r.inputs)) for r in result.resources}
    assert not any(leaks.values()), f"plain secret values in inputs at {leaks}"
    # ...and the values really are there, wrapped: the test would see a leak.
    wrapped = [p for r in result.resources for p in canary_paths(unwrap(r.inputs))]
    assert len(wrapped) == 3, wrapped


def test_stack_outputs_hold_positions_and_names_never_values(run, namespace):
    namespace["secrets"]["api_key"].update(stage="swapped", next=2)
    result = run(namespace)
    assert CANARY not in json.dumps(result.outputs)
    assert result.outputs["rotation"]["api_key"] == {
        "kind": "api_key",
        "current": 1,
        "next": 2,
        "stage": "swapped",
        "cloudflare_names": ["api_key_v1", "api_key_v2"],
    }
    assert result.outputs["workers"]["billing"] == {
        "script_name": "billing",
        "bindings": {"BILLING_KEY": "api_key_v2", "BILLING_KEY_FALLBACK": "api_key_v1"},
    }


def test_invalid_config_raises_before_any_resource_is_registered(run, namespace, capfd):
    namespace["secrets"]["api_key"]["kind"] = "password"
    with pytest.raises(SpecError) as info:
        run(namespace, {"api_key_v1": CANARY, "db_config_v1": CANARY})
    assert "secrets-store:secrets.api_key.kind" in str(info.value)
    assert CANARY not in str(info.value)
    captured = capfd.readouterr()
    assert CANARY not in captured.out + captured.err


def test_workers_are_uploaded_with_every_imported_module(run, namespace):
    result = run(namespace)
    (api,) = [r for r in result.of_type(SCRIPT) if r.inputs["scriptName"] == "api"]
    assert api.inputs["mainModule"] == "api.js"
    assert "import" in api.inputs["content"]
    files = api.inputs["files"]
    assert files, "imported modules missing from the upload"
    assert all(f["contentType"] == "application/javascript+module" for f in files.values())
    assert all(name.startswith("lib/") for name in files)


def test_legacy_secret_text_binding_is_bound_as_a_secret(run, namespace):
    namespace["workers"]["legacy"] = {
        "module": "workers/legacy.js",
        "secretText": {"API_KEY": "legacy_api_key"},
    }
    result = run(
        namespace,
        {
            "api_key_v1": "k",
            "db_config_v1": json.dumps({"host": "h", "port": 1, "username": "u", "password": "p"}),
            "legacy_api_key": CANARY,
        },
    )
    (legacy,) = [r for r in result.of_type(SCRIPT) if r.inputs["scriptName"] == "legacy"]
    (binding,) = redact(legacy.inputs)["bindings"]
    assert binding == {"type": "secret_text", "name": "API_KEY", "text": "[secret]"}


def test_pulumi_logs_of_a_run_never_contain_a_value(run, namespace, caplog, capfd):
    caplog.set_level("DEBUG")
    run(
        namespace,
        {
            "api_key_v1": CANARY,
            "db_config_v1": json.dumps(
                {"host": "h", "port": 1, "username": "u", "password": CANARY}
            ),
        },
    )
    captured = capfd.readouterr()
    assert CANARY not in caplog.text + captured.out + captured.err


def test_component_type_tokens_are_in_the_project_namespace(run, namespace):
    types = {r.type for r in run(namespace).resources if not r.custom}
    assert types == {
        "secrets-store:index:SecretsStore",
        "secrets-store:index:VersionedSecret",
        "secrets-store:index:Worker",
    }
