"""Stack files as they were at a git ref (the pull request's base), read with `git show`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from secretsctl.errors import InvalidInput
from secretsctl.offline.references import Loader
from secretsctl.offline.stackfile import (
    STACKS_DIR,
    StackConfig,
    StackFileError,
    load_stack_config,
    stack_file_name,
    stack_path,
)


class GitRefError(InvalidInput):
    """The base ref cannot be read: not a git repository, or no such commit."""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def verify_ref(root: Path, ref: str) -> str:
    """The commit `ref` names; raises `GitRefError` with the fix when there is none."""
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise GitRefError(
            f"--base: no such git commit, got {ref!r} in {root} "
            "(fetch it first, for example `git fetch origin main`, or pass another ref)"
        )
    return result.stdout.strip()


def stack_file_at(root: Path, ref: str, stack: str) -> bytes | None:
    """The bytes of stacks/Pulumi.<stack>.yaml at `ref`; None when the file is new since then.

    Bytes, not text: the loader decides what it accepts (a file that is not UTF-8 is one
    line naming its line and byte offset, as on disk), never a decoding error here."""
    spec = f"{ref}:{STACKS_DIR}/{stack_file_name(stack)}"
    if _git(root, "cat-file", "-e", spec).returncode != 0:
        return None
    result = subprocess.run(
        ["git", "-C", str(root), "show", spec], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise GitRefError(f"--base: cannot read {spec} (git show failed)")
    return result.stdout


def base_loader(root: Path, ref: str) -> Loader:
    """Stack configs as of `ref` (a stack missing there is None: a new stack)."""

    def load(stack: str) -> StackConfig | None:
        raw = stack_file_at(root, ref, stack)
        if raw is None:
            return None
        try:
            return load_stack_config(stack, stack_path(root, stack), text=raw)
        except StackFileError as exc:  # say which side: the file at the ref, not on disk
            raise StackFileError([f"--base {ref}: {line}" for line in exc.lines]) from None

    return load
