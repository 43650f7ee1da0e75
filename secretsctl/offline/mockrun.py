"""Runs the real `__main__.py` under Pulumi's mock runtime and records what it registers.

This is how every offline tool sees the program exactly as `pulumi up` would
run it: same code, same config, no engine and no Cloudflare. Mocks behave like
the engine's state: a resource's outputs are its inputs plus the fields
Cloudflare computes, and generated values are kept across runs when given the
previous run's state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
import re
import runpy
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

from secrets_store.config import TOPOLOGY_KEY
from secrets_store.errors import SpecError
from secrets_store.sdk_internals import (
    INSTALLED_PULUMI,
    MonitorCallsInline,
    checked,
    configure_mock_runtime,
    lean_sdk,
)
from secretsctl.errors import InvalidInput
from secretsctl.offline import runcache
from secretsctl.offline.project import LEGACY_NAME, Project
from secretsctl.offline.runcache import remembering_runs as remembering_runs  # for callers
from secretsctl.offline.stackfile import StackConfig

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
STORES_LOOKUP = "cloudflare:index/getSecretsStores:getSecretsStores"


def looked_up_store_id(name: str) -> str:
    """What the offline plan shows for a store looked up by name: not an id that could exist."""
    return f"<{name}: looked up at deploy>"


def offline_stores(config: StackConfig) -> list[dict[str, str]]:
    """Offline, the account is assumed to hold the store the stack names (checked at deploy)."""
    store = config.namespace.get("store")
    name = store.get("name") if isinstance(store, Mapping) else None
    name = name if isinstance(name, str) and name else "default_secrets_store"
    return [{"id": looked_up_store_id(name), "name": name}]


@dataclass(frozen=True)
class Registration:
    """One resource as the program registered it (inputs as sent, secrets still marked)."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    aliases: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    import_id: str = ""
    """`import_` option: adopt this existing resource instead of creating it."""
    ignore_changes: tuple[str, ...] = ()
    """`ignore_changes` option: inputs the engine keeps as they are in state."""

    def redacted_inputs(self) -> dict[str, Any]:
        """Inputs with every Pulumi secret shown as `[secret]`."""
        return redact(self.inputs)


@dataclass
class ProgramRun:
    """What one run of the program registered, and its stack outputs."""

    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URN -> outputs the mocks returned; pass it to the next run like the engine's state."""
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URN -> the outputs a component registered (`register_outputs`), secrets still marked."""
    unknown_references: frozenset[str] = frozenset()
    """StackReferences the run read that no outputs were given for."""

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]


def redact(value: Any) -> Any:
    """Replace serialized Pulumi secrets with `[secret]`, recursively."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return SECRET_MARK
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def integral(value: Any) -> Any:
    """Protobuf carries every number as a double: give whole numbers back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    """Inputs with secrets unwrapped to their plain values (for local rehearsal only)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def fake_id(urn: str) -> str:
    """A stable 32-hex id, shaped like Cloudflare's."""
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


# A run that fails leaves the SDK's own coroutines behind (outputs nobody awaits any more);
# collected later, each would print "coroutine ... was never awaited" after the one-line error.
warnings.filterwarnings(
    "ignore", message=r"coroutine 'Output\.\w+' was never awaited", category=RuntimeWarning
)


class EngineLikeMocks(pulumi.runtime.Mocks):
    """Outputs = inputs + computed fields; prior state wins for generated values."""

    def __init__(
        self,
        state: Mapping[str, dict[str, Any]] | None = None,
        stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
        stores: list[dict[str, str]] | None = None,
    ) -> None:
        self.state = dict(state or {})
        self.stack_outputs = dict(stack_outputs or {})
        self.unknown_references: set[str] = set()
        self.stores = list(stores or [])
        self.project = "secrets-store"
        self.stack = "stack"

    def urn(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{args.typ}::{args.name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomBytes:RandomBytes":
            key = self.urn(args)
            prior = self.state.get(key)
            if prior is None or prior.get("length") != args.inputs.get("length"):
                raw = os.urandom(int(args.inputs.get("length", 32)))
                prior = {**outputs, "base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
                runcache.note_generated(raw)
                self.state[key] = prior
            return fake_id(key), prior
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs.get("name"))
            if name not in self.stack_outputs:
                # Another project's stack (or one with no file here): no outputs offline. A
                # program that reads them fails, and says which reference (`_run`).
                self.unknown_references.add(name)
            return name, {
                "name": name,
                "outputs": dict(self.stack_outputs.get(name, {})),
                "secretOutputNames": [],
            }
        if args.typ == "cloudflare:index/workersScript:WorkersScript":
            return str(args.inputs.get("scriptName")), outputs
        return fake_id(self.urn(args)), outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        if args.token == STORES_LOOKUP:
            # The account's stores, as `cloudflare.get_secrets_stores` answers.
            account = str(args.args.get("accountId", ""))
            results = [
                {"accountId": account, "created": "", "modified": "", **store}
                for store in self.stores
            ]
            answer = {"accountId": account, "direction": "asc", "order": "name"}
            return {**answer, "results": results}, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each raw registration request.

    It does not claim alias-spec support, so the SDK resolves aliases (including
    those children inherit from a renamed parent) to full URNs, as it does for
    older engines: tests can compare them with a previous run's URNs.
    """

    def __init__(self, mocks: EngineLikeMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.stack_outputs: dict[str, Any] = {}
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.stack_urn = ""
        self.thread_loops: list[asyncio.AbstractEventLoop] = []
        self.loops_lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine's rule (the SDK mock keeps only the last parent type): the type
        # chain is the parent's full qualified type, and the root stack adds nothing.
        if parent:
            qualified = parent.split("::")[2]
            if qualified != STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def GetDeploymentInfo(self, request: Any) -> Any:
        info = super().GetDeploymentInfo(request)
        features = [
            f
            for f in info.supportedFeatures
            if f != pulumi_mocks.resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS
        ]
        del info.supportedFeatures[:]
        info.supportedFeatures.extend(features)
        return info

    def SupportsFeature(self, request: Any) -> Any:
        if request.id == "aliasSpecs":
            return type("SupportsFeatureResponse", (), {"hasSupport": False})
        return super().SupportsFeature(request)

    def thread_loop(self) -> None:
        """Give this executor thread an event loop we own, before the SDK makes one.

        The SDK's mock monitor needs a loop per thread and creates one it never closes;
        left to the garbage collector, such a loop can be finalized after its own
        sockets and print "Exception ignored in BaseEventLoop.__del__". Ours are
        closed by `run_program` when the run ends.
        """
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self.loops_lock:
                self.thread_loops.append(loop)

    def Invoke(self, request: Any) -> Any:
        self.thread_loop()
        return super().Invoke(request)

    def ReadResource(self, request: Any) -> Any:
        self.thread_loop()
        return super().ReadResource(request)

    def RegisterResource(self, request: Any) -> Any:
        self.thread_loop()
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                inputs=integral(json_format.MessageToDict(request.object)),
                protect=request.protect,
                retain_on_delete=request.retainOnDelete,
                aliases=tuple(a.urn for a in request.aliases if a.urn) + tuple(request.aliasURNs),
                dependencies=tuple(request.dependencies),
                import_id=request.importId,
                ignore_changes=tuple(request.ignoreChanges),
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        outputs = integral(json_format.MessageToDict(request.outputs))
        if request.urn == self.stack_urn:
            self.stack_outputs = outputs
        else:
            self.component_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)


CLOUDFLARE = "pulumi_cloudflare"


def lazy_cloudflare() -> None:
    """Import `pulumi_cloudflare`'s modules as the program uses them, not all ~780 at once.

    The package's `__init__` imports every resource module: 0.5 s of a 0.9 s import,
    for a program that uses three. The package is created without running `__init__`;
    a name it lacks is found in the module named after it (`WorkersScript` ->
    `workers_script`) or in `_inputs` (`...Args`), and any other name runs the real
    `__init__` once, so `import pulumi_cloudflare as cf; cf.Anything` keeps working.
    No-op when the package is already imported.
    """
    if CLOUDFLARE in sys.modules:
        return
    spec = importlib.util.find_spec(CLOUDFLARE)
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    complete = False

    def __getattr__(name: str) -> Any:
        nonlocal complete
        if name.startswith("__") or complete:
            raise AttributeError(f"module {CLOUDFLARE!r} has no attribute {name!r}")
        # `get_x_output` lives next to `get_x`, in module `get_x`.
        home = (
            "_inputs"
            if name.endswith(("Args", "ArgsDict"))
            else _snake(name).removesuffix("_output")
        )
        try:
            module = importlib.import_module(f"{CLOUDFLARE}.{home}")
        except ImportError:
            module = None
        if module is not None and home == name:
            return module  # a submodule (`from . import _utilities` in the package's modules)
        if module is not None and hasattr(module, name):
            value = getattr(module, name)
            setattr(package, name, value)
            return value
        complete = True
        loader.exec_module(package)  # the real __init__: everything, and its registrations
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[attr-defined,method-assign]
    sys.modules[CLOUDFLARE] = package


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@contextlib.contextmanager
def handed_config(values: Mapping[str, str], secret_keys: list[str]) -> Iterator[None]:
    """The config in the environment for the run, as the language host hands it to a program
    (`PULUMI_CONFIG`, `PULUMI_CONFIG_SECRET_KEYS`), besides the SDK's in-process config."""
    saved = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(dict(values))
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(secret_keys))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _quiet_abandoned_futures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if not str(context.get("message", "")).startswith("Future exception was never retrieved"):
        loop.default_exception_handler(context)


@dataclass(frozen=True)
class Program:
    """The program to run, what the runtime calls its project, and where Pulumi runs it."""

    path: Path
    project: str = LEGACY_NAME
    working_dir: Path | None = None
    """None: this process's working directory (a program given by path, or the example's)."""
    project_root: Path | None = None
    """The folder of its Pulumi.yaml, where known."""
    imports_from_folder: bool = True
    """Its folder is first on the import path (`Project.imports_from_folder`)."""


def program_for(config: StackConfig) -> Program:
    """The program `pulumi up` runs for a stack config: its project's (`main:`), or this
    checkout's for a copy of the example stacks. Raises `ProjectError` when there is none."""
    project: Project = config.owner()
    path = project.runnable_program()
    if path != project.program:
        return Program(path, project.name, project_root=project.root)  # the example's own
    return Program(
        path, project.name, project.working_dir, project.root, project.imports_from_folder
    )


def _run_key(program: Program, config: StackConfig, *inputs: Any) -> str:
    # No path: the program gets its config from the runtime, never from the file, and what
    # it reads is checked relative to its roots (`runcache`), so copies of one project (a
    # base in a temporary folder, a test's copy) share their runs.
    environment = sorted(
        (k, v) for k, v in os.environ.items() if k not in runcache.IGNORED_ENVIRONMENT
    )
    identity = [
        program.project,
        program.path.name,
        program.working_dir is None,
        program.imports_from_folder,
        program.path.read_text(errors="replace"),
        config.stack,
        config.config,
        sorted(config.secret_keys),
        config.opaque_keys,
        config.topology.text if config.topology else None,
        environment,
        INSTALLED_PULUMI,
        checked(),
        *inputs,
    ]
    text = json.dumps(identity, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _roots(program: Program) -> dict[str, str]:
    """The folders a run's reads are recorded relative to (`runcache.keep`)."""
    cwd = os.path.realpath(program.working_dir) if program.working_dir else os.getcwd()
    roots = {"program": os.path.abspath(program.path.parent), "cwd": cwd}
    if program.project_root is not None:
        roots["project"] = os.path.abspath(program.project_root)
    return roots


def run_program(
    config: StackConfig,
    *,
    state: Mapping[str, dict[str, Any]] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    program: Path | None = None,
    offline: bool = True,
    stores: list[dict[str, str]] | None = None,
    reference_chain: tuple[str, ...] = (),
) -> ProgramRun:
    """Run the Pulumi program for `config` under mocks; raises what the program raises.

    `state`: a previous run's `ProgramRun.state`, to keep generated values.
    `stack_outputs`: outputs of other stacks, by name, for StackReferences.
    `program`: the Pulumi program to run, in this working directory (default: the config's
    project's, in the folder Pulumi runs it in, see `program_for`).
    `offline`: a plan (placeholder ids are shown); False runs it as `pulumi up` would.
    `stores`: the account's stores `{id, name}` for the store lookup (default: the one the
    stack names, see `offline_stores`).

    A StackReference to another project's stack that the run read without outputs is
    answered (`references.other_project_outputs`) and the program run again with them.
    `reference_chain`: the references being answered already (a loop between projects ends).
    """
    chosen = program_for(config) if program is None else Program(program, runtime_project(config))

    def once(outputs: Mapping[str, Mapping[str, Any]] | None) -> ProgramRun:
        if not runcache.remembering():
            return _run(config, chosen, state, outputs, offline, stores)
        key = _run_key(chosen, config, state, outputs, offline, stores)
        roots = _roots(chosen)
        run = runcache.recall(key, roots, _redraw)
        if run is None:  # a run that raises is never remembered
            with runcache.watching() as log:
                run = _run(config, chosen, state, outputs, offline, stores)
            runcache.keep(key, run, log, roots, repr(run))
        return copy.deepcopy(run)  # type: ignore[no-any-return]

    try:
        run = once(stack_outputs)
        failure: ProgramFailed | None = None
        unknown = run.unknown_references
    except ProgramFailed as exc:
        if not exc.references:
            raise
        failure, unknown = exc, exc.references
    if not unknown:
        return run
    from secretsctl.offline.references import other_project_outputs

    found, missing = other_project_outputs(config, set(unknown), reference_chain)
    if failure is not None and missing:
        raise ProgramFailed(
            f"{str(failure).split(' (fix the program')[0]}, after reading "
            + "; ".join(missing)
            + " (offline runs answer a reference from that project's plan when it sits beside "
            "this one, or from the JSON file $SECRETSCTL_STACK_OUTPUTS names: "
            '{"<org>/<project>/<stack>": <pulumi stack output --json of it>})',
            failure.references,
        ) from None
    if not found:
        return run
    return once({**(stack_outputs or {}), **found})


def _redraw(run: ProgramRun, generated: tuple[bytes, ...]) -> tuple[ProgramRun, tuple[bytes, ...]]:
    """The run with every value it generated drawn again (`runcache.recall`)."""
    values = {raw: os.urandom(len(raw)) for raw in generated}
    return redrawn(run, values), tuple(values.values())


def redrawn(run: ProgramRun, values: Mapping[bytes, bytes]) -> ProgramRun:
    """A copy of `run` with each generated value (random bytes, as `EngineLikeMocks` makes
    them) in `values` replaced by its new one, wherever the run carries its base64 or hex
    form: what a fresh run that drew the new values would have registered."""
    forms = {
        old_form: new_form
        for old, new in values.items()
        for old_form, new_form in (
            (base64.b64encode(old).decode(), base64.b64encode(new).decode()),
            (old.hex(), new.hex()),
        )
    }

    def replaced(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in forms.items():
                if old in value:
                    value = value.replace(old, new)
            return value
        if isinstance(value, dict):
            return {k: replaced(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(replaced(v) for v in value)
        return value

    copied = copy.deepcopy(run)
    copied.resources = [dataclasses.replace(r, inputs=replaced(r.inputs)) for r in copied.resources]
    copied.outputs = replaced(copied.outputs)
    copied.state = replaced(copied.state)
    copied.component_outputs = replaced(copied.component_outputs)
    return copied


def runtime_project(config: StackConfig) -> str:
    """The runtime's project name for a program given by path: the config's project's when
    it has one that can be read."""

    try:
        return config.owner().name
    except InvalidInput:
        return LEGACY_NAME


class ProgramFailed(InvalidInput):
    """The project's own program raised: one line saying where and what, never a traceback."""

    def __init__(self, line: str, references: frozenset[str] = frozenset()) -> None:
        super().__init__(line)
        self.references = references
        """StackReferences the run read and had no outputs for (they may be the cause)."""


def _failure_line(exc: BaseException, program: Program, secrets: list[str]) -> str:
    """Where in the project's program `exc` was raised (its deepest frame in the project's
    own files, not in an installed package), and the error it started from (the SDK wraps
    errors raised in an apply), with every secret value of the stack blanked out: the line
    may reach a CI log."""
    cause = exc
    seen = {id(cause)}
    while (inner := cause.__cause__ or cause.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        cause = inner
    folder = program.path.resolve().parent
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}

    def own(filename: str) -> bool:
        path = Path(filename).resolve()
        return (
            path.is_relative_to(folder)
            and "site-packages" not in path.parts
            and not any(path.is_relative_to(p) for p in installed)
        )

    frames = [
        frame
        for error in (exc, cause)
        for frame in traceback.extract_tb(error.__traceback__)
        if own(frame.filename)
    ]
    if frames:
        frame = frames[-1]
        where = f"{Path(frame.filename).resolve().relative_to(folder).as_posix()}:{frame.lineno}"
    else:
        where = program.path.name
    message = str(cause)
    for value in sorted((v for v in secrets if len(v) >= 4), key=len, reverse=True):
        message = message.replace(value, "[secret]")
    message = " ".join(message.split())
    if len(message) > 300:
        message = message[:300] + "..."
    return (
        f"{where}: the program raised {type(cause).__name__}: {message} (fix the program: "
        "`pulumi preview` would fail the same way)"
    )


@contextlib.contextmanager
def _running_in(program: Program) -> Iterator[None]:
    """As Pulumi runs a Python program: in its working directory, its own folder first on
    the import path when Pulumi runs the folder (a program may import its own modules).
    Both restored after, and the project's own modules the run imported are forgotten:
    Pulumi runs each program in a fresh process, so the next run (a PR's head after its
    base) imports its own copies."""
    if program.working_dir is None:
        yield
        return
    folder = str(program.path.parent)
    own = [os.path.join(os.path.abspath(p), "") for p in (folder, program.project_root) if p]
    before = os.getcwd()
    imported = set(sys.modules)
    os.chdir(program.working_dir)
    if program.imports_from_folder:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        os.chdir(before)
        if program.imports_from_folder:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
        for name in [name for name in sys.modules if name not in imported]:
            source = getattr(sys.modules[name], "__file__", None)
            if isinstance(source, str) and _project_file(os.path.abspath(source), own):
                runcache.note_read(source)
                del sys.modules[name]


def _project_file(path: str, folders: list[str]) -> bool:
    """In the project's folders, not in an installed package or the interpreter's own."""
    return any(path.startswith(f) for f in folders) and f"{os.sep}site-packages{os.sep}" not in path


def _run(
    config: StackConfig,
    program: Program,
    state: Mapping[str, dict[str, Any]] | None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None,
    offline: bool,
    stores: list[dict[str, str]] | None,
) -> ProgramRun:
    lazy_cloudflare()
    config_values = dict(config.config)
    if offline:
        config_values["secretsctl:offline"] = "true"
    if config.opaque_keys:
        config_values["secretsctl:opaqueKeys"] = json.dumps(config.opaque_keys)
    # The stack file's project's topology, not necessarily the one beside the program run.
    config_values[TOPOLOGY_KEY] = json.dumps(config.topology.data) if config.topology else ""
    set_all_config(config_values, list(config.secret_keys))

    # The SDK schedules registrations on the current loop from set_mocks on.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(MonitorCallsInline())  # the mock monitor answers at once
    mocks = EngineLikeMocks(
        state, stack_outputs, offline_stores(config) if stores is None else stores
    )
    mocks.stack = config.stack
    mocks.project = program.project
    monitor = RecordingMonitor(mocks)
    configure_mock_runtime(monitor, mocks.project, config.stack)

    def main() -> None:
        runpy.run_path(str(program.path), run_name="__main__")

    try:
        with lean_sdk(), _running_in(program), handed_config(config_values, config.secret_keys):
            loop.run_until_complete(run_in_stack(main))
    except BaseException as exc:
        # The failure is raised to the caller; the SDK's copies of it in abandoned futures
        # would only print "Future exception was never retrieved" when collected.
        loop.set_exception_handler(_quiet_abandoned_futures)
        if isinstance(exc, Exception) and not isinstance(exc, SpecError | InvalidInput):
            secrets = [str(config.config[k]) for k in config.secret_keys if k in config.config]
            line = _failure_line(exc, program, secrets)
            raise ProgramFailed(line, frozenset(mocks.unknown_references)) from exc
        raise
    finally:
        # A failed run leaves outputs waiting on the failure: cancel them, so that nothing
        # of this run (its error above all) reaches the next run in this process.
        leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        # End the executor threads the mock monitor ran in, then close their loops.
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in monitor.thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return ProgramRun(
        stack=config.stack,
        resources=monitor.registrations,
        outputs=monitor.stack_outputs,
        state=mocks.state,
        component_outputs=monitor.component_outputs,
        unknown_references=frozenset(mocks.unknown_references),
    )
