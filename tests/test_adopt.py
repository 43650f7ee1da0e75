"""Adopting the package in a project of one's own (issue 19): a fresh venv outside this
repository gets `cloudflare-secrets-store[cli]`, and a Pulumi project with its own
Pulumi.yaml (`main: infra.py`) and a program that uses the components in code is planned,
rotated and checked by the installed `secretsctl` console script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_cloudflare import serve
from tests.workflow_support import bytecode_settings, git, secretsctl

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "adopt-test-token"
# Stand in for `secure:` ciphertexts: no command may ever print one.
CIPHERTEXTS = (
    "v1:QURPUFQx:YWRvcHQtY2lwaGVydGV4dC1vbmUtWnE4",
    "v1:QURPUFQy:YWRvcHQtY2lwaGVydGV4dC10d28tV3Ex",
)

PROJECT_FILE = """\
name: shop-edge
runtime:
  name: python
main: infra.py
"""
PROGRAM = """\
\"\"\"The team's own program: the components in code, positions and values from config.\"\"\"
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

ACCOUNT = {account!r}
store = SecretsStore("store", account_id=ACCOUNT, store_name="default_secrets_store")
api_key = VersionedSecret("api_key", account_id=ACCOUNT, store=store, kind="api_key"{fixed})
signing = VersionedSecret(
    "signing_key", account_id=ACCOUNT, store=store, kind="signing_key", generate=True
)
Worker(
    "edge",
    account_id=ACCOUNT,
    script_name="shop_edge",
    main_module="workers/edge.js",
    bindings={{
        "PRIMARY_KEY": SecretBinding(api_key, fallback="FALLBACK_KEY"),
        "BILLING_KEY": SecretBinding(api_key),  # the same secret under a second name
        "SIGNING_KEY": SecretBinding(signing),
    }},
)
"""
STACK_FILE = f"""\
# dev: positions and values only; the topology is the program's
config:
  secrets-store:rotation:
    api_key:
      current: 1    # `secretsctl rotate api_key --stack dev` moves this
  secrets-store:api_key_v1:
    secure: {CIPHERTEXTS[0]}
  secrets-store:api_key_v2:
    secure: {CIPHERTEXTS[1]}
"""


def write_project(folder: Path, fixed: str = "") -> Path:
    """The project: Pulumi.yaml, infra.py, a worker module importing another, one stack."""
    (folder / "workers").mkdir(parents=True)
    (folder / "ops" / "notes").mkdir(parents=True)  # a sub-folder to run commands from
    (folder / "Pulumi.yaml").write_text(PROJECT_FILE)
    (folder / "infra.py").write_text(PROGRAM.format(account=ACCOUNT, fixed=fixed))
    (folder / "workers" / "edge.js").write_text(
        'import { greet } from "./greet.js";\n'
        "export default { fetch: () => new Response(greet()) };\n"
    )
    (folder / "workers" / "greet.js").write_text('export const greet = () => "ok";\n')
    (folder / "Pulumi.dev.yaml").write_text(STACK_FILE)
    assert ROOT not in folder.resolve().parents
    return folder


def pinned_uv() -> Path | None:
    """The uv scripts/venv.sh bootstraps (its pinned version), or one of that version on PATH."""
    version = re.search(r"^UV_VERSION=(\S+)", (ROOT / "scripts" / "venv.sh").read_text(), re.M)
    assert version
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (
        cache / "cloudflare-secrets-store" / f"uv-{version[1]}" / "bin" / "uv",
        Path(shutil.which("uv") or "/nonexistent"),
    ):
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`secretsctl` of a fresh venv holding the package with the `cli` extra, built from a
    copy of its sources (pinned to this checkout's versions, from uv's cache)."""
    uv = pinned_uv()
    if uv is None:
        pytest.skip("uv is not installed (`make setup` bootstraps it)")
    base = tmp_path_factory.mktemp("adopt-install")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("components/secrets_store", "secretsctl"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    frozen = subprocess.run(
        [str(uv), "pip", "freeze", "--python", sys.executable],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = [line for line in frozen.splitlines() if line and not line.startswith("-e")]
    (base / "constraints.txt").write_text("\n".join(pins) + "\n")
    venv = base / "venv"
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    install = [
        str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
        "-c", str(base / "constraints.txt"), f"{source}[cli]",
    ]  # fmt: skip
    done = subprocess.run([*install, "--offline"], capture_output=True, text=True, check=False)
    if done.returncode != 0:  # a cold uv cache: the same pins from the index
        done = subprocess.run(install, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    script = venv / "bin" / "secretsctl"
    assert script.is_file()
    return script


def run(
    script: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """The installed console script as a user runs it; never a traceback, never a value."""
    result = subprocess.run(
        [str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **bytecode_settings(), **(env or {})},
    )
    assert "Traceback" not in result.stderr, result.stderr
    for ciphertext in CIPHERTEXTS:
        assert ciphertext not in result.stdout + result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = write_project(tmp_path / "shop-edge")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "base")
    yield folder


def test_the_installed_cli_plans_rotates_and_checks_a_program_of_its_own(
    installed: Path, project: Path
) -> None:
    code, stdout, stderr = run(installed, "plan", "--stack", "dev", "--format", "json", cwd=project)
    assert code == 0, stderr
    plan = json.loads(stdout)
    assert plan["secrets"]["api_key"]["stage"] == "steady"
    assert plan["secrets"]["signing_key"]["kind"] == "signing_key"
    bindings = plan["workers"]["edge"]["bindings"]
    assert {b: f["secret_name"] for b, f in bindings.items()} == {
        "PRIMARY_KEY": "api_key_v1",
        "BILLING_KEY": "api_key_v1",
        "SIGNING_KEY": "signing_key_v1",
    }
    assert plan["workers"]["edge"]["script_name"] == "shop_edge"
    # a program that exports nothing still shows its store (looked up by name at deploy)
    assert plan["store_id"] == "<default_secrets_store: looked up at deploy>"

    # From a sub-folder, as `pulumi` finds its project: one stage, in Pulumi.dev.yaml.
    code, stdout, stderr = run(
        installed, "rotate", "api_key", "--stack", "dev", cwd=project / "ops" / "notes"
    )
    assert code == 0, stderr
    assert "api_key: from v1 steady to v1 → v2 fallback" in stdout
    assert "BILLING_KEY_FALLBACK: (none) → api_key_v2" in stdout
    rotated = (project / "Pulumi.dev.yaml").read_text()
    assert rotated == STACK_FILE.replace(
        "      current: 1    # `secretsctl rotate api_key --stack dev` moves this\n",
        "      current: 1    # `secretsctl rotate api_key --stack dev` moves this\n"
        "      next: 2\n      stage: fallback\n",
    )
    git(project, "commit", "-q", "-am", "api_key: fallback")
    code, stdout, stderr = run(installed, "check", "--base", "HEAD", "-C", str(project), cwd=ROOT)
    assert (code, stdout.strip()) == (0, "check: 1 stacks OK against HEAD."), stderr

    # Two stages in one change (fallback straight to steady at v2): refused.
    (project / "Pulumi.dev.yaml").write_text(
        rotated.replace("      current: 1 ", "      current: 2 ").replace(
            "      next: 2\n      stage: fallback\n", ""
        )
    )
    code, stdout, stderr = run(installed, "check", "--base", "HEAD", cwd=project / "ops")
    assert code == 2 and stdout == ""
    assert stderr.splitlines() == [
        "Pulumi.dev.yaml: secrets-store:rotation.api_key: moved 2 stages in one change, got "
        "v1 → v2 fallback at HEAD and v2 steady here (one stage per change: "
        "`secretsctl rotate api_key` from the base's position; a leaked key: "
        '`secretsctl rotate api_key --emergency --reason "why"`)'
    ]


def test_a_folder_without_a_project_gets_one_line_and_exit_2(
    installed: Path, tmp_path: Path
) -> None:
    for args in (["plan", "--stack", "dev"], ["check"], ["rotate", "api_key", "-s", "dev"]):
        code, stdout, stderr = run(installed, *args, cwd=tmp_path)
        assert (code, stdout) == (2, "")
        assert stderr.splitlines() == [
            f"{tmp_path.resolve()}: not inside a Pulumi project, got no Pulumi.yaml here or in "
            "any folder above (cd into your project, or pass --cwd DIR)"
        ]


def test_status_and_verify_read_the_account_without_a_flag(installed: Path, project: Path) -> None:
    with serve(tokens={TOKEN}, accounts=[ACCOUNT]) as server:
        env = server.env(TOKEN)
        code, stdout, stderr = run(
            installed, "status", "--stack", "dev", "--format", "json", cwd=project, env=env
        )
        assert code == 1, stderr  # nothing deployed yet: drift, not an error
        drift = {(d["kind"], d["key"]) for d in json.loads(stdout)["drift"]}
        assert ("script_absent", "workers.edge") in drift, drift
        code, stdout, stderr = run(
            installed, "verify", "--stack", "dev", "--live", cwd=project, env=env
        )
        assert code == 1, stderr
        assert "NO-GO" in stdout


def test_a_position_fixed_in_code_makes_rotate_refuse_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_project(tmp_path / "fixed", fixed=", current=1")
    monkeypatch.chdir(folder / "ops")
    before = (folder / "Pulumi.dev.yaml").read_bytes()
    result = secretsctl("rotate", "api_key", "--stack", "dev")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "secrets-store:rotation.api_key: the program fixes this secret's position in code "
        "(VersionedSecret(..., current=1)), so config cannot move it (remove current/next/stage "
        "from the VersionedSecret call to hand the position to config)"
    ]
    assert (folder / "Pulumi.dev.yaml").read_bytes() == before
