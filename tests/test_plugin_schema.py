"""The Pulumi component provider (`secrets_store.plugin`, folder `pulumi-plugin/`): its schema,
as `pulumi package add` reads it over GetSchema, and Construct under Pulumi's mocks."""

from __future__ import annotations

import asyncio
import inspect
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from pulumi.runtime.stack import wait_for_rpcs

from secrets_store import __version__, plugin, secret, store, worker
from secrets_store.sdk_internals import configure_mock_runtime
from secretsctl.offline.mockrun import (
    SECRET_SIG,
    SIG_KEY,
    EngineLikeMocks,
    RecordingMonitor,
    Registration,
    unwrap,
)
from tests.conftest import ACCOUNT, CANARY

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = ROOT / "pulumi-plugin"
STORE_ID = "fedcba9876543210fedcba9876543210"
SECRET = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"  # how an SDK sends an Output's value


def secret_on_wire(value: Any) -> dict[str, Any]:
    """A secret input as an SDK sends it (what `pulumi.secret(...)` becomes on the wire)."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def output_on_wire(value: Any) -> dict[str, Any]:
    """A known Output as an SDK sends it when the engine takes output values."""
    return {SIG_KEY: OUTPUT_VALUE_SIG, "value": value}


@pytest.fixture(scope="module")
def provider() -> plugin.SecretsStoreProvider:
    return plugin.SecretsStoreProvider()


@pytest.fixture(scope="module")
def schema(provider: plugin.SecretsStoreProvider) -> dict[str, Any]:
    """The schema as the engine gets it: the provider's gRPC GetSchema, served in-process."""
    servicer = ProviderServicer(provider, [], "127.0.0.1:0")
    response = asyncio.run(servicer.GetSchema(provider_pb2.GetSchemaRequest(version=0), None))
    return dict(json.loads(response.schema))


def resource(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(schema["resources"][f"secrets-store:index:{name}"])


def kinds(properties: dict[str, Any]) -> dict[str, str]:
    """Property name -> its type, spelled like the summary (map<string>, list<string>, ...)."""

    def kind(spec: dict[str, Any]) -> str:
        if "$ref" in spec:
            return str(spec["$ref"]).rsplit(":", 1)[-1]
        if spec["type"] == "array":
            return f"list<{kind(spec['items'])}>"
        if spec["type"] == "object" and "additionalProperties" in spec:
            return f"map<{kind(spec['additionalProperties'])}>"
        return str(spec["type"])

    return {name: kind(spec) for name, spec in properties.items()}


# ---- GetSchema ---------------------------------------------------------------------------


def test_the_package_and_its_type_tokens(schema: dict[str, Any]) -> None:
    assert schema["name"] == "secrets-store"
    assert schema["version"] == __version__
    # The tokens the components register under, so Construct builds the very same types.
    assert sorted(schema["resources"]) == sorted([store.TYPE, secret.TYPE, worker.TYPE])
    assert all(r["isComponent"] for r in schema["resources"].values())
    assert list(schema["types"]) == ["secrets-store:index:SecretBinding"]


def test_secrets_store_inputs_and_outputs(schema: dict[str, Any]) -> None:
    store_schema = resource(schema, "SecretsStore")
    assert {
        "accountId": "string",
        "storeId": "string",
        "storeName": "string",
        "create": "boolean",
    }.items() <= kinds(store_schema["inputProperties"]).items()
    assert store_schema["requiredInputs"] == ["accountId"]
    assert kinds(store_schema["properties"]) == {
        "storeId": "string",
        "adopted": "boolean",
        "accountId": "string",
    }
    assert sorted(store_schema["required"]) == ["accountId", "adopted", "storeId"]


def test_versioned_secret_inputs_and_outputs(schema: dict[str, Any]) -> None:
    versioned = resource(schema, "VersionedSecret")
    inputs = kinds(versioned["inputProperties"])
    assert {
        "accountId": "string",
        "storeId": "string",
        "kind": "string",
        "current": "integer",
        "next": "integer",
        "stage": "string",
        "values": "map<string>",
        "generate": "boolean",
        "scopes": "list<string>",
        "namePrefix": "string",
        "secretName": "string",
        "comment": "string",
        "waitUntilActive": "boolean",
        "activeTimeoutSeconds": "integer",
    }.items() <= inputs.items()
    assert versioned["requiredInputs"] == ["accountId", "kind"]
    assert kinds(versioned["properties"]) == {
        "storeId": "string",
        "primaryName": "string",
        "fallbackName": "string",
        "names": "list<string>",
    }
    # fallbackName is null while steady: the only optional output.
    assert sorted(versioned["required"]) == ["names", "primaryName", "storeId"]


def test_worker_inputs_and_the_secret_binding_type(schema: dict[str, Any]) -> None:
    worker_schema = resource(schema, "Worker")
    assert {
        "accountId": "string",
        "scriptName": "string",
        "mainModule": "string",
        "root": "string",
        "bindings": "map<SecretBinding>",
        "vars": "map<string>",
        "kvNamespaces": "map<string>",
        "services": "map<string>",
        "secretTexts": "map<string>",
        "compatibilityDate": "string",
        "compatibilityFlags": "list<string>",
    }.items() <= kinds(worker_schema["inputProperties"]).items()
    assert worker_schema["requiredInputs"] == ["accountId", "mainModule", "scriptName"]
    assert kinds(worker_schema["properties"]) == {"scriptName": "string"}
    bindings = worker_schema["inputProperties"]["bindings"]["additionalProperties"]
    assert bindings["$ref"] == "#/types/secrets-store:index:SecretBinding"

    binding = schema["types"]["secrets-store:index:SecretBinding"]
    assert kinds(binding["properties"]) == {
        "storeId": "string",
        "secretName": "string",
        "fallbackSecretName": "string",
        "fallbackBinding": "string",
    }
    assert binding["required"] == ["secretName", "storeId"]


def test_secrets_are_marked_secret_and_nothing_else(schema: dict[str, Any]) -> None:
    marked = {
        (token.rsplit(":", 1)[-1], section, name)
        for token, spec in schema["resources"].items()
        for section in ("inputProperties", "properties")
        for name, prop in spec[section].items()
        if prop.get("secret")
    }
    assert marked == {
        ("VersionedSecret", "inputProperties", "values"),
        ("Worker", "inputProperties", "secretTexts"),
    }
    for component, name in (("VersionedSecret", "values"), ("Worker", "secretTexts")):
        # A secret is sent as an Output: no SDK may insist on a plain value.
        assert "plain" not in resource(schema, component)["inputProperties"][name]


def test_every_public_field_is_in_the_schema_and_described(schema: dict[str, Any]) -> None:
    """The schema is inferred from the public Args types: a field added there shows up here."""
    for name, (fields, outputs) in plugin.DOCUMENTED_BY.items():
        sections: list[tuple[dict[str, Any], type | None]]
        if name == "SecretBinding":
            described = schema["types"]["secrets-store:index:SecretBinding"]
            sections = [(described["properties"], fields)]
        else:
            described = resource(schema, name)
            sections = [(described["inputProperties"], fields), (described["properties"], outputs)]
        assert described["description"], f"{name} has no description"
        for properties, cls in sections:
            assert cls is not None
            assert set(properties) == {camel_case(f) for f in inspect.get_annotations(cls)}, name
            for prop, spec in properties.items():
                assert spec.get("description"), f"{name}.{prop} has no description"
    account = resource(schema, "VersionedSecret")["inputProperties"]["accountId"]
    assert account["description"].startswith("The Cloudflare account id.")


def test_schema_summary_names_every_component_input_and_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plugin.main(["--schema-summary"])
    summary = capsys.readouterr().out
    assert summary.startswith(f"secrets-store {__version__}: 3 components, 1 type(s)")
    assert "secrets-store:index:VersionedSecret\n  inputs:  accountId: string, " in summary
    assert "values?: map<string> [secret]" in summary
    assert "secretTexts?: map<string> [secret]" in summary
    assert "bindings?: map<SecretBinding>" in summary
    assert "outputs: storeId: string, primaryName: string, fallbackName?: string" in summary
    assert "outputs: storeId: string, adopted: boolean, accountId: string" in summary


# ---- the plugin folder, run the way Pulumi's language host runs it ------------------------


@pytest.fixture
def plugin_process(tmp_path: Path) -> Iterator[str]:
    """`python pulumi-plugin <engine address>` from a consumer's folder; yields its address."""
    process = subprocess.Popen(
        [sys.executable, str(PLUGIN_DIR), "127.0.0.1:1"],  # the engine is not called to serve
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "the plugin printed no port within 120 s"
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the plugin printed {port!r} instead of its port"
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_plugin_folder_serves_the_provider(plugin_process: str) -> None:
    manifest = (PLUGIN_DIR / "PulumiPlugin.yaml").read_text()
    assert "runtime: python" in manifest
    assert (PLUGIN_DIR / "requirements.txt").read_text().splitlines()[-1] == "-e .."
    with grpc.insecure_channel(plugin_process) as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        answer = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30)
    assert info.version == __version__
    served = json.loads(answer.schema)
    assert sorted(served["resources"]) == sorted([store.TYPE, secret.TYPE, worker.TYPE])
    assert served["resources"][secret.TYPE]["inputProperties"]["values"]["secret"] is True


# ---- Construct under Pulumi's mocks -------------------------------------------------------


def construct(
    provider: plugin.SecretsStoreProvider, component: str, name: str, wire: dict[str, Any]
) -> tuple[list[Registration], dict[str, Any]]:
    """Construct `component` from inputs as an SDK sends them, under the mock runtime.

    The inputs go through the SDK's own Construct decoding (`ProviderServicer._construct_inputs`:
    a secret arrives whole, as one Output), then `provider.construct`, as in `pulumi up`.
    Returns what was registered and the component's state (outputs), secrets unwrapped.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = EngineLikeMocks()
    mocks.stack = "dev"
    monitor = RecordingMonitor(mocks)
    configure_mock_runtime(monitor, mocks.project, mocks.stack)

    async def run() -> dict[str, Any]:
        struct = struct_pb2.Struct()
        struct.update(wire)
        inputs = await ProviderServicer._construct_inputs(struct, {})
        result = provider.construct(name, f"secrets-store:index:{component}", inputs, None)
        await pulumi.Output.from_input(result.urn).future()
        state = await rpc.serialize_properties(result.state, {})
        await wait_for_rpcs()
        return dict(state)

    try:
        state = loop.run_until_complete(run())
    finally:
        # A refused construction leaves its registrations pending: end them before the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in monitor.thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return monitor.registrations, unwrap(state)


def test_construct_versioned_secret_keeps_values_secret(
    provider: plugin.SecretsStoreProvider,
) -> None:
    values = {"1": f"{CANARY}-v1", "2": f"{CANARY}-v2"}
    registered, state = construct(
        provider,
        "VersionedSecret",
        "api_key",
        {
            "accountId": ACCOUNT,
            "storeId": STORE_ID,
            "kind": "api_key",
            "current": 1,
            "next": 2,
            "stage": "fallback",
            "values": secret_on_wire(values),  # `pulumi.secret(values)`, as every SDK sends it
            "namePrefix": "qa_",
        },
    )
    secrets = {r.inputs["name"]: r.inputs for r in registered if r.type == SECRET}
    assert sorted(secrets) == ["qa_api_key_v1", "qa_api_key_v2"]
    for version in ("1", "2"):
        value = secrets[f"qa_api_key_v{version}"]["value"]
        assert value[SIG_KEY] == SECRET_SIG  # still a Pulumi secret, per version
        assert value["value"] == values[version]
    assert state["primaryName"] == "qa_api_key_v1"
    assert state["fallbackName"] == "qa_api_key_v2"
    assert state["names"] == ["qa_api_key_v1", "qa_api_key_v2"]
    assert state["storeId"] == STORE_ID


def test_construct_worker_binds_no_fallback_when_it_is_null(
    provider: plugin.SecretsStoreProvider,
) -> None:
    registered, state = construct(
        provider,
        "Worker",
        "edge",
        {
            "accountId": ACCOUNT,
            "scriptName": "qa_edge",
            "mainModule": "workers/api.js",
            "root": str(ROOT),
            "bindings": {
                # steady: fallbackName is a known null
                "PRIMARY_KEY": {
                    "storeId": STORE_ID,
                    "secretName": output_on_wire("qa_api_key_v1"),
                    "fallbackSecretName": output_on_wire(None),
                    "fallbackBinding": "FALLBACK_KEY",
                },
                # rotating: fallbackName is a name
                "BILLING_KEY": {
                    "storeId": STORE_ID,
                    "secretName": output_on_wire("qa_other_v2"),
                    "fallbackSecretName": output_on_wire("qa_other_v1"),
                },
            },
            "vars": {"UPSTREAM_URL": "https://api.example.com"},
            "secretTexts": secret_on_wire({"LEGACY_TOKEN": f"{CANARY}-legacy"}),
        },
    )
    (script,) = (r for r in registered if r.type == SCRIPT)
    bindings = {b["name"]: b for b in script.inputs["bindings"]}
    assert sorted(bindings) == [
        "BILLING_KEY",
        "BILLING_KEY_FALLBACK",
        "LEGACY_TOKEN",
        "PRIMARY_KEY",
        "UPSTREAM_URL",
    ]
    assert bindings["PRIMARY_KEY"]["secretName"] == "qa_api_key_v1"
    assert bindings["BILLING_KEY_FALLBACK"]["secretName"] == "qa_other_v1"
    legacy = bindings["LEGACY_TOKEN"]
    assert legacy["type"] == "secret_text"
    assert legacy["text"] == {SIG_KEY: SECRET_SIG, "value": f"{CANARY}-legacy"}
    assert sorted(script.inputs["files"]) == sorted(
        ["lib/audit.js", "lib/http.js", "lib/json_secret.js", "lib/secrets.js", "lib/upstream.js"]
    )
    assert state == {"scriptName": "qa_edge"}


def test_construct_refusal_names_the_input_and_never_a_value(
    provider: plugin.SecretsStoreProvider,
) -> None:
    with pytest.raises(ComponentInitError) as refused:
        construct(
            provider,
            "VersionedSecret",
            "api_key",
            {
                "accountId": ACCOUNT,
                "storeId": STORE_ID,
                "kind": "api_key",
                "stage": "fallback",  # no `next`
                "values": secret_on_wire({"1": f"{CANARY}-v1"}),
            },
        )
    message = str(refused.value)
    assert message.startswith("VersionedSecret api_key.")
    assert "next" in message
    assert CANARY not in message
