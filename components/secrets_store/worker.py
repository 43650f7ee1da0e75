"""A Worker script with its modules and every binding, secrets placed by rotation stage."""

from __future__ import annotations

import functools
import inspect
import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack, overload

import pulumi
import pulumi_cloudflare as cloudflare

from secrets_store.errors import Problem, SpecError
from secrets_store.grammar import BINDING_NAME, SCRIPT_NAME
from secrets_store.modules import (
    TYPESCRIPT_SUFFIXES,
    Module,
    ModuleGraphError,
    collect_bundle,
    collect_modules,
)
from secrets_store.promotion import gated
from secrets_store.rotation import fallback_binding_name
from secrets_store.secret import VersionedSecret, rotation_bindings

TYPE = "secrets-store:index:Worker"
DEFAULT_COMPATIBILITY_DATE = "2025-11-01"


class SecretBindingArgs(TypedDict):
    """A Secrets Store binding that follows a rotating secret: primary and, while rotating,
    fallback. From Python, build it with `SecretBinding(secret, fallback=...)`."""

    store_id: pulumi.Input[str]
    """The store holding the secret."""
    secret_name: pulumi.Input[str]
    """Cloudflare name the binding points at (a VersionedSecret's `primary_name`)."""
    fallback_secret_name: NotRequired[pulumi.Input[str]]
    """Cloudflare name the fallback binding points at, given only while the secret rotates
    (a VersionedSecret's `fallback_name`, which is null when steady); no fallback binding
    when absent or null."""
    fallback_binding: NotRequired[str]
    """Name of the fallback binding. Default `<BINDING>_FALLBACK`."""


def SecretBinding(  # a factory that reads as the type it builds
    secret: VersionedSecret, fallback: str | None = None
) -> SecretBindingArgs:
    """Bind `secret` where its rotation stage says: the primary binding and, while rotating,
    the fallback binding (named `fallback`, default `<BINDING>_FALLBACK`)."""
    binding: SecretBindingArgs = {"store_id": secret.store_id, "secret_name": secret.primary_name}
    if secret.position.fallback_version is not None:
        binding["fallback_secret_name"] = secret.version_names[secret.position.fallback_version]
    if fallback:
        binding["fallback_binding"] = fallback
    return binding


class WorkerArgs(TypedDict):
    """A Worker script: its main ES module, and its bindings by name."""

    account_id: pulumi.Input[str]
    """The Cloudflare account id."""
    script_name: str
    """The script's name in Cloudflare (lowercase letters, digits, - and _). Changing it
    replaces the script."""
    main_module: str
    """The main ES module (.js or .mjs). Without `bundle`: its path relative to `root`, and
    every module it imports (relative imports, transitively) is uploaded with it. With
    `bundle`: the entry's path inside the bundle folder (for example `index.js`).
    TypeScript is refused: build it and pass the output folder as `bundle`."""
    bundle: NotRequired[str]
    """A built bundle: the output folder (relative to `root`) of esbuild or `wrangler deploy
    --dry-run --outdir`. Every module file in it is uploaded, with its content type (.js/.mjs
    ES module, .cjs CommonJS, .wasm, .txt/.html/.sql text, .bin data); other files (source
    maps, README.md) stay behind. Every file must resolve inside `root`, symlinks followed."""
    root: NotRequired[str]
    """Folder `main_module` and `bundle` are relative to. Default: the working directory."""
    bindings: NotRequired[Mapping[str, SecretBindingArgs]]
    """Secrets Store bindings by binding name."""
    vars: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Plain-text bindings (never secret values)."""
    kv_namespaces: NotRequired[Mapping[str, pulumi.Input[str]]]
    """KV namespace bindings: binding name -> namespace id (must exist: 10041 otherwise)."""
    services: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Service bindings: binding name -> script name. Pass the target Worker's `script_name`
    output, so the target is uploaded first and deleted last."""
    secret_texts: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Legacy Worker secrets (migration): binding name -> value, kept a Pulumi secret."""
    extra_bindings: NotRequired[Sequence[cloudflare.WorkersScriptBindingArgs | Mapping[str, Any]]]
    """Any other binding the provider knows (D1, R2, queues, Workers AI, Durable Objects,
    assets, ...), as `cloudflare.WorkersScriptBindingArgs` or a dict of its keyword
    arguments, passed through unchanged after the rotating ones. Names must be plain text;
    one that a rotating binding uses (its fallback name included) is refused."""
    compatibility_date: NotRequired[str]
    """workerd compatibility date. Default 2025-11-01."""
    compatibility_flags: NotRequired[list[str]]
    """workerd compatibility flags."""


class Worker(pulumi.ComponentResource):
    """A Cloudflare Worker whose Secrets Store bindings follow each secret's rotation stage.

    Behavior:
    - One `cloudflare.WorkersScript`: the main module as `content` + `main_module`, every
      imported module as a `files` part (named by its import path), so a change to any
      imported module changes the script's inputs and redeploys it.
    - Per secret binding B: B points at the secret's primary version and, while rotating,
      the fallback binding F (default `B_FALLBACK`) at the other one. Names come from the
      secret's outputs, which resolve once each version is active: Pulumi creates a version
      (and waits for it) before any worker binds it, and deletes one only after every
      worker has moved off it.
    - A service binding takes the target script's name from the target's output, so the
      target is uploaded first and deleted last.
    - With `bundle`, the built folder's entry and every part it imports are uploaded
      instead (main module as `content`, the others as `files` with their content types).
    - `extra_bindings` pass through unchanged, after the rotating and typed ones.
    - Refused at construction: a bad script or binding name, a binding name used twice
      (a rotating binding's fallback name counts while steady too), a main module (or an
      import, or a bundle file) that does not exist or resolves outside the project, a
      TypeScript main module.

    Example:
        Worker("edge", account_id=ACCOUNT, script_name="qa_edge", main_module="workers/api.js",
               bindings={"PRIMARY_KEY": SecretBinding(key, fallback="FALLBACK_KEY")})
        Worker("shop", account_id=ACCOUNT, script_name="shop", bundle="dist",
               main_module="index.js",
               bindings={"SIGNING_KEY": SecretBinding(jwt_key)},
               extra_bindings=[{"type": "d1", "name": "DB", "id": DATABASE_ID}])

    API: https://developers.cloudflare.com/api/resources/workers/subresources/scripts/methods/update/
    """

    script_name: pulumi.Output[str]
    """The script's name in Cloudflare, once uploaded (bind it as another Worker's service)."""

    @overload
    def __init__(
        self,
        name: str,
        args: WorkerArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        modules: Sequence[Module] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        modules: Sequence[Module] | None = None,
        **kwargs: Unpack[WorkerArgs],
    ) -> None: ...

    def __init__(
        self,
        name: str,
        args: WorkerArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        modules: Sequence[Module] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        settings: dict[str, Any] = {**dict(args or {}), **kwargs}
        where = f"Worker {name}"
        modules_given = modules
        modules = list(modules) if modules is not None else _modules(settings, where)
        bindings = _bindings(settings, where)

        main, *imported = modules
        self._script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=gated(settings["account_id"]),
            script_name=settings["script_name"],
            main_module=main.name,
            content=main.source,
            files={
                module.name: cloudflare.WorkersScriptFilesArgs(
                    content_type=module.content_type,
                    content_base64=module.base64,
                    content_sha256=module.sha256,
                )
                for module in imported
            },
            bindings=bindings,
            compatibility_date=settings.get("compatibility_date") or DEFAULT_COMPATIBILITY_DATE,
            compatibility_flags=list(settings.get("compatibility_flags") or []) or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.script_name = self._script.script_name
        outputs: dict[str, Any] = {"script_name": self.script_name}
        if modules_given is None and isinstance(settings.get("main_module"), str):
            # Where the main module is, from the program's working directory (plain text,
            # never an absolute path): what a wrangler config beside the program names.
            outputs["main_module_path"] = _main_module_path(settings)
        self.register_outputs(outputs)

    @property
    def script(self) -> cloudflare.WorkersScript:
        """The `cloudflare.WorkersScript` this component uploads: for `depends_on`, or its
        other outputs, from Python. (A property, not an annotation: the plugin schema
        declares `script_name`, which every language can read.)"""
        return self._script


def _main_module_path(settings: Mapping[str, Any]) -> str:
    """The main module's path from the working directory: `root`, `bundle` and `main_module`
    joined, kept relative (a root outside it shows as `..` steps, never as absolute)."""
    root = Path(settings.get("root") or ".")
    bundle = settings.get("bundle")
    path = root / (str(bundle) if bundle else "") / str(settings["main_module"])
    if path.is_absolute():
        path = Path(os.path.relpath(path, Path.cwd()))
    return posixpath.normpath(path.as_posix())


def _modules(settings: Mapping[str, Any], where: str) -> list[Module]:
    root = Path(settings.get("root") or Path.cwd())
    main = settings.get("main_module")
    bundle = settings.get("bundle")
    if isinstance(main, str) and main.endswith(TYPESCRIPT_SUFFIXES):
        raise SpecError(
            [
                Problem(
                    f"{where}.main_module",
                    f"TypeScript is not uploaded as is, got {main!r} (build it with esbuild or "
                    "wrangler, then pass bundle=<output folder> and main_module=<entry .js>)",
                )
            ]
        )
    if bundle is not None:
        try:
            return collect_bundle(root, str(bundle), str(main))
        except ModuleGraphError as exc:
            raise SpecError([Problem(f"{where}.bundle", str(exc))]) from None
    if not isinstance(main, str) or not (root / main).is_file():
        raise SpecError(
            [
                Problem(
                    f"{where}.main_module",
                    f"file not found, got {main!r} under {root} (a path relative to the "
                    "program's working directory, or pass root)",
                )
            ]
        )
    try:
        return collect_modules(root, main)
    except ModuleGraphError as exc:
        raise SpecError([Problem(f"{where}.main_module", str(exc))]) from None


def _bindings(settings: Mapping[str, Any], where: str) -> list[cloudflare.WorkersScriptBindingArgs]:
    """Every binding of the script, checked; secret names stay Outputs."""
    problems: list[Problem] = []
    script = settings.get("script_name")
    if not isinstance(script, str) or not SCRIPT_NAME.fullmatch(script):
        problems.append(
            Problem(
                f"{where}.script_name",
                f"bad script name, got {script!r} (lowercase letters, digits, - and _, "
                "at most 63 characters)",
            )
        )
    # Every binding with where it comes from; a rotating binding also reserves its fallback
    # name while steady, so a later stage cannot collide.
    bindings: list[tuple[cloudflare.WorkersScriptBindingArgs, str]] = []
    reserved: list[tuple[str, str]] = []
    for binding, target in (settings.get("bindings") or {}).items():
        origin = f"bindings.{binding}"
        fallback = target.get("fallback_binding")
        bindings += [
            (entry, origin)
            for entry in rotation_bindings(
                binding,
                target["store_id"],
                target["secret_name"],
                target.get("fallback_secret_name"),
                fallback,
            )
        ]
        reserved.append((fallback_binding_name(binding, fallback), f"{origin} (its fallback)"))
    for group, kind, field in (
        ("vars", "plain_text", "text"),
        ("kv_namespaces", "kv_namespace", "namespace_id"),
        ("services", "service", "service"),
        ("secret_texts", "secret_text", "text"),
    ):
        for binding, value in (settings.get(group) or {}).items():
            if group == "secret_texts":
                value = pulumi.Output.secret(value)  # a legacy secret stays a Pulumi secret
            entry = cloudflare.WorkersScriptBindingArgs(type=kind, name=binding, **{field: value})
            bindings.append((entry, f"{group}.{binding}"))
    for index, extra in enumerate(settings.get("extra_bindings") or []):
        entry = _extra_binding(extra, f"{where}.extra_bindings[{index}]", problems)
        if entry is not None:
            bindings.append((entry, f"extra_bindings[{index}]"))
    seen: dict[str, str] = {}
    names = [(str(entry.name), origin) for entry, origin in bindings]
    for binding, origin in names + reserved:
        if not BINDING_NAME.fullmatch(binding):
            problems.append(
                Problem(f"{where}.{origin}", f"bad binding name, got {binding!r} (a JS identifier)")
            )
        elif binding in seen and seen[binding] != origin.removesuffix(" (its fallback)"):
            problems.append(
                Problem(
                    f"{where}.{origin}",
                    f"binding name {binding!r} is already used by {seen[binding]} "
                    "(give one of them another name)",
                )
            )
        seen.setdefault(binding, origin)
    if problems:
        raise SpecError(dict.fromkeys(problems))  # a bad fallback name is found twice
    return [entry for entry, _ in bindings]


@functools.cache
def _binding_fields() -> frozenset[str]:
    """The keyword arguments of the installed provider's `WorkersScriptBindingArgs`."""
    parameters = inspect.signature(cloudflare.WorkersScriptBindingArgs.__init__).parameters
    return frozenset(parameters) - {"__self__", "self"}


def _extra_binding(
    extra: Any, where: str, problems: list[Problem]
) -> cloudflare.WorkersScriptBindingArgs | None:
    """One `extra_bindings` entry as the provider's args (a dict is read as its keyword
    arguments), or None with the problem recorded. Values are passed through as given."""
    if isinstance(extra, cloudflare.WorkersScriptBindingArgs):
        entry = extra
    elif isinstance(extra, Mapping):
        unknown = sorted(str(k) for k in extra if k not in _binding_fields())
        if unknown or "name" not in extra or "type" not in extra:
            problems.append(
                Problem(
                    where,
                    f"is not a WorkersScriptBindingArgs shape, got keys {sorted(map(str, extra))} "
                    f"(needs name and type; unknown: {unknown or 'none'}; use the provider's "
                    "snake_case field names, for example database_id)",
                )
            )
            return None
        entry = cloudflare.WorkersScriptBindingArgs(**extra)
    else:
        problems.append(
            Problem(
                where,
                f"must be a WorkersScriptBindingArgs or a dict, got {type(extra).__name__} "
                "(for example {'type': 'd1', 'name': 'DB', 'id': '<database id>'})",
            )
        )
        return None
    if not isinstance(entry.name, str):
        problems.append(
            Problem(
                where,
                f"name must be plain text, got {type(entry.name).__name__} (binding names are "
                "known before deploy: write the name itself)",
            )
        )
        return None
    return entry
