"""The engine rehearsal (`rehearse --engine`): each stage a real `pulumi up`, and workerd then
serving exactly what the Cloudflare provider uploaded.

The offline rehearsal hands workerd the bindings and values of the offline plan. Between
that plan and a real Worker stand the engine, the Cloudflare provider, its upload
(modules, multipart parts, binding metadata) and Cloudflare's API. Here they all run:

1. A scratch Pulumi project (the program, its Workers' modules, a `Pulumi.yaml` using this
   interpreter), a file backend and a passphrase of its own, and the local Cloudflare API
   on loopback as the account (values kept in its memory only, for step 3).
2. Per stage, in order: the stage's config written to the stack file (the secret values
   set once, as Pulumi secrets), then `pulumi up`, timed.
3. After each `up`, what the account holds becomes that stage's deployment: every script
   as uploaded (its modules, main module, compatibility settings and binding metadata),
   and the value of every secret the store holds. The offline plan is not used for it;
   where the upload differs from the plan, a note says so.

The traffic then runs as in the offline rehearsal, over these deployments.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as pysecrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from secrets_store.spec import NAMESPACE
from secretsctl.errors import InvalidInput
from secretsctl.offline.stackfile import SOURCE_ROOT, StackConfig
from secretsctl.rehearse.stages import Deployment, Stage

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
STACK = "rehearsal"
UP_TIMEOUT_S = 600
ENGINE_SCRIPT = SOURCE_ROOT / "scripts" / "engine.py"


class EngineError(InvalidInput):
    """No engine to run, or a `pulumi` command that failed; one line naming the fix."""


@dataclass(frozen=True)
class EngineUp:
    """One stage's `pulumi up`: how long it took and what the engine reported."""

    stage: str
    seconds: float
    changes: str

    def as_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "seconds": round(self.seconds, 1), "changes": self.changes}


def find_engine() -> Path:
    """The folder holding `pulumi` and its plugins: `make engine`'s, else `pulumi` on PATH."""
    if ENGINE_SCRIPT.is_file():
        found = subprocess.run(
            [sys.executable, str(ENGINE_SCRIPT), "--print-dir"], capture_output=True, text=True
        )
        if found.returncode == 0:
            return Path(found.stdout.strip())
    on_path = shutil.which("pulumi")
    if on_path and shutil.which("pulumi-resource-cloudflare"):
        return Path(on_path).parent
    raise EngineError(
        "--engine: no Pulumi engine found, got neither `make engine`'s build nor pulumi with "
        "pulumi-resource-cloudflare on PATH (run `make engine`, then rehearse again)"
    )


def deploy_stages(
    stages: list[Stage],
    workdir: Path,
    progress: Callable[[str], None],
    summary: Callable[[Mapping[str, str]], str],
) -> tuple[list[Stage], list[EngineUp], list[str]]:
    """Every stage deployed with `pulumi up`; returns the stages with the deployments the
    account held after each, the time of each `up`, and notes (upload vs plan)."""
    from local_cloudflare import serve
    from local_cloudflare.state import system_clock

    bin_dir = find_engine()
    first = stages[0].config
    if first is None:
        raise EngineError("--engine: a stage without its stack config (internal)")
    account = str(first.namespace.get("accountId") or "")
    token = "rehearsal-" + "".join(pysecrets.choice(TOKEN_ALPHABET) for _ in range(40))
    with serve(
        tokens={token},
        accounts=[account],
        pending_seconds=1.0,
        clock=system_clock,
        keep_values=True,
    ) as server:
        for namespace_id in _kv_namespaces(first):
            server.state.seed_kv_namespace(account, f"rehearsal-{namespace_id[:8]}", namespace_id)
        project = _Project(workdir / "engine", bin_dir, token, server.base_url)
        project.create(first)
        deployed: list[Stage] = []
        ups: list[EngineUp] = []
        notes: list[str] = []
        for number, stage in enumerate(stages, 1):
            assert stage.config is not None
            label = summary(stage.labels)
            project.write_stage(stage.config)
            progress(f"engine: pulumi up, stage {number} of {len(stages)} ({label})")
            seconds, changes = project.up()
            progress(f"  pulumi up: {changes} ({seconds:.1f} s)")
            ups.append(EngineUp(label, seconds, changes))
            held = account_deployment(server, account, workdir / "uploaded")
            notes += _differences(label, stage.deployment, held)
            deployed.append(replace(stage, deployment=held))
        if server.unrouted:
            notes.append(
                "the provider made calls the local API does not serve: "
                + ", ".join(f"{m} {p}" for m, p in sorted(set(server.unrouted)))
            )
    return deployed, ups, notes


def account_deployment(server: Any, account: str, modules_dir: Path) -> Deployment:
    """What the account holds now, in the runtime's shapes: the scripts as uploaded and the
    value of every secret in its store (kept by the local API for this purpose only)."""
    state = server.state
    secrets: dict[str, dict[str, str]] = {}
    for store in state.account(account).stores.values():
        for secret in store.secrets.values():
            if secret.deleted_at is None:
                secrets.setdefault(store.id, {})[secret.name] = state.secret_value(
                    account, secret.name
                )
    workers: dict[str, dict[str, Any]] = {}
    modules: dict[str, str] = {}
    bindings: dict[str, dict[str, str]] = {}
    plain: dict[str, dict[str, str]] = {}
    for name, script in sorted(state.account(account).scripts.items()):
        fingerprint = hashlib.sha256(
            json.dumps(
                {path: m.content.hex() for path, m in sorted(script.modules.items())}
            ).encode()
        ).hexdigest()[:16]
        root = modules_dir / f"{name}-{fingerprint}"
        for path, module in script.modules.items():
            target = (root / path).resolve()
            if root.resolve() not in target.parents:
                raise EngineError(f"script {name}: module {path!r} leaves its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(module.content)
        uploaded = [dict(b) for b in script.bindings]
        workers[name] = {
            "name": name,
            "main_module": script.main_module,
            "modules_root": str(root),
            "compatibility_date": script.compatibility_date,
            "compatibility_flags": list(script.compatibility_flags),
            "bindings": uploaded,
        }
        modules[name] = script.main_module
        bindings[name] = {
            b["name"]: b["secret_name"] for b in uploaded if b["type"] == "secrets_store_secret"
        }
        plain[name] = {b["name"]: b["text"] for b in uploaded if b["type"] == "plain_text"}
    return Deployment(workers, secrets, modules, bindings, plain)


def _differences(label: str, planned: Deployment, held: Deployment) -> list[str]:
    """Where the upload differs from the offline plan: names only, never a value."""
    notes = []
    if set(planned.workers) != set(held.workers):
        notes.append(
            f"stage {label}: the account holds scripts {sorted(held.workers)}, the offline "
            f"plan {sorted(planned.workers)}"
        )
    for script in sorted(set(planned.bindings) & set(held.bindings)):
        if planned.bindings[script] != held.bindings[script]:
            notes.append(
                f"stage {label}: {script}'s uploaded secret bindings differ from the offline "
                f"plan's ({sorted(held.bindings[script].items())} vs "
                f"{sorted(planned.bindings[script].items())})"
            )
    if {n for _, n in planned.secret_names()} != {n for _, n in held.secret_names()}:
        notes.append(
            f"stage {label}: the account holds secrets "
            f"{sorted(n for _, n in held.secret_names())}, the offline plan "
            f"{sorted(n for _, n in planned.secret_names())}"
        )
    return notes


def _kv_namespaces(config: StackConfig) -> set[str]:
    """KV namespace ids the stack's Workers bind: the account must hold them (10041)."""
    workers = config.namespace.get("workers")
    ids: set[str] = set()
    for worker in (workers if isinstance(workers, dict) else {}).values():
        kv = worker.get("kv") if isinstance(worker, dict) else None
        ids |= {str(v) for v in (kv if isinstance(kv, dict) else {}).values()}
    return ids


class _Project:
    """The scratch project, its file backend and its stack, driven by `pulumi` commands."""

    def __init__(self, root: Path, bin_dir: Path, token: str, base_url: str) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.token = token
        self.base_url = base_url
        self.home = root.parent / "pulumi-home"
        self.passphrase = pysecrets.token_urlsafe(24)
        self.stack_file = root / "stacks" / f"Pulumi.{STACK}.yaml"
        self._values_set = False

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "CLOUDFLARE_")) and k != "VIRTUAL_ENV"
        }
        interpreter = Path(sys.executable).parent
        env.update(
            PATH=os.pathsep.join([str(self.bin_dir), str(interpreter), env.get("PATH", "")]),
            PULUMI_HOME=str(self.home),
            PULUMI_BACKEND_URL=f"file://{self.home / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            NO_COLOR="1",
        )
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["pulumi", *args, "--non-interactive", "--color", "never", "--stack", STACK]
        done = subprocess.run(
            argv,
            cwd=self.root,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
        )
        if done.returncode != 0:
            # The engine's own message: it never prints a secret value (they are secrets).
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
            raise EngineError(
                f"--engine: `pulumi {args[0]}` failed (exit {done.returncode}):\n{tail}"
            )
        return done

    def create(self, config: StackConfig) -> None:
        """The project folder: the program, the Workers' modules, a Pulumi.yaml, a stack."""
        program = config.owner().program
        (self.home / "state").mkdir(parents=True)
        (self.root / "stacks").mkdir(parents=True)
        shutil.copy2(program, self.root / "__main__.py")
        source = config.owner().root
        for folder in _module_folders(config):
            shutil.copytree(
                source / folder,
                self.root / folder,
                ignore=shutil.ignore_patterns("node_modules", "local"),
                dirs_exist_ok=True,
            )
        venv = Path(sys.executable).parent.parent
        (self.root / "Pulumi.yaml").write_text(
            "name: secrets-store\n"
            "runtime:\n  name: python\n  options:\n"
            f"    virtualenv: {json.dumps(str(venv))}\n"
            "stackConfigDir: stacks\n"
        )
        subprocess.run(
            ["pulumi", "stack", "init", STACK, "--non-interactive"],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        self.run("config", "set", "--secret", "cloudflare:apiToken", stdin=self.token)
        self.run("config", "set", "cloudflare:baseUrl", self.base_url)

    def write_stage(self, config: StackConfig) -> None:
        """The stage's plain keys written into the stack file; its secrets set once."""
        yaml = YAML()
        document = yaml.load(self.stack_file.read_text())
        settings = document.setdefault("config", {})
        secret = set(config.secret_keys)
        for key, text in config.config.items():
            if not key.startswith(f"{NAMESPACE}:") or key in secret:
                continue
            settings[key] = _decoded(text)
        with self.stack_file.open("w") as out:
            yaml.dump(document, out)
        if not self._values_set:
            for key in config.secret_keys:
                self.run("config", "set", "--secret", key, stdin=config.config[key])
            self._values_set = True

    def up(self) -> tuple[float, str]:
        started = time.monotonic()
        done = self.run("up", "--yes", "--skip-preview", "--suppress-outputs")
        seconds = time.monotonic() - started
        return seconds, _changes(done.stdout)


def _decoded(text: str) -> Any:
    """A structured key's JSON text as YAML data; plain text stays text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict | list) else text


def _module_folders(config: StackConfig) -> set[str]:
    """Top folders of the Workers' modules and bundles (copied into the scratch project)."""
    workers = config.namespace.get("workers")
    folders = set()
    for worker in (workers if isinstance(workers, dict) else {}).values():
        for key in ("module", "bundle"):
            path = worker.get(key) if isinstance(worker, dict) else None
            if isinstance(path, str) and path:
                folders.add(Path(path).parts[0])
    return folders


def _changes(output: str) -> str:
    """The engine's summary (`+ 3 created, ~ 2 updated`), from `pulumi up`'s Resources block."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Resources:")
    except StopIteration:
        return "no summary"
    parts = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        parts.append(line.strip())
    return ", ".join(parts)
