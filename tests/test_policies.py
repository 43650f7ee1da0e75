"""The policy pack: each policy's function with passing and failing resources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from secrets_store.spec import MAX_SECRETS_PER_ACCOUNT
from secretsctl.offline.plan import plan_stack
from tests.conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "secrets_store_policies", ROOT / "policies" / "secrets_store_policies.py"
)
assert _spec and _spec.loader
policies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(policies)

SECRET, SCRIPT, STORE = policies.SECRET_TYPE, policies.SCRIPT_TYPE, policies.STORE_TYPE


ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "f" * 32


def secret(name: str, scopes: list[str] | None = None, account: str = ACCOUNT) -> dict:
    return {
        "type": SECRET,
        "props": {
            "name": name,
            "scopes": ["workers"] if scopes is None else scopes,
            "value": CANARY,
            "accountId": account,
        },
    }


def script(name: str, *bindings: dict, account: str = ACCOUNT) -> dict:
    return {
        "type": SCRIPT,
        "props": {"scriptName": name, "bindings": list(bindings), "accountId": account},
    }


def store_binding(name: str, secret_name: str) -> dict:
    return {"type": "secrets_store_secret", "name": name, "secretName": secret_name, "storeId": "s"}


# ---- scopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "fragment"),
    [
        (["workers"], None),
        (["access", "workers"], None),
        (["access", "ai_gateway", "dex", "workers"], None),
        (["workers", "access"], "must be sorted alphabetically"),  # Cloudflare's order
        (["workers", "bogus"], "scope 'bogus' is not allowed"),
        ([], "has no scopes"),
    ],
)
def test_secret_scopes_must_be_allowed_and_sorted(scopes, fragment):
    problems = policies.secret_scope_problems(secret("api_key_v1", scopes)["props"])
    if fragment is None:
        assert problems == []
    else:
        assert any(fragment in p for p in problems), problems
        assert all(CANARY not in p for p in problems)


def test_a_secret_without_scopes_is_a_violation():
    assert policies.secret_scope_problems({"name": "x"}) == [
        "secret x: has no scopes (use [workers])"
    ]


# ---- secret_text shadowing ------------------------------------------------------------------


def test_secret_text_binding_named_like_a_store_binding_is_a_violation():
    props = script(
        "legacy",
        store_binding("API_KEY", "api_key_v1"),
        {"type": "secret_text", "name": "API_KEY", "text": CANARY},
    )["props"]
    problems = policies.shadowed_secret_text_problems(props)
    assert problems == [
        "worker legacy: secret_text binding API_KEY shadows the Secrets Store binding of the "
        "same name (finish the migration: remove it from secretText)"
    ]


def test_secret_text_binding_with_its_own_name_passes():
    props = script(
        "legacy",
        store_binding("API_KEY", "api_key_v1"),
        {"type": "secret_text", "name": "OLD_API_KEY", "text": CANARY},
    )["props"]
    assert policies.shadowed_secret_text_problems(props) == []


# ---- bindings to deleted versions ---------------------------------------------------------


def test_worker_bound_to_a_version_the_update_deletes_is_a_violation():
    # GIVEN the new state has only api_key_v2 while a worker still binds api_key_v1
    resources = [
        secret("api_key_v2"),
        script(
            "api",
            store_binding("PRIMARY_KEY", "api_key_v2"),
            store_binding("FALLBACK_KEY", "api_key_v1"),
        ),
    ]
    problems = policies.deleted_version_binding_problems(resources)
    assert problems == [
        "worker api: binding FALLBACK_KEY points at secret api_key_v1, which this update "
        "deletes or never creates (keep the version until no binding uses it)"
    ]


def test_workers_bound_only_to_live_versions_pass():
    resources = [
        secret("api_key_v1"),
        secret("api_key_v2"),
        script(
            "api",
            store_binding("PRIMARY_KEY", "api_key_v2"),
            store_binding("FALLBACK_KEY", "api_key_v1"),
        ),
    ]
    assert policies.deleted_version_binding_problems(resources) == []


# ---- store protection -----------------------------------------------------------------------


def test_unprotected_store_is_a_violation_and_protected_passes():
    assert policies.store_protection_problems(STORE, "store-store", False) == [
        "store store-store: must be protected (ResourceOptions(protect=True))"
    ]
    assert policies.store_protection_problems(STORE, "store-store", True) == []
    assert policies.store_protection_problems(SECRET, "api_key-v1", False) == []


# ---- through pulumi-policy's own objects, on the real program's resources ------------------


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _policy(name: str):
    return next(p for p in policies.POLICIES if p.name == name)


def _resource_violations(name: str, type_: str, props: dict, protect: bool = False) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(type_, props, f"urn:{name}", name, _opts(protect), None)
    _policy(name).validate(args, lambda message, urn=None: found.append(message))
    return found


STACK_POLICIES = (
    "no-binding-to-deleted-version",
    "no-cloudflare-name-managed-twice",
    "at-most-100-secrets-per-account",
)


def _stack_violations(resources: list[dict], names: tuple[str, ...] = STACK_POLICIES) -> list[str]:
    found: list[str] = []
    policy_resources = [
        PolicyResource(r["type"], r["props"], f"urn:{i}", str(i), _opts(False), None, None, [], {})
        for i, r in enumerate(resources)
    ]
    for name in names:
        _policy(name).validate(
            StackValidationArgs(policy_resources), lambda message, urn=None: found.append(message)
        )
    return found


def test_the_real_dev_stack_passes_every_policy():
    # GIVEN the offline plan of the example dev stack (mid-rotation, store adopted by name)
    example = ROOT / "examples" / "stacks" / "Pulumi.dev.yaml"
    resources = plan_stack("dev", example).document["resources"]
    found = []
    for r in resources:
        for name in (
            "secret-scopes-allowed-and-sorted",
            "no-secret-text-shadowing-store-binding",
            "store-protected",
        ):
            found += _resource_violations(name, r["type"], r["inputs"], r.get("protect", False))
    found += _stack_violations([{"type": r["type"], "props": r["inputs"]} for r in resources])
    assert found == []
    assert not any(r["type"] == STORE for r in resources)  # adopted: nothing to delete


def test_the_pack_reports_through_pulumi_policy_when_violated():
    assert _resource_violations(
        "secret-scopes-allowed-and-sorted", SECRET, secret("x_v1", ["workers", "access"])["props"]
    )
    assert _resource_violations("store-protected", STORE, {"name": "s"}, protect=False)
    assert _stack_violations([script("api", store_binding("K", "gone_v1"))])
    assert _stack_violations([script("api"), script("api")], ("no-cloudflare-name-managed-twice",))
    assert _stack_violations(
        [secret(f"s{i}_v1") for i in range(101)], ("at-most-100-secrets-per-account",)
    )


# ---- one account: no name managed twice, at most 100 secrets -------------------------------


def test_a_secret_or_script_name_managed_twice_in_one_account_is_a_violation():
    # GIVEN two components (or prefixes) that both make dev_api_key_v1 and script dev_api
    resources = [
        secret("dev_api_key_v1"),
        secret("dev_api_key_v1"),
        script("dev_api"),
        script("dev_api"),
        secret("dev_api_key_v1", account=OTHER_ACCOUNT),  # another account: its own names
    ]
    assert policies.duplicate_name_problems(resources) == [
        f"secret dev_api_key_v1: managed by 2 resources in account {ACCOUNT} (each needs its own "
        "name: give each stack or component sharing an account its own namePrefix)",
        f"script dev_api: managed by 2 resources in account {ACCOUNT} (each needs its own name: "
        "give each stack or component sharing an account its own namePrefix)",
    ]


def test_the_same_names_in_different_accounts_or_still_unknown_pass():
    resources = [
        secret("api_key_v1"),
        secret("api_key_v1", account=OTHER_ACCOUNT),
        script("api"),
        script("api", account=OTHER_ACCOUNT),
        {"type": SECRET, "props": {"accountId": ACCOUNT}},  # name unknown during a preview
        {"type": SECRET, "props": {"accountId": ACCOUNT}},
    ]
    assert policies.duplicate_name_problems(resources) == []


def test_more_than_100_secrets_in_one_account_is_a_violation_and_100_pass():
    assert policies.MAX_SECRETS_PER_ACCOUNT == MAX_SECRETS_PER_ACCOUNT
    hundred = [secret(f"s{i}_v1") for i in range(100)]
    assert policies.account_secret_limit_problems(hundred) == []
    # one more in another account: each account counts its own
    assert (
        policies.account_secret_limit_problems([*hundred, secret("x_v1", account=OTHER_ACCOUNT)])
        == []
    )
    problems = policies.account_secret_limit_problems([*hundred, secret("s100_v1")])
    assert problems == [
        f"account {ACCOUNT}: 101 Secrets Store secrets in this stack alone, over Cloudflare's "
        "limit of 100 per account (finish rotations or remove secrets)"
    ]
    assert all(CANARY not in p for p in problems)
