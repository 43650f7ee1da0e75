"""`SecretActivation`: the provider `pulumi.dynamic.Resource` would send, serialized once; and
the credentials each wait uses, taken from the Cloudflare provider it is given.

The SDK serializes a dynamic resource's provider for every resource, and each call
leaves pickle's `_batch_setitems` wrapped once more: a few hundred secret versions
per process (a 100-secret stack run a few times, as `make bench` and the tests do)
got slower and then failed with RecursionError. `SecretActivation` serializes
its provider once per process; the input it sends, its type and its URN are the
SDK's own.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest, dynamic
from pulumi.dynamic.config import Config

from local_cloudflare import LocalCloudflare, serve
from secrets_store import activation, sdk_internals
from secrets_store.activation import (
    EXPLICIT_PROVIDER,
    ActivationError,
    ActivationProvider,
    Credentials,
)
from secrets_store.sdk_internals import DYNAMIC_PROVIDER_KEY
from secretsctl.offline.mockrun import (
    SECRET_SIG,
    SIG_KEY,
    ProgramRun,
    redact,
    run_program,
    unwrap,
)
from tests.conftest import stack_config

ACTIVE_TYPE = "pulumi-python:dynamic/secrets-store:SecretActivation"


def test_the_sent_provider_is_the_one_the_sdk_would_serialize(
    run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    # The SDK's own serialization, as `pulumi.dynamic.Resource.__init__` runs it.
    expected, captured_secrets = dynamic._serialize(
        True, dynamic.serialize_provider, ActivationProvider()
    )
    assert not captured_secrets  # so the SDK would send it as plain text, not a secret
    assert DYNAMIC_PROVIDER_KEY == "__provider"

    result = run(namespace)

    waits = [r for r in result.resources if r.type == ACTIVE_TYPE]
    assert len(waits) == 4  # one per live version of the four secrets
    assert {r.inputs[DYNAMIC_PROVIDER_KEY] for r in waits} == {expected}
    assert all(r.custom for r in waits)
    # What the engine's dynamic provider host does with it: a working provider again.
    assert isinstance(pickle.loads(base64.b64decode(expected)), ActivationProvider)


def test_the_provider_is_serialized_once_per_process_not_once_per_resource(
    monkeypatch: Any, run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    calls = []
    sdk = dynamic.serialize_provider

    def counting(provider: Any) -> str:
        calls.append(type(provider))
        return sdk(provider)

    monkeypatch.setattr(dynamic, "serialize_provider", counting)
    monkeypatch.setattr(sdk_internals, "_SERIALIZED", {})

    for _ in range(3):
        run(namespace)

    assert calls == [ActivationProvider]


def test_running_the_program_again_leaves_pickle_alone(
    run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    # Each SDK serialization wrapped pickle's `_batch_setitems` once more, for good.
    run(namespace)
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    for _ in range(3):
        run(namespace)
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]


# ---- credentials: the provider each wait is given --------------------------------------

ACCOUNT_A = "a" * 32
ACCOUNT_B = "b" * 32
TOKEN_A, TOKEN_B = "token-for-account-a", "token-for-account-b"
DEFAULT_TOKEN = "token-of-the-default-provider"  # reaches both accounts: must go unused
API_KEY, EMAIL, SERVICE_KEY = "global-api-key-a", "ops@example.com", "v1.0-service-key-b"

# A user's program deploying one secret to each of two accounts, each account with its own
# explicit provider: one handed to the component as a map, one as `provider=`, and a bare
# wait given a provider and an `api_token` that overrides it.
PROGRAM = """\
import pulumi
import pulumi_cloudflare as cloudflare
from secrets_store import SecretsStore, VersionedSecret
from secrets_store.activation import SecretActivation

a = cloudflare.Provider("cf-a", {a_settings})
b = cloudflare.Provider("cf-b", {b_settings})
for label, account, store_id, opts in [
    ("a", {account_a!r}, {store_a!r}, pulumi.ResourceOptions(providers={{"cloudflare": a}})),
    ("b", {account_b!r}, {store_b!r}, pulumi.ResourceOptions(provider=b)),
]:
    store = SecretsStore(f"store-{{label}}", account_id=account, store_id=store_id, opts=opts)
    VersionedSecret(f"key_{{label}}", account_id=account, store=store, kind="api_key",
                    values={{1: pulumi.Output.secret("value-" + label)}}, opts=opts)
SecretActivation("bare", account_id={account_b!r}, store_id={store_b!r}, secret_id="x",
                 name="key_b_v1", api_token=pulumi.Output.secret({override!r}),
                 opts=pulumi.ResourceOptions(provider=b))
"""


def run_two_accounts(
    tmp_path: Path, cf: LocalCloudflare, a_settings: str, b_settings: str
) -> dict[str, dict[str, Any]]:
    """Run the program under mocks; the registered inputs of each wait, by resource name."""
    program = tmp_path / "__main__.py"
    program.write_text(
        PROGRAM.format(
            a_settings=a_settings,
            b_settings=b_settings,
            account_a=ACCOUNT_A,
            account_b=ACCOUNT_B,
            store_a=store_of(cf, ACCOUNT_A),
            store_b=store_of(cf, ACCOUNT_B),
            override="token-given-to-the-bare-wait",
        )
    )
    result = run_program(stack_config({"accountId": ACCOUNT_A}, stack="qa"), program=program)
    return {r.name: r.inputs for r in result.resources if r.type == ACTIVE_TYPE}


def store_of(cf: LocalCloudflare, account: str) -> str:
    [store_id] = cf.state.accounts[account].stores
    return store_id


def wait_for_real(cf: LocalCloudflare, inputs: dict[str, Any], secret_name: str) -> str:
    """The provider's create() as the engine runs it: the registered inputs (secrets given
    plain, as the engine hands them over), with the id of a secret the local API holds."""
    account = str(inputs["account_id"])
    secret_id = cf.plant_secret(account, secret_name, "v")
    provider = ActivationProvider()
    # The stack's own provider settings, which an explicit provider must not fall back on.
    provider.configure(ConfigureRequest(Config({"cloudflare:apiToken": DEFAULT_TOKEN}, "qa")))
    props = {**unwrap(inputs), "secret_id": secret_id}
    outs = provider.create(props).outs or {}
    return str(outs["status"])


@pytest.fixture
def two_accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloudflare]:
    """Two accounts, each credential reaching only its own (the default token reaches both,
    so using it by mistake would succeed: the record of who called whom is what tells)."""
    with serve(
        tokens={TOKEN_A, TOKEN_B, DEFAULT_TOKEN},
        api_keys={EMAIL: API_KEY},
        user_service_keys={SERVICE_KEY},
        reach={TOKEN_A: [ACCOUNT_A], EMAIL: [ACCOUNT_A], TOKEN_B: [ACCOUNT_B],
               SERVICE_KEY: [ACCOUNT_B]},
    ) as cf:  # fmt: skip
        cf.seed_account(ACCOUNT_A)
        cf.seed_account(ACCOUNT_B)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", cf.base_url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", DEFAULT_TOKEN)
        for name in ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY"):
            monkeypatch.delenv(name, raising=False)
        yield cf


def test_two_accounts_each_wait_with_their_own_providers_token(
    tmp_path: Path, two_accounts: LocalCloudflare
) -> None:
    cf = two_accounts
    waits = run_two_accounts(tmp_path, cf, f"api_token={TOKEN_A!r}", f"api_token={TOKEN_B!r}")
    a, b, bare = waits["key_a-v1-active"], waits["key_b-v1-active"], waits["bare"]
    # Registered: each wait carries its own account's token, as a Pulumi secret only
    for inputs, token in ((a, TOKEN_A), (b, TOKEN_B), (bare, "token-given-to-the-bare-wait")):
        assert inputs["api_token"][SIG_KEY] == SECRET_SIG
        assert unwrap(inputs)["api_token"] == token
        assert redact(inputs)["api_token"] == "[secret]"
        assert inputs[EXPLICIT_PROVIDER] is True
        assert token not in json.dumps(redact(inputs))

    # Run for real: each wait reads its own account with its own token, and only that
    assert wait_for_real(cf, a, "key_a_v1") == "active"
    assert wait_for_real(cf, b, "key_b_v1") == "active"
    assert cf.accounts_used_by(TOKEN_A) == {ACCOUNT_A}
    assert cf.accounts_used_by(TOKEN_B) == {ACCOUNT_B}
    assert cf.accounts_used_by(DEFAULT_TOKEN) == set()

    # A wait handed the wrong account's token is refused, in a line that names no token
    crossed = {**b, "api_token": a["api_token"]}
    with pytest.raises(ActivationError) as refused:
        wait_for_real(cf, crossed, "key_b_v2")
    assert "account " + ACCOUNT_B in str(refused.value) and "(HTTP 403)" in str(refused.value)
    assert TOKEN_A not in str(refused.value) and TOKEN_B not in str(refused.value)


def test_api_key_with_email_and_user_service_key_reach_the_api_as_cloudflare_expects(
    tmp_path: Path, two_accounts: LocalCloudflare
) -> None:
    cf = two_accounts
    waits = run_two_accounts(
        tmp_path,
        cf,
        f"api_key={API_KEY!r}, email={EMAIL!r}",
        f"api_user_service_key={SERVICE_KEY!r}",
    )
    a, b = waits["key_a-v1-active"], waits["key_b-v1-active"]
    assert a["api_key"][SIG_KEY] == SECRET_SIG and a["email"] == EMAIL
    assert b["api_user_service_key"][SIG_KEY] == SECRET_SIG
    # the provider's unset settings resolve to nothing (no token rides along)
    assert unwrap(a).get("api_token") is None and unwrap(b).get("api_token") is None

    # X-Auth-Key + X-Auth-Email for one, X-Auth-User-Service-Key for the other
    assert wait_for_real(cf, a, "key_a_v1") == "active"
    assert wait_for_real(cf, b, "key_b_v1") == "active"
    assert cf.accounts_used_by(API_KEY) == {ACCOUNT_A}
    assert cf.accounts_used_by(SERVICE_KEY) == {ACCOUNT_B}
    assert cf.accounts_used_by(DEFAULT_TOKEN) == set()


def test_the_default_provider_registers_no_credentials(
    run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    waits = [r for r in run(namespace).resources if r.type == ACTIVE_TYPE]
    names = {EXPLICIT_PROVIDER, *Credentials.names()}
    assert waits and not [r.name for r in waits if names & r.inputs.keys()]


def test_without_a_provider_the_stack_config_then_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "from-env")
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:9/client/v4")
    provider = ActivationProvider()
    assert provider.credentials({}).api_token == "from-env"
    provider.configure(ConfigureRequest(Config({"cloudflare:apiToken": "from-config"}, "qa")))
    chosen = provider.credentials({})
    assert (chosen.api_token, chosen.base_url) == ("from-config", "http://127.0.0.1:9/client/v4")
    # an explicit provider with no credentials falls back on the environment, not the stack
    assert provider.credentials({EXPLICIT_PROVIDER: True}).api_token == "from-env"
    # an explicit provider's api key is used alone: no token from anywhere rides along
    client = activation.client_for(
        provider.credentials({EXPLICIT_PROVIDER: True, "api_key": "k", "email": "e@x"})
    )
    assert client.auth_headers == {"X-Auth-Email": "e@x"} and client.api_token is None
    assert client.default_headers["X-Auth-Key"] == "k"


def test_an_api_key_without_an_email_is_refused_naming_the_setting() -> None:
    with pytest.raises(ActivationError, match=r"^cloudflare:email: required with apiKey") as e:
        activation.client_for(Credentials(api_key="secret-key-value"))
    assert "secret-key-value" not in str(e.value)


def test_an_answer_that_is_no_secret_is_one_line_never_its_body() -> None:
    # A proxy's page where Cloudflare should answer: the wait (and the adoption, which
    # reads the same way) stops in one line naming the secret, never echoing the body.
    import http.server
    import threading

    from secrets_store.activation import ActivationError, Credentials, _read, client_for

    canary = "canary-garbage-Q7z"

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"success": true, "result": "<html>' + canary.encode() + b'</html>"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = client_for(
            Credentials(api_token="t" * 40, base_url=f"http://127.0.0.1:{server.server_port}")
        )
        with pytest.raises(ActivationError) as refused:
            _read(client, account_id="a" * 32, store_id="b" * 32, secret_id="c" * 32)
    finally:
        server.shutdown()
    assert "answered something that is not a secret" in str(refused.value)
    assert canary not in str(refused.value)
