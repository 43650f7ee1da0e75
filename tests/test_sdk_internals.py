"""The Pulumi SDK internals that `secrets_store.sdk_internals` relies on, at the versions they
were checked against (`CHECKED_PULUMI`), and the fallback to the SDK's own behaviour on any
other version of the range the package allows.

When a shape test fails after an upgrade, review every use in that module (and only there)
before adding the version to `CHECKED_PULUMI`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from pulumi import Output
from pulumi import _types as pulumi_types
from pulumi.dynamic import dynamic as pulumi_dynamic
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack

from secrets_store import sdk_internals

ROOT = Path(__file__).resolve().parent.parent


on_a_checked_sdk = pytest.mark.skipif(
    not sdk_internals.checked(),
    reason=f"pulumi {sdk_internals.INSTALLED_PULUMI} is not one of CHECKED_PULUMI: the "
    "speed-ups step aside (test_an_unchecked_sdk_runs_as_the_sdk_does covers it)",
)


def test_the_project_lock_installs_a_checked_pulumi():
    installed = version("pulumi")
    assert installed == sdk_internals.INSTALLED_PULUMI
    requirements = (ROOT / "requirements.txt").read_text()
    assert f"pulumi=={sdk_internals.PINNED_PULUMI}\n" in requirements
    assert sdk_internals.PINNED_PULUMI in sdk_internals.CHECKED_PULUMI


@on_a_checked_sdk
def test_the_private_names_it_uses_still_exist_with_their_shapes():
    # the serialization a dynamic resource's provider goes through (swapped while mocked)
    assert list(inspect.signature(pulumi_dynamic._serialize).parameters) == [
        "allow_secrets", "f", "args", "kwargs"
    ]  # fmt: skip
    # the rpc manager the mocked run waits on and clears
    manager = pulumi_settings._get_rpc_manager()
    assert {"rpcs", "unhandled_exception", "exception_traceback", "clear"} <= set(dir(manager))
    assert {"outputs", "lock"} <= set(vars(pulumi_settings.SETTINGS)) | set(
        dir(pulumi_settings.SETTINGS)
    )
    # the five functions `lean_sdk` swaps for the length of one run
    assert list(inspect.signature(pulumi_stack.wait_for_rpcs).parameters) == [
        "await_all_outstanding_tasks"
    ]
    assert list(inspect.signature(pulumi_resource._get_stack_trace).parameters) == []
    assert list(inspect.signature(pulumi_types.resource_types).parameters) == ["resource_cls"]
    assert list(inspect.signature(pulumi_resource.create_urn).parameters) == [
        "name", "type_", "parent", "project", "stack"
    ]  # fmt: skip
    assert list(inspect.signature(pulumi_mocks._sync_await).parameters) == ["awaitable"]
    assert next(iter(inspect.signature(rpc.serialize_properties).parameters)) == "inputs"
    # configuring the mock runtime
    assert callable(pulumi_settings.reset_options) and hasattr(pulumi_settings, "ROOT")
    settings = pulumi_mocks.MockSettings(monitor="m", engine="e", project="p", stack="s")
    assert (settings.monitor, settings.engine, settings.project, settings.stack) == tuple("meps")
    # MockSettings makes no `outputs` set of its own: configure_mock_runtime clears the old one
    assert "outputs" not in vars(settings)


@on_a_checked_sdk
def test_lean_sdk_restores_everything_it_swapped():
    before = (
        pulumi_stack.wait_for_rpcs,
        pulumi_resource._get_stack_trace,
        pulumi_types.resource_types,
        pulumi_resource.create_urn,
        pulumi_mocks._sync_await,
    )
    with sdk_internals.lean_sdk():
        assert pulumi_stack.wait_for_rpcs is sdk_internals.wait_for_rpcs
        assert pulumi_resource.create_urn is not before[-2]
        assert pulumi_mocks._sync_await is not before[-1]
    after = (
        pulumi_stack.wait_for_rpcs,
        pulumi_resource._get_stack_trace,
        pulumi_types.resource_types,
        pulumi_resource.create_urn,
        pulumi_mocks._sync_await,
    )
    assert after == before


def test_known_urns_are_the_sdks_urns_character_for_character():
    known = sdk_internals.known_urn_first()
    parent = "urn:pulumi:dev::proj::secrets-store:index:VersionedSecret::api_key"
    secret = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
    cases = [
        ("api_key-v1", secret, parent, None, None),
        ("store", "secrets-store:index:SecretsStore", None, "proj", "dev"),
        ("x", "t:index:T", "", None, None),  # an empty parent: the SDK's "$"
        ("x::y", "a$b", "urn:pulumi:s::p::A$B::n::m", "other", "st"),
    ]

    async def both() -> list[tuple[Any, Any]]:
        pulumi_settings.configure(pulumi_mocks.MockSettings(project="proj", stack="dev"))
        pairs = []
        for case in cases:
            ours = await known(*case).future()
            sdk = await pulumi_resource.create_urn(*case).future()
            pairs.append((ours, sdk))
        # Not plain strings (a parent given as an output): the SDK's own function answers.
        outputs = Output.from_input(parent)
        pairs.append((await known("n", "t", outputs).future(),
                      await pulumi_resource.create_urn("n", "t", outputs).future()))  # fmt: skip
        return pairs

    loop = asyncio.new_event_loop()
    try:
        pairs = loop.run_until_complete(both())
    finally:
        loop.close()
    for ours, sdk in pairs:
        assert ours == sdk
    assert pairs[0][0] == (
        "urn:pulumi:dev::proj::secrets-store:index:VersionedSecret$" + secret + "::api_key-v1"
    )


def test_no_other_module_touches_the_sdk_internals():
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    private = ("_get_rpc_manager", "._SECRET_KEYS", "runtime_config.CONFIG", "resource_types",
               "_get_stack_trace", "pulumi_settings.ROOT")  # fmt: skip
    offenders = []
    for path in [*root.glob("components/secrets_store/**/*.py"), *root.glob("secretsctl/**/*.py")]:
        if path.name == "sdk_internals.py":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(root)}: {name}" for name in private if name in text]
    assert offenders == []


def test_plain_state_is_serialized_at_once_and_exactly_as_the_sdk_does():
    eager = sdk_internals.eager_plain_serialize()
    state = {
        "name": "dev_api_key_v1",
        "scopes": ["workers"],
        "port": 5432,
        "ratio": 0.5,
        "active": True,
        "comment": None,
        "nested": {"a": [1, {"b": None}], "empty": {}},
        "id": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # the unknown sentinel stays a string
    }
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        sdk = pulumi_mocks._sync_await(rpc.serialize_properties(state, {}))
        # no event loop turn: the coroutine ends in its first step
        ours = eager(rpc.serialize_properties(state, {}))
        # not plain (an Output inside): the SDK's own path, same answer
        with_output = {"name": Output.from_input("x"), "n": 1}
        assert eager(rpc.serialize_properties(with_output, {})) == pulumi_mocks._sync_await(
            rpc.serialize_properties(with_output, {})
        )
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert ours == sdk
    assert sdk_internals._plain(state)
    assert not sdk_internals._plain({"x": object()})


def test_monitor_calls_run_inline_and_register_what_a_thread_pool_registers(
    monkeypatch, run, namespace
):
    import concurrent.futures
    import threading

    from secretsctl.offline import mockrun

    calls: list[threading.Thread] = []
    inline_submit = sdk_internals.MonitorCallsInline.submit

    def counted(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread())
        return inline_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(sdk_internals.MonitorCallsInline, "submit", counted)
    inline = run(namespace)
    # The SDK sends every registration through the loop's default executor (if it stops,
    # the speed-up is silently gone): here each ran in the loop's own thread.
    assert len(calls) >= len(inline.resources) > 10
    assert set(calls) == {threading.main_thread()}
    # On the SDK's thread pool, with the same state (the same generated values): the same
    # resources with the same inputs, and the same stack outputs.
    calls.clear()
    monkeypatch.setattr(mockrun, "MonitorCallsInline", concurrent.futures.ThreadPoolExecutor)
    pooled = run(namespace, state=inline.state)
    assert calls == []

    def registered(result: Any) -> list[tuple[str, Any]]:
        return sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in result.resources)

    assert registered(pooled) == registered(inline)
    assert pooled.outputs == inline.outputs


UP_PATH = (
    "__main__.py",
    "components/secrets_store/config.py",
    "components/secrets_store/program.py",
    "components/secrets_store/promotion.py",
    "components/secrets_store/secret.py",
    "components/secrets_store/store.py",
    "components/secrets_store/worker.py",
    "components/secrets_store/activation.py",
    "components/secrets_store/modules.py",
)
PRIVATE_USE = re.compile(
    r"(?:from|import) [\w.]*sdk_internals|from secrets_store import [^\n]*sdk_internals|"
    r"from pulumi[\w.]* import [^\n]*\b_\w|pulumi[\w.]*\._[a-z]\w*|"
    r"pulumi\.runtime\.(config|settings|rpc|resource|stack|mocks)\b"
)


def test_the_pulumi_up_path_uses_public_pulumi_apis_only():
    """What `pulumi up` runs imports no private SDK name and not sdk_internals."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    offenders = [
        f"{name}: {match.group(0)}"
        for name in UP_PATH
        for match in PRIVATE_USE.finditer((root / name).read_text())
    ]
    assert offenders == []
    # `pulumi.runtime`'s config functions the program reads are exported, not private
    import pulumi.runtime

    assert {"get_config_env", "get_config_secret_keys_env", "is_config_secret"} <= set(
        pulumi.runtime.__all__
    )


def test_the_package_allows_a_range_from_the_lowest_checked_sdk():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pulumi = [d for d in project["dependencies"] if re.match(r"pulumi\b(?!-)", d)]
    lowest = min(sdk_internals.CHECKED_PULUMI, key=lambda v: tuple(map(int, v.split("."))))
    assert pulumi == [f"pulumi>={lowest.rsplit('.', 1)[0]},<4"]


def test_an_unchecked_sdk_runs_as_the_sdk_does(monkeypatch, run, namespace):
    """On a version outside CHECKED_PULUMI nothing is swapped, and a plan registers the same
    resources with the same inputs and outputs as with the speed-ups."""
    lean = run(namespace)
    monkeypatch.setattr(sdk_internals, "INSTALLED_PULUMI", "3.999.0")
    assert not sdk_internals.checked()
    before = (pulumi_stack.wait_for_rpcs, pulumi_resource.create_urn, pulumi_dynamic._serialize)
    with sdk_internals.lean_sdk():
        inside = (pulumi_stack.wait_for_rpcs, pulumi_resource.create_urn, pulumi_dynamic._serialize)
    assert inside == before
    public = run(namespace, state=lean.state)

    def registered(result: Any) -> list[tuple[str, Any]]:
        return sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in result.resources)

    assert registered(public) == registered(lean)
    assert public.outputs == lean.outputs
