"""The local Cloudflare API, driven only through Cloudflare's official Python library.

Every client here validates responses strictly against the library's own models, so a
field of the wrong type or a missing one fails the test that fetched it. Each test starts
its own server on a free loopback port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudflare import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Cloudflare,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

from local_cloudflare import LocalCloudflare, serve
from local_cloudflare.server import NAMESPACES, SCRIPT, SECRETS, STORES

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
TOKEN = "test-token-local"
CANARY = "canary-Qm4Xw9Lk2Rt"
JS = "application/javascript+module"
MODULE = ("index.js", b"export default { fetch() { return new Response('ok') } }", JS)

Factory = Callable[..., LocalCloudflare]


@pytest.fixture
def make_server() -> Iterator[Factory]:
    """Start servers on demand (e.g. with pending_seconds); all close after the test."""
    with ExitStack() as stack:

        def start(**options: Any) -> LocalCloudflare:
            options.setdefault("tokens", {TOKEN})
            options.setdefault("accounts", [ACCOUNT])
            return stack.enter_context(serve(**options))

        yield start


@pytest.fixture
def cf(make_server: Factory) -> LocalCloudflare:
    return make_server()


def client_for(server: LocalCloudflare, token: str | None = TOKEN, **options: Any) -> Cloudflare:
    """No retries (so request counts are exact) and strict parsing with the library's models."""
    return Cloudflare(
        api_token=token,
        base_url=server.base_url,
        max_retries=0,
        _strict_response_validation=True,
        **options,
    )


@pytest.fixture
def client(cf: LocalCloudflare) -> Cloudflare:
    return client_for(cf)


def error_code(error: APIStatusError) -> int:
    assert isinstance(error.body, dict), error.body
    code = error.body["errors"][0]["code"]
    assert isinstance(code, int)
    return code


def store_id(client: Cloudflare) -> str:
    [store] = list(client.secrets_store.stores.list(account_id=ACCOUNT))
    return store.id


def create_secrets(client: Cloudflare, body: list[dict[str, Any]]) -> list[Any]:
    """POST one batch; entries are plain dicts (some invalid on purpose), hence Any."""
    entries: Any = body
    secrets = client.secrets_store.stores.secrets
    return list(secrets.create(store_id(client), account_id=ACCOUNT, body=entries))


def create_secret(client: Cloudflare, name: str, value: str = "v", **extra: Any) -> str:
    [created] = create_secrets(
        client, [{"name": name, "value": value, "scopes": ["workers"], **extra}]
    )
    return str(created.id)


def upload(client: Cloudflare, name: str, bindings: list[dict[str, Any]]) -> Any:
    metadata: Any = {  # bindings are plain dicts here, not the library's TypedDicts
        "main_module": "index.js",
        "compatibility_date": "2025-09-01",
        "compatibility_flags": ["nodejs_compat"],
        "bindings": bindings,
    }
    return client.workers.scripts.update(
        name, account_id=ACCOUNT, metadata=metadata, files=[MODULE]
    )


# ---- Secrets Store: stores --------------------------------------------------------------


def test_seeded_account_has_the_dashboards_default_store(client: Cloudflare) -> None:
    [store] = list(client.secrets_store.stores.list(account_id=ACCOUNT))
    assert store.name == "default_secrets_store"
    assert store.account_id == ACCOUNT
    fetched = client.secrets_store.stores.get(store.id, account_id=ACCOUNT)
    assert fetched is not None and fetched.id == store.id
    quota = client.secrets_store.quota.get(account_id=ACCOUNT)
    assert quota is not None and (quota.secrets.quota, quota.secrets.usage) == (100, 0)


def test_a_second_store_fails_with_1003(cf: LocalCloudflare, client: Cloudflare) -> None:
    # GIVEN an account with no store: the first create works
    cf.seed_account(OTHER, default_store=False)
    created = client.secrets_store.stores.create(account_id=OTHER, name="mine")
    assert created is not None and created.name == "mine"
    # WHEN a second store is created (in either account) THEN Cloudflare's 1003
    for account_id in (OTHER, ACCOUNT):
        with pytest.raises(BadRequestError) as refused:
            client.secrets_store.stores.create(account_id=account_id, name="another")
        assert error_code(refused.value) == 1003
        assert "maximum_stores_exceeded" in str(refused.value)


def test_store_delete_needs_force_while_it_holds_secrets(client: Cloudflare) -> None:
    sid = store_id(client)
    create_secret(client, "api_key_v1")
    with pytest.raises(ConflictError) as refused:
        client.secrets_store.stores.delete(sid, account_id=ACCOUNT)
    assert error_code(refused.value) == 1009
    client.secrets_store.stores.delete(sid, account_id=ACCOUNT, force=True)
    assert list(client.secrets_store.stores.list(account_id=ACCOUNT)) == []


# ---- Secrets Store: secrets -------------------------------------------------------------


def test_new_secret_is_pending_until_the_clock_passes(make_server: Factory) -> None:
    cf = make_server(pending_seconds=30)
    client = client_for(cf)
    secret_id = create_secret(client, "api_key_v2")
    sid = store_id(client)

    def status() -> str:
        got = client.secrets_store.stores.secrets.get(secret_id, account_id=ACCOUNT, store_id=sid)
        assert got is not None
        return got.status

    assert status() == "pending"
    cf.advance(29.9)
    assert status() == "pending"
    cf.advance(0.1)
    assert status() == "active"
    [listed] = client.secrets_store.stores.secrets.list(sid, account_id=ACCOUNT)
    assert listed.status == "active"


def test_secret_get_edit_duplicate_delete(cf: LocalCloudflare, client: Cloudflare) -> None:
    sid = store_id(client)
    secrets = client.secrets_store.stores.secrets
    secret_id = create_secret(client, "db_config_v1", comment="first")
    cf.advance(60)

    edited = secrets.edit(
        secret_id,
        account_id=ACCOUNT,
        store_id=sid,
        value="new",
        scopes=["workers", "access"],
        comment="rotated",
    )
    assert edited is not None
    assert (edited.id, edited.name, edited.comment) == (secret_id, "db_config_v1", "rotated")
    assert edited.scopes == ["workers", "access"] and edited.modified > edited.created
    assert cf.state.secret_value_matches(ACCOUNT, "db_config_v1", "new")

    copy = secrets.duplicate(
        secret_id, account_id=ACCOUNT, store_id=sid, name="db_config_v2", scopes=["workers"]
    )
    assert copy is not None and copy.id != secret_id and copy.name == "db_config_v2"
    assert cf.state.secret_value_matches(ACCOUNT, "db_config_v2", "new")

    # DELETE answers 202 with the secret, now `deleted`; it stays listed so for a while
    deleted = secrets.with_raw_response.delete(secret_id, account_id=ACCOUNT, store_id=sid)
    assert deleted.status_code == 202
    assert deleted.http_response.json()["result"]["status"] == "deleted"
    got = secrets.get(secret_id, account_id=ACCOUNT, store_id=sid)
    assert got is not None and got.status == "deleted"
    listed = {s.name: s.status for s in secrets.list(sid, account_id=ACCOUNT)}
    assert listed == {"db_config_v1": "deleted", "db_config_v2": "active"}
    with pytest.raises(NotFoundError) as again:  # nothing edits or deletes it any more
        secrets.delete(secret_id, account_id=ACCOUNT, store_id=sid)
    assert error_code(again.value) == 7003

    cf.advance(30)  # then it is gone
    with pytest.raises(NotFoundError) as gone:
        secrets.get(secret_id, account_id=ACCOUNT, store_id=sid)
    assert error_code(gone.value) == 7003
    assert "Could not route to" in str(gone.value)
    assert [s.name for s in secrets.list(sid, account_id=ACCOUNT)] == ["db_config_v2"]


def test_a_deleted_secret_frees_its_name_binds_nothing_and_counts_for_nothing(
    cf: LocalCloudflare, client: Cloudflare
) -> None:
    sid = store_id(client)
    secret_id = create_secret(client, "api_key_v1")
    client.secrets_store.stores.secrets.delete(secret_id, account_id=ACCOUNT, store_id=sid)
    binding = {"type": "secrets_store_secret", "store_id": sid, "secret_name": "api_key_v1"}
    with pytest.raises(BadRequestError) as refused:
        upload(client, "api", [{"name": "K", **binding}])
    assert error_code(refused.value) == 10182
    quota = client.secrets_store.quota.get(account_id=ACCOUNT)
    assert quota is not None and quota.secrets.usage == 0
    assert create_secret(client, "api_key_v1") != secret_id  # the name is free again


def test_unknown_store_or_secret_ids_are_7003(client: Cloudflare) -> None:
    secrets = client.secrets_store.stores.secrets
    with pytest.raises(NotFoundError) as no_store:
        list(secrets.list("0" * 32, account_id=ACCOUNT))
    assert error_code(no_store.value) == 7003
    with pytest.raises(NotFoundError) as no_secret:
        secrets.get("0" * 32, account_id=ACCOUNT, store_id=store_id(client))
    assert error_code(no_secret.value) == 7003


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"name": "api key"}, 1001),  # a space
        ({"name": "api\tkey"}, 1001),  # any whitespace
        ({"name": "api.key"}, 1001),  # outside letters, digits, _ and -
        ({"name": ""}, 1001),  # empty
        ({"scopes": ["bogus"]}, 1006),  # not a scope
        ({"scopes": []}, 1006),  # at least one scope
        ({"value": 42}, 1010),  # a value is a string
    ],
)
def test_invalid_secrets_are_refused(client: Cloudflare, entry: dict[str, Any], code: int) -> None:
    body = {"name": "api_key_v1", "value": "v", "scopes": ["workers"], **entry}
    with pytest.raises(BadRequestError) as refused:
        create_secrets(client, [body])
    assert error_code(refused.value) == code


def test_allowed_names_and_scopes_are_accepted(client: Cloudflare) -> None:
    # Every scope the official SDK declares (its `scopes` Literal), as Cloudflare takes them.
    from typing import get_args, get_type_hints

    from cloudflare.types.secrets_store.stores.secret_create_params import Body

    declared = get_args(get_args(get_type_hints(Body)["scopes"])[0])
    assert set(declared) == {"access", "ai_gateway", "containers", "dex", "websearch", "workers"}
    body = [{"name": "Api-Key_v10", "value": "v", "scopes": list(declared)}]
    [created] = create_secrets(client, body)
    assert created.name == "Api-Key_v10"
    assert sorted(created.scopes) == sorted(declared)


def test_kv_namespace_delete_answers_what_the_sdks_strict_models_read(
    cf: LocalCloudflare,
) -> None:
    strict = Cloudflare(
        api_token=TOKEN, base_url=cf.base_url, max_retries=0, _strict_response_validation=True
    )
    namespace = cf.state.seed_kv_namespace(ACCOUNT, "to-delete")
    answer = strict.kv.namespaces.delete(namespace, account_id=ACCOUNT)
    assert answer is not None and answer.model_dump() == {}


def test_duplicate_names_are_refused_in_the_store_and_in_one_batch(client: Cloudflare) -> None:
    create_secret(client, "api_key_v1")
    entry = {"name": "api_key_v1", "value": "v", "scopes": ["workers"]}
    other = {**entry, "name": "api_key_v2"}
    for body in ([entry], [other, other]):
        with pytest.raises(BadRequestError) as refused:
            create_secrets(client, body)
        assert error_code(refused.value) == 1003  # the code a store limit also uses
        assert "secret_name_already_exists" in str(refused.value)
    names = [
        s.name
        for s in client.secrets_store.stores.secrets.list(store_id(client), account_id=ACCOUNT)
    ]
    assert names == ["api_key_v1"]  # the refused batch stored nothing


def test_value_limit_is_65536_bytes(client: Cloudflare) -> None:
    sid = store_id(client)
    secret_id = create_secret(client, "at_limit", "x" * 65_536)
    create_secret(client, "multibyte_at_limit", "é" * 32_768)  # 2 bytes each
    for value in ("y" * 65_537, "é" * 32_768 + "y"):
        with pytest.raises(BadRequestError) as refused:
            create_secret(client, "over_limit", value)
        assert error_code(refused.value) == 1001  # as live: secret_value_too_long [code: 1001]
        assert "secret_value_too_long" in str(refused.value)
        assert "65537 bytes" in str(refused.value) and "yyyy" not in str(refused.value)
    with pytest.raises(BadRequestError) as refused:
        client.secrets_store.stores.secrets.edit(
            secret_id, account_id=ACCOUNT, store_id=sid, value="z" * 65_537
        )
    assert error_code(refused.value) == 1001


def test_at_most_100_secrets_per_account(cf: LocalCloudflare, client: Cloudflare) -> None:
    create_secrets(
        client, [{"name": f"s{i:03}", "value": "v", "scopes": ["workers"]} for i in range(99)]
    )
    two = [{"name": f"t{i}", "value": "v", "scopes": ["workers"]} for i in range(2)]
    with pytest.raises(BadRequestError) as refused:  # all or nothing: 99 + 2 > 100
        create_secrets(client, two)
    assert error_code(refused.value) == 1004
    create_secret(client, "the_100th")
    with pytest.raises(BadRequestError) as refused:
        create_secret(client, "the_101st")
    assert error_code(refused.value) == 1004
    quota = client.secrets_store.quota.get(account_id=ACCOUNT)
    assert quota is not None and quota.secrets.usage == 100


def test_list_paginates_across_pages_and_searches(cf: LocalCloudflare, client: Cloudflare) -> None:
    sid = store_id(client)
    for i in range(45):
        cf.plant_secret(ACCOUNT, f"key_{i:02}", "v", comment="shared" if i % 10 == 0 else "")
    pages = client.secrets_store.stores.secrets.list(sid, account_id=ACCOUNT, per_page=20)
    assert [s.name for s in pages] == [f"key_{i:02}" for i in range(45)]
    # 20 + 20 + 5, then the empty page 4 that ends the library's auto-pagination
    assert cf.calls("GET", SECRETS) == 4

    url = f"{cf.base_url}/accounts/{ACCOUNT}/secrets_store/stores/{sid}/secrets?page=3&per_page=20"
    page3 = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert page3["result_info"] == {
        "page": 3,
        "per_page": 20,
        "count": 5,
        "total_count": 45,
        "total_pages": 3,
    }
    found = client.secrets_store.stores.secrets.list(sid, account_id=ACCOUNT, search="SHARED")
    assert [s.name for s in found] == ["key_00", "key_10", "key_20", "key_30", "key_40"]
    newest = client.secrets_store.stores.secrets.list(
        sid, account_id=ACCOUNT, order="name", direction="desc", per_page=1
    )
    assert next(iter(newest)).name == "key_44"


# ---- auth and accounts ------------------------------------------------------------------


def test_401_without_a_token_and_with_a_wrong_one(cf: LocalCloudflare) -> None:
    request = urllib.request.Request(f"{cf.base_url}/accounts/{ACCOUNT}/secrets_store/stores")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 401
    assert json.loads(missing.value.read())["errors"] == [
        {"code": 10000, "message": "Authentication error"}
    ]
    with pytest.raises(AuthenticationError) as wrong:
        list(client_for(cf, token="not-a-token").secrets_store.stores.list(account_id=ACCOUNT))
    assert error_code(wrong.value) == 10000


def test_api_key_and_user_service_key_authenticate_as_the_library_sends_them(
    make_server: Factory,
) -> None:
    cf = make_server(
        tokens=set(),
        api_keys={"ops@example.com": "global-key"},
        user_service_keys={"v1.0-service-key"},
    )
    by_key = client_for(cf, token=None, api_key="global-key", api_email="ops@example.com")
    by_service_key = client_for(cf, token=None, user_service_key="v1.0-service-key")
    for client in (by_key, by_service_key):
        assert [s.name for s in client.secrets_store.stores.list(account_id=ACCOUNT)] == [
            "default_secrets_store"
        ]
    assert cf.accounts_used_by("global-key") == {ACCOUNT}
    assert cf.accounts_used_by("v1.0-service-key") == {ACCOUNT}
    wrong_email = client_for(cf, token=None, api_key="global-key", api_email="eve@example.com")
    with pytest.raises(AuthenticationError):
        list(wrong_email.secrets_store.stores.list(account_id=ACCOUNT))


def test_a_credential_reaches_only_its_accounts(make_server: Factory) -> None:
    cf = make_server(tokens={"a", "b"}, accounts=[ACCOUNT, OTHER], reach={"a": [ACCOUNT]})
    list(client_for(cf, token="b").secrets_store.stores.list(account_id=OTHER))
    with pytest.raises(PermissionDeniedError) as refused:
        list(client_for(cf, token="a").secrets_store.stores.list(account_id=OTHER))
    assert error_code(refused.value) == 10000
    assert cf.accounts_used_by("a") == {OTHER}  # tried, and refused
    assert cf.accounts_used_by("b") == {OTHER}
    assert cf.accounts_used_by("never-sent") == set()


def test_unknown_account_is_403_authentication_error(client: Cloudflare) -> None:
    with pytest.raises(PermissionDeniedError) as refused:
        list(client.secrets_store.stores.list(account_id=OTHER))
    assert error_code(refused.value) == 10000


def test_client_configured_only_by_environment(
    cf: LocalCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in cf.env().items():
        monkeypatch.setenv(key, value)
    client = Cloudflare(max_retries=0)
    assert [s.name for s in client.secrets_store.stores.list(account_id=ACCOUNT)] == [
        "default_secrets_store"
    ]


# ---- Workers scripts --------------------------------------------------------------------


def test_upload_then_settings_return_the_bindings(cf: LocalCloudflare, client: Cloudflare) -> None:
    sid = store_id(client)
    create_secret(client, "api_key_v1")
    namespace = client.kv.namespaces.create(account_id=ACCOUNT, title="sessions")
    assert namespace is not None
    upload(client, "billing", [])
    bindings: list[dict[str, Any]] = [
        {
            "type": "secrets_store_secret",
            "name": "PRIMARY_KEY",
            "store_id": sid,
            "secret_name": "api_key_v1",
        },
        {"type": "kv_namespace", "name": "SESSIONS", "namespace_id": namespace.id},
        {"type": "service", "name": "BILLING", "service": "billing"},
        {"type": "plain_text", "name": "MODE", "text": "live"},
        {"type": "json", "name": "LIMITS", "json": {"rps": 10}},
        {"type": "secret_text", "name": "LEGACY", "text": "hidden"},
    ]
    uploaded = upload(client, "api", bindings)
    assert uploaded.id == "api" and uploaded.has_modules and uploaded.startup_time_ms == 0

    settings = client.workers.scripts.script_and_version_settings.get("api", account_id=ACCOUNT)
    got = [b.to_dict() for b in settings.bindings or []]
    assert got == [*bindings[:-1], {"type": "secret_text", "name": "LEGACY"}]
    assert settings.compatibility_date == "2025-09-01"
    assert settings.compatibility_flags == ["nodejs_compat"]
    assert client.workers.scripts.get("api", account_id=ACCOUNT) == MODULE[1].decode()


def test_settings_patch_replaces_bindings_and_checks_them(client: Cloudflare) -> None:
    upload(client, "api", [{"type": "secret_text", "name": "LEGACY", "text": "hidden"}])
    settings = client.workers.scripts.script_and_version_settings
    patched = settings.edit(
        "api",
        account_id=ACCOUNT,
        settings={
            "bindings": [  # inherit keeps the secret_text binding Cloudflare never returns
                {"type": "inherit", "name": "LEGACY"},
                {"type": "plain_text", "name": "MODE", "text": "test"},
            ],
            "logpush": True,
        },
    )
    assert [b.name for b in patched.bindings or []] == ["LEGACY", "MODE"] and patched.logpush
    with pytest.raises(BadRequestError) as refused:
        settings.edit(
            "api",
            account_id=ACCOUNT,
            settings={"bindings": [{"type": "kv_namespace", "name": "KV", "namespace_id": "nope"}]},
        )
    assert error_code(refused.value) == 10041
    script_settings = client.workers.scripts.settings.edit("api", account_id=ACCOUNT, tags=["a"])
    assert script_settings.tags == ["a"] and script_settings.logpush is True


@pytest.mark.parametrize(
    ("binding", "code"),
    [
        ({"type": "secrets_store_secret", "secret_name": "missing_v1"}, 10182),
        ({"type": "secrets_store_secret", "secret_name": "pending_v1"}, 10182),
        ({"type": "secrets_store_secret", "secret_name": "gateway_only_v1"}, 10021),
        ({"type": "kv_namespace", "namespace_id": "0" * 32}, 10041),
        ({"type": "service", "service": "no-such-worker"}, 10143),
        ({"type": "secret_text"}, 10021),  # a secret_text binding must carry its text
    ],
)
def test_upload_refused_when_a_binding_points_at_nothing(
    cf: LocalCloudflare, client: Cloudflare, binding: dict[str, Any], code: int
) -> None:
    sid = store_id(client)
    cf.plant_secret(ACCOUNT, "pending_v1", "v", status="pending")
    cf.plant_secret(ACCOUNT, "gateway_only_v1", "v", scopes=["ai_gateway"])
    with pytest.raises(BadRequestError) as refused:
        upload(client, "api", [{"name": "B", "store_id": sid, **binding}])
    assert error_code(refused.value) == code
    assert [s.id for s in client.workers.scripts.list(account_id=ACCOUNT)] == []


def test_pending_secret_binds_once_active(make_server: Factory) -> None:
    cf = make_server(pending_seconds=10)
    client = client_for(cf)
    create_secret(client, "api_key_v2")
    binding = {
        "type": "secrets_store_secret",
        "name": "K",
        "store_id": store_id(client),
        "secret_name": "api_key_v2",
    }
    with pytest.raises(BadRequestError) as refused:
        upload(client, "api", [binding])
    assert error_code(refused.value) == 10182
    cf.advance(10)
    assert upload(client, "api", [binding]).id == "api"


def test_missing_script_is_404_10007(client: Cloudflare) -> None:
    calls: list[Callable[[], object]] = [
        lambda: client.workers.scripts.script_and_version_settings.get("nope", account_id=ACCOUNT),
        lambda: client.workers.scripts.settings.get("nope", account_id=ACCOUNT),
        lambda: client.workers.scripts.delete("nope", account_id=ACCOUNT),
        lambda: client.workers.scripts.get("nope", account_id=ACCOUNT),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as missing:
            call()
        assert error_code(missing.value) == 10007


def test_scripts_list_and_delete(client: Cloudflare) -> None:
    upload(client, "api", [])
    upload(client, "auth", [{"type": "service", "name": "API", "service": "api"}])
    assert [s.id for s in client.workers.scripts.list(account_id=ACCOUNT)] == ["api", "auth"]
    client.workers.scripts.delete("api", account_id=ACCOUNT)
    assert [s.id for s in client.workers.scripts.list(account_id=ACCOUNT)] == ["auth"]


def test_upload_needs_its_main_module(client: Cloudflare) -> None:
    with pytest.raises(BadRequestError) as refused:
        client.workers.scripts.update(
            "api", account_id=ACCOUNT, metadata={"main_module": "main.js"}, files=[MODULE]
        )
    assert error_code(refused.value) == 10021


# ---- KV namespaces ----------------------------------------------------------------------


def test_kv_namespaces_create_and_paginate(cf: LocalCloudflare, client: Cloudflare) -> None:
    for title in ("a", "b", "c"):
        client.kv.namespaces.create(account_id=ACCOUNT, title=title)
    listed = client.kv.namespaces.list(account_id=ACCOUNT, per_page=2, order="title")
    assert [n.title for n in listed] == ["a", "b", "c"]
    assert cf.calls("GET", NAMESPACES) == 3
    with pytest.raises(BadRequestError) as refused:
        client.kv.namespaces.create(account_id=ACCOUNT, title="a")
    assert error_code(refused.value) == 10014


# ---- secrecy ----------------------------------------------------------------------------


def test_no_response_ever_carries_a_secret_value(
    cf: LocalCloudflare, capfd: pytest.CaptureFixture[str]
) -> None:
    bodies: list[bytes] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.content)

    client = client_for(cf, http_client=httpx.Client(event_hooks={"response": [keep]}))
    sid = store_id(client)
    cf.plant_secret(ACCOUNT, "planted_v1", CANARY)
    made = create_secret(client, "made_v1", CANARY)
    client.secrets_store.stores.secrets.edit(made, account_id=ACCOUNT, store_id=sid, value=CANARY)
    client.secrets_store.stores.secrets.duplicate(
        made, account_id=ACCOUNT, store_id=sid, name="made_v2", scopes=["workers"]
    )
    with pytest.raises(BadRequestError):  # a refusal names the size, not the value
        create_secret(client, "too_big", CANARY * 5_000)
    upload(client, "api", [{"type": "secret_text", "name": "S", "text": CANARY}])

    # every GET the library offers over this state
    for secret in client.secrets_store.stores.secrets.list(sid, account_id=ACCOUNT):
        client.secrets_store.stores.secrets.get(secret.id, account_id=ACCOUNT, store_id=sid)
    list(client.secrets_store.stores.list(account_id=ACCOUNT))
    client.secrets_store.stores.get(sid, account_id=ACCOUNT)
    client.secrets_store.quota.get(account_id=ACCOUNT)
    list(client.workers.scripts.list(account_id=ACCOUNT))
    client.workers.scripts.get("api", account_id=ACCOUNT)
    client.workers.scripts.script_and_version_settings.get("api", account_id=ACCOUNT)
    client.workers.scripts.settings.get("api", account_id=ACCOUNT)

    assert len(bodies) >= 14
    assert not [b for b in bodies if CANARY.encode() in b]
    out, err = capfd.readouterr()
    assert CANARY not in out + err
    assert CANARY not in repr(cf.state.accounts)


# ---- admin API --------------------------------------------------------------------------


def test_admin_changes_behind_the_tools_back(cf: LocalCloudflare, client: Cloudflare) -> None:
    sid = store_id(client)
    secret_id = create_secret(client, "api_key_v1")
    cf.remove_secret(ACCOUNT, "api_key_v1")
    with pytest.raises(NotFoundError):
        client.secrets_store.stores.secrets.get(secret_id, account_id=ACCOUNT, store_id=sid)

    upload(client, "api", [{"type": "plain_text", "name": "MODE", "text": "live"}])
    cf.redeploy_script(ACCOUNT, "api", [{"type": "service", "name": "GONE", "service": "gone"}])
    settings = client.workers.scripts.script_and_version_settings.get("api", account_id=ACCOUNT)
    assert [b.name for b in settings.bindings or []] == ["GONE"]

    cf.plant_secret(ACCOUNT, "api_key_v2", "v")
    cf.set_secret_status(ACCOUNT, "api_key_v2", "pending")
    [listed] = client.secrets_store.stores.secrets.list(sid, account_id=ACCOUNT)
    assert listed.status == "pending"

    assert cf.calls("PUT", SCRIPT) == 1
    # store_id() ran twice, each time page 1 then the empty page 2 that ends auto-pagination
    assert cf.calls("GET", STORES) == 4
    cf.reset_requests()
    assert sum(cf.requests.values()) == 0


def test_python_m_local_cloudflare_serves(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    command = [
        sys.executable,
        "-m",
        "local_cloudflare",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--account",
        ACCOUNT,
    ]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base_url = line.split(" on ", 1)[1].split()[0]
            client = Cloudflare(api_token=TOKEN, base_url=base_url, max_retries=0)
            [store] = list(client.secrets_store.stores.list(account_id=ACCOUNT))
            assert store.name == "default_secrets_store"
        finally:
            process.terminate()


def test_values_are_kept_in_memory_only_when_asked_and_never_answered(
    make_server: Factory,
) -> None:
    # The engine rehearsal gives workerd what the account holds; nothing else may see it.
    kept = make_server(keep_values=True)
    client = client_for(kept)
    secret_id = create_secret(client, "api_key_v1", "first-Vq81")
    assert kept.state.secret_value(ACCOUNT, "api_key_v1") == "first-Vq81"
    client.secrets_store.stores.secrets.edit(
        secret_id, account_id=ACCOUNT, store_id=store_id(client), value="second-Hz42"
    )
    assert kept.state.secret_value(ACCOUNT, "api_key_v1") == "second-Hz42"
    answer = client.secrets_store.stores.secrets.with_raw_response.get(
        secret_id, account_id=ACCOUNT, store_id=store_id(client)
    )
    assert "second-Hz42" not in answer.text() and "first-Vq81" not in answer.text()
    plain = make_server()
    create_secret(client_for(plain), "api_key_v1", "first-Vq81")
    with pytest.raises(RuntimeError, match="not kept"):
        plain.state.secret_value(ACCOUNT, "api_key_v1")


def test_every_route_answers_what_the_sdks_strict_models_read(make_server: Factory) -> None:
    """Each endpoint the local API serves, called once through the official client with strict
    response validation (a shape the SDK's models do not accept raises). The one route the
    Python SDK has no method for (the Terraform provider's service read) is checked by its
    shape here and by the real provider in the engine suite."""
    from local_cloudflare.server import ROUTES

    cf = make_server()
    c = client_for(cf)
    account = {"account_id": ACCOUNT}
    stores = c.secrets_store.stores
    empty = "f" * 32
    cf.state.seed_account(empty, default_store=False)
    assert stores.create(account_id=empty, name="second_store") is not None
    store = store_id(c)
    stores.get(store, **account)
    c.secrets_store.quota.get(**account)
    secret = create_secret(c, "api_key_v1")
    list(stores.secrets.list(store, **account))
    stores.secrets.get(secret, store_id=store, **account)
    stores.secrets.edit(secret, store_id=store, comment="edited", **account)
    stores.secrets.duplicate(
        secret, store_id=store, name="api_key_v2", scopes=["workers"], **account
    )
    binding = {"type": "secrets_store_secret", "name": "K", "store_id": store}
    upload(c, "edge", [{**binding, "secret_name": "api_key_v1"}])
    list(c.workers.scripts.list(**account))
    c.workers.scripts.get("edge", **account)
    c.workers.scripts.content.get("edge", **account)
    c.workers.scripts.settings.get("edge", **account)
    c.workers.scripts.settings.edit("edge", logpush=False, **account)
    c.workers.scripts.script_and_version_settings.get("edge", **account)
    c.workers.scripts.script_and_version_settings.edit(
        "edge", settings={"logpush": False}, **account
    )
    service = c.get(f"/accounts/{ACCOUNT}/workers/services/edge", cast_to=httpx.Response)
    assert service.json()["result"]["default_environment"]["script"]["id"] == "edge"
    namespace = c.kv.namespaces.create(title="swept", **account)
    list(c.kv.namespaces.list(**account))
    c.kv.namespaces.get(namespace.id, **account)
    c.kv.namespaces.delete(namespace.id, **account)
    c.workers.scripts.delete("edge", **account)
    stores.secrets.delete(secret, store_id=store, **account)
    stores.delete(next(iter(stores.list(account_id=empty))).id, account_id=empty)
    routes = {(method, template) for method, template, _, _ in ROUTES}
    assert routes - set(cf.requests) == set(), "routes the sweep did not call"
    assert cf.unrouted == []
