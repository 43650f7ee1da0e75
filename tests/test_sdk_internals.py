"""The Pulumi SDK internals `secrets_store/sdk_internals.py` relies on, at the pinned version.

When this fails after an upgrade, review every use in that module (and only there)
before changing `PINNED_PULUMI`.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from pulumi import _types as pulumi_types
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack

from secrets_store import sdk_internals


def test_the_installed_pulumi_is_the_pinned_one():
    installed = version("pulumi")
    assert installed == sdk_internals.PINNED_PULUMI, (
        f"pulumi {installed} installed, secrets_store/sdk_internals.py was checked against "
        f"{sdk_internals.PINNED_PULUMI}: review it, then update PINNED_PULUMI"
    )


def test_the_private_names_it_uses_still_exist_with_their_shapes():
    # config: every key and the secret ones live in context variables
    assert isinstance(runtime_config.CONFIG.get(), dict)
    assert isinstance(runtime_config._SECRET_KEYS.get(), set)
    # the rpc manager the mocked run waits on and clears
    manager = pulumi_settings._get_rpc_manager()
    assert {"rpcs", "unhandled_exception", "exception_traceback", "clear"} <= set(dir(manager))
    assert {"outputs", "lock"} <= set(vars(pulumi_settings.SETTINGS)) | set(
        dir(pulumi_settings.SETTINGS)
    )
    # the three functions `lean_sdk` swaps for the length of one run
    assert list(inspect.signature(pulumi_stack.wait_for_rpcs).parameters) == [
        "await_all_outstanding_tasks"
    ]
    assert list(inspect.signature(pulumi_resource._get_stack_trace).parameters) == []
    assert list(inspect.signature(pulumi_types.resource_types).parameters) == ["resource_cls"]
    # configuring the mock runtime
    assert callable(pulumi_settings.reset_options) and hasattr(pulumi_settings, "ROOT")
    settings = pulumi_mocks.MockSettings(monitor="m", engine="e", project="p", stack="s")
    assert (settings.monitor, settings.engine, settings.project, settings.stack) == tuple("meps")
    # MockSettings makes no `outputs` set of its own: configure_mock_runtime clears the old one
    assert "outputs" not in vars(settings)


def test_lean_sdk_restores_everything_it_swapped():
    before = (
        pulumi_stack.wait_for_rpcs,
        pulumi_resource._get_stack_trace,
        pulumi_types.resource_types,
    )
    with sdk_internals.lean_sdk():
        assert pulumi_stack.wait_for_rpcs is sdk_internals.wait_for_rpcs
    after = (
        pulumi_stack.wait_for_rpcs,
        pulumi_resource._get_stack_trace,
        pulumi_types.resource_types,
    )
    assert after == before


def test_no_other_module_touches_the_sdk_internals():
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    private = ("_get_rpc_manager", "_SECRET_KEYS", "runtime_config.CONFIG", "resource_types",
               "_get_stack_trace", "pulumi_settings.ROOT")  # fmt: skip
    offenders = []
    for path in [*root.glob("secrets_store/**/*.py"), *root.glob("secretsctl/**/*.py")]:
        if path.name == "sdk_internals.py":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(root)}: {name}" for name in private if name in text]
    assert offenders == []
