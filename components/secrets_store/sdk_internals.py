"""The one module that touches the Pulumi SDK's private internals.

Checked against pulumi 3.272.0 (`CHECKED_PULUMI`); the package allows `pulumi>=3.272,<4`.
On a checked version every speed-up below is on; on any other, `lean_sdk` and the dynamic
provider cache step aside and the SDK's own (public) behaviour runs, only slower, and the
mock runtime is configured with whatever of these names that version still has
(`tests/test_sdk_internals.py` runs a plan both ways and compares them). Checking a new
version is a deliberate review of this file: add it to `CHECKED_PULUMI` once its tests pass.

- Offline runs under mocks (secretsctl only): configuring the mock runtime
  (`settings.configure`, `ROOT`, `reset_options`), five speed-ups that swap
  SDK functions for the length of one mocked run (`lean_sdk`), and the executor the
  SDK's monitor calls run on (`MonitorCallsInline`: the SDK calls the monitor through
  `run_in_executor(None, ...)`).
- Dynamic resources, offline only: the serialized provider that `pulumi.dynamic.Resource`
  sends as the `__provider` input, computed once per provider in a process of many mocked
  runs (`serialize_once`, `DYNAMIC_PROVIDER_KEY`).

Nothing on the `pulumi up` path imports this module (tests/test_sdk_internals.py checks).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pulumi import _types as pulumi_types
from pulumi import output as pulumi_output
from pulumi.dynamic import dynamic as pulumi_dynamic
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc as pulumi_rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.proto import source_pb2

CHECKED_PULUMI: tuple[str, ...] = ("3.272.0",)
"""The SDK versions the private names below were checked against (tests/test_sdk_internals.py)."""
PINNED_PULUMI = CHECKED_PULUMI[-1]
"""The version the project's own lock (requirements.txt) installs."""


def _installed() -> str:
    try:
        return version("pulumi")
    except PackageNotFoundError:
        return ""


INSTALLED_PULUMI = _installed()


def checked() -> bool:
    """The installed SDK is one these internals were checked against: the speed-ups run."""
    return INSTALLED_PULUMI in CHECKED_PULUMI


# ---- dynamic resources ---------------------------------------------------------------

DYNAMIC_PROVIDER_KEY: str = pulumi_dynamic.PROVIDER_KEY
"""The input under which `pulumi.dynamic.Resource` sends its serialized provider."""

_SERIALIZED: dict[tuple[Any, ...], tuple[Any, bool]] = {}


def serialize_once() -> Callable[..., tuple[Any, bool]]:
    """The SDK's `_serialize` (what `pulumi.dynamic.Resource.__init__` serializes its provider
    with), answered from a per-process cache for a provider equal to one seen before.

    Each SDK serialization also wraps pickle's `_Pickler._batch_setitems` once more without
    ever unwrapping it: in one process every call gets slower and the ~950th fails with
    RecursionError. Offline runs put one stack through the program many times in a process
    (`make bench`, the tests): for the length of each, a provider of the same class and
    state (`SecretActivation`'s is stateless until the engine configures it) is
    serialized once, giving the same `__provider` input and secrecy flag as the SDK.
    """
    sdk = pulumi_dynamic._serialize

    def serialize(allow_secrets: bool, f: Callable[..., Any], *args: Any) -> tuple[Any, bool]:
        provider = args[0] if len(args) == 1 else None
        if provider is None:
            return sdk(allow_secrets, f, *args)
        key = (allow_secrets, f, type(provider), repr(sorted(vars(provider).items())))
        if key not in _SERIALIZED:
            _SERIALIZED[key] = sdk(allow_secrets, f, provider)
        return _SERIALIZED[key]

    return serialize


# ---- the mock runtime ------------------------------------------------------------------


def configure_mock_runtime(monitor: Any, project: str, stack: str) -> None:
    """Point the SDK at `monitor` (a mock monitor) for one run of the program. On an SDK
    version not checked, each private step runs only where that version still has it."""
    reset_options = getattr(pulumi_settings, "reset_options", None)
    if callable(reset_options):
        reset_options()
    root = getattr(pulumi_settings, "ROOT", None)
    if root is not None and hasattr(root, "set"):
        root.set(None)
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pulumi_mocks.MockEngine(None),
            project=project,
            stack=stack,
            dry_run=False,
            organization=None,
            callbacks=None,
        )
    )
    # A previous run's unhandled error must not be re-raised by this one.
    manager = getattr(pulumi_settings, "_get_rpc_manager", None)
    if callable(manager) and hasattr(manager(), "clear"):
        manager().clear()
    settings = getattr(pulumi_settings, "SETTINGS", None)
    if settings is not None and hasattr(settings, "lock") and hasattr(settings, "outputs"):
        with settings.lock:
            settings.outputs.clear()


class MonitorCallsInline(concurrent.futures.ThreadPoolExecutor):
    """A mocked run's default executor: runs each call at once, in the event loop's thread.

    The SDK sends every monitor RPC (register, invoke, register outputs) through
    `loop.run_in_executor(None, ...)`, a thread hop made for gRPC's blocking calls. The mock
    monitor answers in Python at once: the hop (a handoff to a pool thread and a wake-up of
    the loop, per RPC) was about a seventh of a mocked run. Where the mock monitor awaits
    (`_sync_await` on a state holding outputs), the SDK pumps the running loop re-entrantly,
    as it does for synchronous invokes. No thread is ever started.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a pool would
            future.set_exception(exc)
        return future


async def wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's `wait_for_rpcs`, awaiting the outstanding outputs one after another.

    The SDK re-runs `asyncio.wait(FIRST_COMPLETED)` over every pending output each time
    one completes, which costs (pending outputs x completions): quadratic in the number
    of resources, about half of a 600-resource run. Awaiting each output in turn
    waits for the same set (outputs created meanwhile are picked up on the next pass)
    and raises the same errors, in linear time.
    """
    rpc_manager = pulumi_settings._get_rpc_manager()
    settings = pulumi_settings.SETTINGS
    while True:
        while rpc_manager.rpcs:
            await asyncio.sleep(0)
            await rpc_manager.rpcs.pop()
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        while await_all_outstanding_tasks:
            with settings.lock:
                pending = list(settings.outputs)
                settings.outputs.clear()
            if not pending:
                break
            for task in pending:
                await task
        if not rpc_manager.rpcs:
            break


def no_stack_trace() -> Any:
    """Stands in for the SDK's `_get_stack_trace` while mocked: an empty stack trace.

    The SDK walks and resolves the whole Python stack (file URIs, lines) at every
    resource registration so the engine can show source positions; the mock monitor
    never reads them, and it cost a fifth of a run.
    """
    return source_pb2.StackTrace()


def cached_resource_types() -> Callable[[type], dict[str, type]]:
    """The SDK's `resource_types`, computed once per resource class instead of per resource.

    The SDK resolves a class's type hints (`typing.get_type_hints`, string annotations
    included) each time a resource's outputs arrive; components annotate their outputs,
    so this was a tenth of a run with many components. The hints never change in a run.
    """
    sdk = pulumi_types.resource_types
    cache: dict[type, dict[str, type]] = {}

    def resource_types(cls: type) -> dict[str, type]:
        if cls not in cache:
            cache[cls] = sdk(cls)
        return cache[cls]

    return resource_types


def known_urn_first() -> Callable[..., Any]:
    """The SDK's `create_urn`, answered at once when every part is already a plain string.

    Each registration computes a "mock URN" (`Output.all` over prefix, type and name, then
    two applies: four tasks) that it uses only when no monitor answers; ours always does.
    With plain strings the same text is known up front. Anything else (aliases given as
    outputs, a parent resource) goes to the SDK's own function.
    """
    sdk = pulumi_resource.create_urn

    def create_urn(
        name: Any, type_: Any, parent: Any = None, project: Any = None, stack: Any = None
    ) -> Any:
        if not (isinstance(name, str) and isinstance(type_, str)):
            return sdk(name, type_, parent, project, stack)
        if parent is None:
            project = pulumi_settings.get_project() if project is None else project
            stack = pulumi_settings.get_stack() if stack is None else stack
            prefix = f"urn:pulumi:{stack}::{project}::"
        elif isinstance(parent, str):
            prefix = parent[0 : parent.rfind("::")] + "$"  # the SDK's rule, character for character
        else:
            return sdk(name, type_, parent, project, stack)
        return pulumi_output.Output.from_input(prefix + type_ + "::" + name)

    return create_urn


def _plain(value: Any) -> bool:
    """JSON-shaped data only: what serializing never has to wait for."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def eager_plain_serialize() -> Callable[[Any], Any]:
    """The mock monitor's `_sync_await`, finishing `serialize_properties` of plain data at once.

    The SDK's mock monitor answers each registration by serializing the state it returns
    through a nested event loop (`_sync_await`): a sixth of a mocked run. Serializing
    JSON-shaped data awaits nothing that can suspend, so its coroutine runs to the end in
    one step. Anything else (outputs, resources, assets) goes through the SDK's own path.
    """
    sdk = pulumi_mocks._sync_await
    serialize = pulumi_rpc.serialize_properties.__code__

    def sync_await(awaitable: Any) -> Any:
        frame = awaitable.cr_frame if inspect.iscoroutine(awaitable) else None
        if (
            frame is not None
            and awaitable.cr_code is serialize
            and _plain(frame.f_locals.get("inputs"))
        ):
            try:
                awaitable.send(None)
            except StopIteration as done:
                return done.value
            awaitable.close()  # cannot happen with plain data; fail loudly, never half-done
            raise RuntimeError("serialize_properties waited on plain data")
        return sdk(awaitable)

    return sync_await


# Young-generation GC threshold while a program runs (CPython's default: 700). A run
# allocates hundreds of thousands of short-lived objects (outputs, futures, tasks) next
# to a large long-lived heap (pulumi_cloudflare's classes), and the default collects
# so often that it cost 40% of a run. Peak memory grows by ~15% at 600 resources.
GC_THRESHOLD = 10_000


@contextmanager
def lean_sdk() -> Iterator[None]:
    """The SDK with the speed-ups above, for the length of one mocked run only; the SDK as
    it is on a version they were not checked against (`checked`)."""
    if not checked():
        yield
        return
    # (module, name, replacement), each swapped in for the run and put back after it.
    swaps: list[tuple[Any, str, Any]] = [
        (pulumi_stack, "wait_for_rpcs", wait_for_rpcs),
        (pulumi_resource, "_get_stack_trace", no_stack_trace),
        (pulumi_types, "resource_types", cached_resource_types()),
        (pulumi_resource, "create_urn", known_urn_first()),
        (pulumi_mocks, "_sync_await", eager_plain_serialize()),
        (pulumi_dynamic, "_serialize", serialize_once()),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    threshold = gc.get_threshold()
    for module, name, replacement in swaps:
        setattr(module, name, replacement)
    gc.set_threshold(max(GC_THRESHOLD, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
        gc.set_threshold(*threshold)
