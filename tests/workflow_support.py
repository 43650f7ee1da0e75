"""Helpers for the workflow tests: a temporary git repo holding copies of the example stacks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from secretsctl.cli import app
from secretsctl.offline.stackfile import SOURCE_ROOT as PROJECT_ROOT

# Stands in for a `secure:` ciphertext: no tool may ever print it.
CANARY_CIPHERTEXT = "v1:Q0FOQVJZ:Y2FuYXJ5LXNlY3VyZS1ibG9iLVp4OVF2VDNwTDc="


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def secretsctl(*args: str) -> Result:
    """Run the CLI in-process, as a user would from a shell."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


LEGACY_NOTICE = "is in the legacy form"


def without_legacy_notice(result: Result) -> Result:
    """`result` with the one legacy-form notice taken out of stderr (the example stacks
    these tests copy are in the legacy form): there is never more than one."""
    lines = result.stderr.splitlines(keepends=True)
    notices = [line for line in lines if LEGACY_NOTICE in line]
    assert len(notices) <= 1, "more than one legacy notice in one command run"
    rest = "".join(line for line in lines if LEGACY_NOTICE not in line)
    return Result(result.exit_code, result.stdout, rest)


def bytecode_settings() -> dict[str, str]:
    """Where Python keeps bytecode, for a child process given an environment of its own:
    `make test` points every process at one cache (.venv/pycache), so a fresh clone compiles
    pulumi once, not again in the first CLI process a test starts."""
    names = ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
    return {name: os.environ[name] for name in names if name in os.environ}


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """`git -C repo ARGS` as the test identity; `env` replaces the environment (dates)."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout


class Repo:
    """A git repo with stacks/ copied from the project; edits never touch the real files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "stacks").mkdir(parents=True)
        for path in (PROJECT_ROOT / "tests" / "fixtures" / "stacks").glob("Pulumi.*.yaml"):
            shutil.copy(path, root / "stacks" / path.name)
        git(root, "init", "-q", "-b", "main")
        self.commit("base")

    def path(self, stack: str) -> Path:
        return self.root / "stacks" / f"Pulumi.{stack}.yaml"

    def read(self, stack: str) -> str:
        return self.path(stack).read_text()

    def write(self, stack: str, text: str) -> None:
        self.path(stack).write_text(text)

    def sub(self, stack: str, pattern: str, replacement: str, count: int = 1) -> None:
        """Edit one stack file with a regex that must match."""
        text, n = re.subn(pattern, replacement, self.read(stack), count=count, flags=re.M)
        assert n, f"{pattern!r} not found in {stack}"
        self.write(stack, text)

    def add_value(self, stack: str, key: str, ciphertext: str = CANARY_CIPHERTEXT) -> None:
        """Add a `secure:` value key (as `pulumi config set --secret` would)."""
        self.write(stack, self.read(stack) + f"  secrets-store:{key}:\n    secure: {ciphertext}\n")

    def set_api_key(self, stack: str, block: str) -> None:
        """Replace the position lines (current/next/stage) of `api_key` in a stack file."""
        self.set_position(stack, "api_key", block)

    def entry(self, stack: str, name: str) -> tuple[int, int]:
        """(start, end) of the entry `name` of `secrets` or `workers` (4-space key) in a file."""
        text = self.read(stack)
        found = re.search(rf"^    {re.escape(name)}:.*\n", text, flags=re.M)
        assert found, f"no entry {name!r} in {stack}"
        end = found.end()
        for line in text[end:].splitlines(keepends=True):
            if line.strip() and len(line) - len(line.lstrip(" ")) <= 4:
                break
            end += len(line)
        return found.start(), end

    def set_position(self, stack: str, secret: str, block: str) -> None:
        """Replace the position lines (current/next/stage) of one secret in a stack file."""
        text = self.read(stack)
        start, end = self.entry(stack, secret)
        lines = [
            line
            for line in text[start:end].splitlines(keepends=True)
            if not re.match(r"\s+(current|next|stage):", line)
        ]
        lines.insert(2, "".join(f"      {line}\n" for line in block.strip().splitlines()))
        self.write(stack, text[:start] + "".join(lines) + text[end:])

    def add_setting(self, stack: str, name: str, line: str) -> None:
        """Add one `key: value` line at the end of a secret's or worker's entry."""
        text = self.read(stack)
        _, end = self.entry(stack, name)
        self.write(stack, text[:end] + f"      {line}\n" + text[end:])

    def remove(self, stack: str, name: str) -> None:
        """Remove a secret's or worker's whole entry."""
        text = self.read(stack)
        start, end = self.entry(stack, name)
        self.write(stack, text[:start] + text[end:])

    def clear(self, stack: str, key: str) -> None:
        """Empty one `secrets-store:` mapping (`secrets`, `workers`): `key: {}`."""
        block = rf"^  secrets-store:{key}:\n(?:(?:   .*)?\n)*"  # its lines, indented deeper
        self.sub(stack, block, f"  secrets-store:{key}: {{}}\n")

    def reencrypt(self, stack: str) -> list[str]:
        """Give every `secure:` value a new ciphertext, as `pulumi stack
        change-secrets-provider` does (fake ones: the tools never decrypt); returns them."""
        fresh: list[str] = []

        def new(match: re.Match[str]) -> str:
            fresh.append(f"v1:bmV3cHJvdmlkZXI=:cmVlbmNyeXB0ZWQt{len(fresh):04d}")
            return f"{match.group(1)}{fresh[-1]}"

        self.write(stack, re.sub(r"^(\s+secure:\s*)\S+", new, self.read(stack), flags=re.M))
        return fresh

    def add_generated_secrets(self, stack: str, count: int) -> None:
        """Declare `count` more steady `source: generate` secrets (bulk_0, bulk_1, ...)."""
        entries = "".join(
            f"    bulk_{i}:\n      kind: signing_key\n      source: generate\n"
            for i in range(count)
        )
        self.sub(stack, r"^  secrets-store:workers:\n", entries + "  secrets-store:workers:\n")

    def ciphertexts(self) -> set[str]:
        """Every `secure:` ciphertext the stack files hold now (no tool may print one)."""
        found = {CANARY_CIPHERTEXT}
        for path in (self.root / "stacks").glob("Pulumi.*.yaml"):
            found |= set(re.findall(r"^\s+secure:\s*(\S+)", path.read_text(), flags=re.M))
        return found

    def commit(self, message: str) -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)


class Project(Repo):
    """A Repo that is a whole Pulumi project: Pulumi.yaml, the program and the workers'
    modules copied too, so commands resolve module paths inside it (a bare Repo runs this
    checkout's program against this checkout's workers/)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_ROOT / name, root / name)
        (root / "workers").mkdir()
        for path in (PROJECT_ROOT / "workers").glob("*.js"):
            shutil.copy(path, root / "workers" / path.name)
        shutil.copytree(PROJECT_ROOT / "workers" / "lib", root / "workers" / "lib")
        super().__init__(root)
