"""The real Pulumi engine for tests: `pulumi` commands against the local Cloudflare API.

`make engine` builds the CLI, the Python language host and the Cloudflare and random
plugins into a cache (scripts/engine.py); `engine_bin()` finds that folder or skips the
test with the reason (no Go, or not built: run `make engine`). `make test` builds it first
wherever Go is installed, so in CI the engine suite always runs.

An `EngineProject` is a Pulumi project in a temporary folder with a file backend of its
own, a passphrase, and its account on a `LocalCloudflare` on loopback
(`cloudflare:baseUrl`, an API token of the provider's pattern). Every `pulumi` command it
runs is timed (`timings`) and its output kept (`transcript`), so a test can assert that no
secret value ever appeared in it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cloudflare import Cloudflare

from local_cloudflare import LocalCloudflare, serve
from local_cloudflare.state import system_clock

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
ACCOUNT = "0123456789abcdef0123456789abcdef"
# The provider refuses a token outside ^[0-9A-Za-z\-_]{40,80}$ before it makes any call.
TOKEN = "engineTestToken-0123456789abcdefghijklmnopqrstuv"
PASSPHRASE = "example-passphrase-not-a-secret"  # the example stacks' secure: values use it
SECRET_TYPE = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT_TYPE = "cloudflare:index/workersScript:WorkersScript"


def find_engine() -> Path | str:
    """The folder of the built engine, or why there is none (naming the fix)."""
    if shutil.which("go") is None:
        return "no Go toolchain on PATH (install Go, then `make engine`)"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "engine.py"), "--print-dir"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return "the engine is not built (run `make engine`)"
    return Path(proc.stdout.strip())


def engine_bin() -> Path:
    """The folder of the built engine, or skip the test with the reason."""
    found = find_engine()
    if isinstance(found, str):
        pytest.skip(f"engine suite did not run: {found}")
    return found


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class EngineProject:
    """A project folder, its file backend and the account it deploys to."""

    root: Path
    bin: Path
    server: LocalCloudflare
    home: Path
    timings: list[tuple[str, float]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    @property
    def client(self) -> Cloudflare:
        return Cloudflare(api_token=TOKEN, base_url=self.server.base_url, max_retries=0)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "CLOUDFLARE_")) and k != "VIRTUAL_ENV"
        }
        env.update(
            PATH=f"{self.bin}{os.pathsep}{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_HOME=str(self.home),
            PULUMI_BACKEND_URL=f"file://{self.home / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
            NO_COLOR="1",
        )
        env.update(extra or {})
        return env

    def pulumi(
        self,
        *args: str,
        stack: str | None = None,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        argv = ["pulumi", *args, "--non-interactive", "--color", "never"]
        if stack:
            argv += ["--stack", stack]
        return self._run(argv, check=check, cwd=cwd, env=env)

    def up(
        self, stack: str, *extra: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> Result:
        return self.pulumi(
            "up", "--yes", "--skip-preview", *extra, stack=stack, check=check, env=env
        )

    def secretsctl(
        self,
        *args: str,
        check: bool = True,
        cwd: Path | None = None,
        live: bool = False,
    ) -> Result:
        """`secretsctl`; live: with the account's token and API address in its environment,
        as an operator runs the live commands (`init`, `verify`)."""
        env = self.server.env() if live else None
        return self._run([str(VENV / "bin" / "secretsctl"), *args], check=check, cwd=cwd, env=env)

    def _run(
        self,
        argv: list[str],
        *,
        check: bool,
        cwd: Path | None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        start = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=cwd or self.root,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        label = " ".join(a for a in argv[:3] if not a.startswith("/"))
        self.timings.append((label, result.seconds))
        self.transcript.append(result.output)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode} in {result.seconds:.1f} s:\n"
                f"{result.output[-6000:]}"
            )
        return result

    def config_set(self, stack: str, key: str, value: str, *, secret: bool = False) -> None:
        flags = ["--secret"] if secret else ["--plaintext"]
        self.pulumi("config", "set", *flags, key, value, stack=stack)

    def stack_init(self, stack: str) -> None:
        self.pulumi("stack", "init", stack)
        self.config_set(stack, "cloudflare:apiToken", TOKEN, secret=True)
        self.config_set(stack, "cloudflare:baseUrl", self.server.base_url)

    def export(self, stack: str) -> dict[str, Any]:
        return self.pulumi("stack", "export", stack=stack).json()

    def preview_json(self, stack: str, *extra: str) -> dict[str, Any]:
        result = self.pulumi("preview", "--json", *extra, stack=stack)
        return result.json()

    # ---- the account, through the official client -----------------------------------

    def store_id(self, account: str = ACCOUNT) -> str:
        return next(iter(self.client.secrets_store.stores.list(account_id=account))).id

    def secrets(self, account: str = ACCOUNT) -> dict[str, Any]:
        """Secret name -> the SDK's model of it, for every secret in the account's store."""
        store = self.store_id(account)
        return {
            s.name: s
            for s in self.client.secrets_store.stores.secrets.list(store, account_id=account)
        }

    def script_bindings(self, script: str, account: str = ACCOUNT) -> dict[str, dict[str, Any]]:
        """Binding name -> the binding as the account keeps it, for one uploaded script."""
        kept = self.server.state.script(account, script)
        return {b["name"]: b for b in kept.bindings}


@contextmanager
def engine_project(
    tmp_path: Path,
    *,
    files: Iterable[str] = ("__main__.py", "secrets-store.yaml", "workers", "policies"),
    pending_seconds: float = 0.3,
    accounts: Iterable[str] = (ACCOUNT,),
) -> Iterator[EngineProject]:
    """This repository's project (its program, topology, Workers) in tmp_path, with a local
    account and an empty file backend. Stacks are added by the test."""
    bin_dir = engine_bin()
    root = tmp_path / "project"
    root.mkdir()
    for name in files:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source,
                root / name,
                ignore=shutil.ignore_patterns(
                    "node_modules", "venv", "__pycache__", "test", "dist"
                ),
            )
        else:
            shutil.copy2(source, root / name)
    pulumi_yaml = (REPO / "Pulumi.yaml").read_text()
    # The repository's venv is the project's: its path is absolute here, the copy being elsewhere.
    pulumi_yaml = re.sub(r"virtualenv: \.venv", f"virtualenv: {VENV}", pulumi_yaml)
    (root / "Pulumi.yaml").write_text(pulumi_yaml)
    (root / "stacks").mkdir(exist_ok=True)
    home = tmp_path / "pulumi-home"
    (home / "state").mkdir(parents=True)
    # The wall clock: the engine's processes wait for `active` in real time.
    with serve(
        tokens={TOKEN},
        accounts=list(accounts),
        pending_seconds=pending_seconds,
        clock=system_clock,
    ) as server:
        yield EngineProject(root=root, bin=bin_dir, server=server, home=home)


def example_stack_text(stack: str, kv_id: str, account: str = ACCOUNT) -> str:
    """An example stack file (examples/stacks) with real ids in place of the placeholders."""
    text = (REPO / "examples" / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    text = text.replace("REPLACE_ME_ACCOUNT_ID", account)
    return text.replace("REPLACE_ME_KV_NAMESPACE_ID", kv_id)


def preview_steps(preview: Mapping[str, Any]) -> dict[str, str]:
    """URN name part -> op, for every step of `pulumi preview --json` that changes something."""
    steps: dict[str, str] = {}
    for step in preview.get("steps", []):
        op = step.get("op")
        if op in ("same", "read", None):
            continue
        urn = step["urn"]
        steps[urn] = op
    return steps
