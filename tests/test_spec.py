"""Every config guard of the README: refused before any resource, named by key, with the fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import SecretStr

from secrets_store.errors import SpecError
from secrets_store.spec import ConfigValue, parse_stack
from tests.conftest import BASE_NAMESPACE, BASE_VALUES, CANARY, key_value


def values_of(plain: dict[str, str], secure: bool = True) -> dict[str, ConfigValue]:
    return {k: ConfigValue(SecretStr(v), secure=secure) for k, v in plain.items()}


def parse(namespace: dict[str, Any], values: dict[str, str] | None = None, **kw: Any):
    return parse_stack("dev", namespace, values_of(BASE_VALUES if values is None else values), **kw)


def refusal(namespace: dict[str, Any], values: dict[str, str] | None = None, **kw: Any) -> str:
    with pytest.raises(SpecError) as info:
        parse(namespace, values, **kw)
    text = str(info.value)
    assert CANARY not in text, "a refusal leaked a secret value"
    return text


def edited(edit) -> dict[str, Any]:
    namespace = copy.deepcopy(BASE_NAMESPACE)
    edit(namespace)
    return namespace


def test_the_base_config_is_valid():
    spec = parse(copy.deepcopy(BASE_NAMESPACE))
    assert set(spec.secrets) == {"api_key", "db_config", "vault_key", "hmac_key"}
    assert spec.workers["billing"].secrets["BILLING_KEY"].secret == "api_key"


# (edit to the valid base config, expected key path and words of the message)
GUARDS = [
    # unknown kind names the choices
    (
        lambda n: n["secrets"]["api_key"].update(kind="password"),
        r"secrets-store:secrets\.api_key\.kind: unknown kind, got 'password' \(use one of api_key",
    ),
    # unknown stage
    (
        lambda n: n["secrets"]["api_key"].update(stage="halfway", next=2),
        r"secrets-store:secrets\.api_key\.stage: unknown stage, got 'halfway'",
    ),
    # next without a stage
    (
        lambda n: n["secrets"]["api_key"].update(next=2),
        r"secrets\.api_key\.next: is set while stage is steady, got next=2 \(set stage: fallback",
    ),
    # a stage without next
    (
        lambda n: n["secrets"]["api_key"].update(stage="fallback"),
        r"secrets\.api_key\.stage: 'fallback' needs next, got no next \(set next: 2\)",
    ),
    # next not after current
    (
        lambda n: n["secrets"]["api_key"].update(current=3, stage="fallback", next=2),
        r"secrets\.api_key\.next: must be greater than current \(3\), got 2",
    ),
    # a secret name with a space
    (
        lambda n: n["secrets"].update({"api key": {"kind": "api_key"}}),
        r"secrets\.api key: bad secret name, got 'api key' .*no spaces",
    ),
    # scopes outside the four Cloudflare knows
    (
        lambda n: n["secrets"]["api_key"].update(scopes=["workers", "bogus"]),
        r"secrets\.api_key\.scopes: 'bogus' is not a scope "
        r"\(use workers\)",
    ),
    # a binding to an undeclared secret
    (
        lambda n: n["workers"]["billing"]["secrets"].update(OTHER="nope"),
        r"workers\.billing\.secrets\.OTHER: binds an undeclared secret, got 'nope'",
    ),
    # two bindings with one name: a var named like a secret binding
    (
        lambda n: n["workers"]["api"].update(vars={"PRIMARY_KEY": "x"}),
        r"workers\.api\.vars\.PRIMARY_KEY: binding name 'PRIMARY_KEY' is already used by "
        r"workers\.api\.secrets\.PRIMARY_KEY",
    ),
    # two bindings with one name: a fallback name equal to another binding
    (
        lambda n: n["workers"]["api"]["secrets"].update(
            PRIMARY_KEY={"secret": "api_key", "fallback": "DB_CONFIG"}
        ),
        r"binding name 'DB_CONFIG' is already used",
    ),
    # a binding name that is not a JavaScript identifier
    (
        lambda n: n["workers"]["billing"]["secrets"].update({"BILLING-KEY": "api_key"}),
        r"workers\.billing\.secrets\.BILLING-KEY: bad binding name",
    ),
    # a worker name Cloudflare would refuse as a script name
    (
        lambda n: n["workers"].update({"Billing Worker": {"module": "workers/billing.js"}}),
        r"workers\.Billing Worker: bad worker name",
    ),
    # unknown keys are refused, not ignored
    (
        lambda n: n["secrets"]["api_key"].update(scope=["workers"]),
        r"secrets\.api_key\.scope: unknown key, got 'scope'",
    ),
    (lambda n: n.update(acountId="x"), r"secrets-store:acountId: unknown config key"),
    # account id shape
    (
        lambda n: n.update(accountId="my-account"),
        r"secrets-store:accountId: must be a 32-character lowercase hex",
    ),
    # unknown schema, and schema on a non-json kind
    (
        lambda n: n["secrets"]["db_config"].update(schema="mysql"),
        r"secrets\.db_config\.schema: unknown schema, got 'mysql' "
        r"\(use one of login_clients, postgres",
    ),
    (
        lambda n: n["secrets"]["api_key"].update(schema="postgres"),
        r"secrets\.api_key\.schema: applies to kind json only",
    ),
    # service binding to a worker that does not exist
    (
        lambda n: n["workers"]["api"].update(services={"AUTH": "auth"}),
        r"workers\.api\.services\.AUTH: names no worker of this stack, got 'auth'",
    ),
    # generate cannot make JSON
    (
        lambda n: n["secrets"]["db_config"].update(source="generate"),
        r"secrets\.db_config\.source: generate makes random bytes",
    ),
]


@pytest.mark.parametrize(("edit", "message"), GUARDS)
def test_invalid_config_is_refused_with_key_path_and_fix(edit, message):
    with pytest.raises(SpecError, match=message):
        parse(edited(edit))


def test_a_missing_value_names_the_command_that_sets_it():
    values = {k: v for k, v in BASE_VALUES.items() if k != "api_key_v1"}
    text = refusal(copy.deepcopy(BASE_NAMESPACE), values)
    assert (
        "secrets-store:api_key_v1: missing value for version 1 of secret 'api_key', got nothing "
        "(run `pulumi config set --secret --stack dev api_key_v1 <value>`" in text
    )


def test_a_value_stored_in_plain_text_is_refused():
    with pytest.raises(SpecError, match=r"api_key_v1: is stored as plain text in the stack file"):
        parse_stack(
            "dev",
            copy.deepcopy(BASE_NAMESPACE),
            {**values_of(BASE_VALUES), **values_of({"api_key_v1": CANARY}, secure=False)},
        )


def test_a_value_over_65536_bytes_is_refused_with_its_size_only():
    text = refusal(copy.deepcopy(BASE_NAMESPACE), {**BASE_VALUES, "api_key_v1": CANARY * 5000})
    assert f"got {len(CANARY) * 5000:,} bytes (Cloudflare allows at most 65,536" in text


def test_a_value_of_exactly_65536_bytes_is_accepted():
    parse(copy.deepcopy(BASE_NAMESPACE), {**BASE_VALUES, "api_key_v1": "x" * 65_536})


def test_json_value_failing_its_schema_names_the_field_not_the_value():
    bad = json.dumps({"host": "db", "port": 70000, "username": "app", "password": CANARY})
    text = refusal(copy.deepcopy(BASE_NAMESPACE), {**BASE_VALUES, "db_config_v1": bad})
    assert (
        "db_config_v1: does not satisfy schema 'postgres': port: Input should be less than" in text
    )


def test_json_value_that_is_not_json_is_refused_without_echo():
    text = refusal(copy.deepcopy(BASE_NAMESPACE), {**BASE_VALUES, "db_config_v1": CANARY + "{"})
    assert "db_config_v1: is not valid JSON (Expecting value at line 1 column 1)" in text


def test_key_material_must_be_32_random_bytes_in_base64():
    namespace = edited(lambda n: n["secrets"]["vault_key"].update(source="config"))
    text = refusal(namespace, {**BASE_VALUES, "vault_key_v1": CANARY})
    assert "vault_key_v1: a encryption_key must be base64 of 32 random bytes" in text
    parse(namespace, {**BASE_VALUES, "vault_key_v1": key_value(7)})


def test_more_than_100_secrets_in_one_account_is_refused():
    namespace = copy.deepcopy(BASE_NAMESPACE)
    # 4 declared + 97 generated = 101 live Cloudflare secrets.
    namespace["secrets"].update(
        {f"extra_{i}": {"kind": "opaque", "source": "generate"} for i in range(97)}
    )
    with pytest.raises(SpecError, match=r"secrets-store:secrets: needs 101 Cloudflare secrets"):
        parse(namespace)


def test_a_rotation_counts_both_live_versions_toward_the_limit():
    namespace = copy.deepcopy(BASE_NAMESPACE)
    namespace["secrets"].update(
        {f"extra_{i}": {"kind": "opaque", "source": "generate"} for i in range(96)}
    )
    parse(namespace)  # exactly 100
    namespace["secrets"]["api_key"].update(stage="fallback", next=2)
    with pytest.raises(SpecError, match="needs 101 Cloudflare secrets"):
        parse(namespace)


def test_every_problem_is_reported_at_once():
    def many(n: dict[str, Any]) -> None:
        n["secrets"]["api_key"]["kind"] = "password"
        n["secrets"]["hmac_key"]["scopes"] = ["nope"]
        n["workers"]["billing"]["secrets"]["X"] = "ghost"

    with pytest.raises(SpecError) as info:
        parse(edited(many), {**BASE_VALUES, "db_config_v1": "{"})
    assert info.value.keys == [
        "secrets-store:secrets.api_key.kind",
        "secrets-store:secrets.hmac_key.scopes",
        "secrets-store:workers.billing.secrets.X",
        "secrets-store:db_config_v1",
    ]


def test_a_module_the_caller_refuses_is_reported_at_its_worker_key():
    def check(path: str, bundle: str | None) -> str | None:
        return f"does not exist, got {path!r} (fix it)" if "api" in path else None

    with pytest.raises(
        SpecError, match=r"workers\.api\.module: does not exist, got 'workers/api.js'"
    ) as info:
        parse(copy.deepcopy(BASE_NAMESPACE), module_check=check)
    assert info.value.keys == ["secrets-store:workers.api.module"]


@pytest.mark.parametrize("scope", ["access", "ai_gateway", "dex"])
def test_scopes_that_read_a_secret_by_name_are_refused_with_the_reason(scope):
    text = refusal(edited(lambda n: n["secrets"]["api_key"].update(scopes=["workers", scope])))
    assert (
        f"secrets-store:secrets.api_key.scopes: {scope} refers to a secret by one name, which "
        f"every rotation changes (<secret>_v<N>), got '{scope}' (use [workers]"
    ) in text


def test_a_scope_given_as_one_word_is_a_list():
    spec = parse(edited(lambda n: n["secrets"]["api_key"].update(scopes="workers")))
    assert spec.secrets["api_key"].scopes == ("workers",)


def test_shorthand_binding_is_a_binding_with_default_fallback():
    spec = parse(copy.deepcopy(BASE_NAMESPACE))
    binding = spec.workers["billing"].secrets["BILLING_KEY"]
    assert (binding.secret, binding.fallback) == ("api_key", None)


def test_config_values_never_show_in_repr():
    spec = parse(copy.deepcopy(BASE_NAMESPACE))
    assert CANARY not in repr(spec)
    assert CANARY not in repr(spec.values)


def test_a_value_key_of_no_declared_secret_or_worker_is_refused():
    text = refusal(copy.deepcopy(BASE_NAMESPACE), {**BASE_VALUES, "apikey_v1": CANARY})
    assert "secrets-store:apikey_v1: unknown config key, got 'apikey_v1'" in text
    assert "pulumi config rm --stack dev apikey_v1" in text


def test_old_version_values_may_stay_after_a_rotation_finishes():
    namespace = copy.deepcopy(BASE_NAMESPACE)
    namespace["secrets"]["api_key"]["current"] = 2
    parse(namespace)  # api_key_v1 and _v3 are still in the values: allowed


def test_secrets_that_are_not_a_mapping_are_refused():
    namespace = copy.deepcopy(BASE_NAMESPACE)
    namespace["secrets"] = ["api_key"]
    with pytest.raises(
        SpecError,
        match=r"secrets-store:secrets: must be a mapping of name to "
        r"settings, got list",
    ):
        parse(namespace)
