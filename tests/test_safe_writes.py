"""`rotate` and `promote` never corrupt a stack file and never lose an edit.

They write atomically (temporary file in the same folder, fsync, rename, mode kept),
hold the stacks folder's lock from reading the file to writing it, refuse to write over
a file that changed since they read it, keep the file's BOM, line endings and final
newline, and refuse to edit an entry shared with other secrets through YAML anchors.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from secrets_store.rotation import Position
from secretsctl.offline.stackfile import load_stack_config
from secretsctl.workflow import rotate as rotate_module
from tests.process_support import CliProcess
from tests.workflow_support import CANARY_CIPHERTEXT, Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def rotate(repo: Repo, secret: str, stack: str = "dev"):
    return secretsctl("rotate", secret, "--stack", stack, "--root", str(repo.root))


def positions(repo: Repo, stack: str = "dev") -> dict[str, Position]:
    return dict(load_stack_config(stack, repo.path(stack)).positions)


def leftovers(repo: Repo) -> list[str]:
    """Files in stacks/ other than the stack files themselves (temporary files left over)."""
    return sorted(p.name for p in (repo.root / "stacks").iterdir() if p.suffix != ".yaml")


def assert_clean_refusal(result, *words: str) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0]
    assert CANARY_CIPHERTEXT not in result.output


# ---- line endings, BOM, final newline ---------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
@pytest.mark.parametrize("final_newline", [True, False], ids=["newline", "no-final-newline"])
def test_a_rotation_changes_one_line_and_keeps_bom_line_endings_and_final_newline(
    repo, crlf, bom, final_newline
):
    text = repo.read("dev")
    if not final_newline:
        text = text.rstrip("\n")
    if crlf:
        text = text.replace("\n", "\r\n")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    repo.path("dev").write_bytes(data)

    result = rotate(repo, "api_key")

    assert result.exit_code == 0, result.stderr
    new = repo.path("dev").read_bytes()
    eol = b"\r\n" if crlf else b"\n"
    assert new == data.replace(b"      stage: fallback" + eol, b"      stage: swapped" + eol)
    assert new.startswith(b"\xef\xbb\xbf") == bom
    assert new.endswith(b"\n") == final_newline


def test_lines_a_rotation_adds_take_the_files_crlf_endings(repo):
    repo.add_value("staging", "api_key_v2")
    data = repo.read("staging").replace("\n", "\r\n").encode()
    repo.path("staging").write_bytes(data)

    result = rotate(repo, "api_key", "staging")

    assert result.exit_code == 0, result.stderr
    new = repo.path("staging").read_bytes()
    assert b"      next: 2\r\n      stage: fallback\r\n" in new
    assert new.count(b"\n") == new.count(b"\r\n")


def test_a_block_sequence_keeps_its_indentation(repo):
    # Pulumi ESC writes `environment:` as an indented block sequence.
    repo.write("dev", "environment:\n  - secrets-store/dev\n" + repo.read("dev"))
    before = repo.read("dev")

    result = rotate(repo, "api_key")

    assert result.exit_code == 0, result.stderr
    assert repo.read("dev") == before.replace("stage: fallback", "stage: swapped", 1)


# ---- atomic replacement ------------------------------------------------------------------------


def test_the_files_permissions_are_kept(repo):
    repo.path("dev").chmod(0o640)
    assert rotate(repo, "api_key").exit_code == 0
    assert stat.S_IMODE(repo.path("dev").stat().st_mode) == 0o640


def test_a_symlinked_stack_file_stays_a_symlink_and_its_target_is_edited(repo, tmp_path):
    target = tmp_path / "elsewhere.yaml"
    target.write_text(repo.read("dev"))
    repo.path("dev").unlink()
    repo.path("dev").symlink_to(target)

    assert rotate(repo, "api_key").exit_code == 0

    assert repo.path("dev").is_symlink()
    assert "stage: swapped" in target.read_text()


@pytest.mark.parametrize("failing", ["replace", "write", "fsync", "fchmod"])
def test_a_failing_write_leaves_the_file_whole_and_no_temporary_file(repo, monkeypatch, failing):
    before = repo.path("dev").read_bytes()
    real = getattr(os, failing)
    calls = []

    def fault(*args, **kwargs):
        calls.append(args)
        if failing == "write" and len(calls) == 1:
            # Half the bytes land, then the disk is full.
            fd, data = args
            real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rotate_module.os, failing, fault)
    result = rotate(repo, "api_key")

    assert calls, f"os.{failing} was never called"
    assert_clean_refusal(result, "could not write", "unchanged", "OSError")
    assert repo.path("dev").read_bytes() == before
    assert leftovers(repo) == []


ROTATE_DEV_API_KEY = ["rotate", "api_key", "--stack", "dev", "--root"]


def stall_in_child(mark: Path, stall_in: str) -> Callable[[], None]:
    """Planted in the rotate process: its `os.<stall_in>` of the new stack file's temporary
    file (half written, for `write`) records the file's path in `mark`, then hangs."""
    real = getattr(os, stall_in)

    def stall(fd: int, *rest: Any) -> Any:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if ".Pulumi.dev.yaml." not in target:  # only the new stack file's temporary file
            return real(fd, *rest)
        if stall_in == "write":  # half the new file is written, then the process stops
            real(fd, bytes(rest[0][: len(rest[0]) // 2]))
        mark.write_text(target)
        time.sleep(120)

    return lambda: setattr(os, stall_in, stall)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to find the file")
@pytest.mark.parametrize("stall_in", ["write", "fsync"], ids=["mid-write", "before-rename"])
def test_a_process_killed_mid_write_leaves_the_old_file_whole(repo, tmp_path, stall_in):
    # GIVEN a real rotate process stopped in the middle of writing the new file
    before = repo.path("dev").read_bytes()
    mark = tmp_path / "mark"
    process = CliProcess(
        [*ROTATE_DEV_API_KEY, str(repo.root)], tmp_path, prepare=stall_in_child(mark, stall_in)
    )
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert process.poll() is None, f"the rotate ended before it wrote: {process.stderr}"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # WHEN it is killed
    finally:
        process.kill()
    # THEN it was stopped writing the temporary file next to the stack file
    temporary = Path(mark.read_text())
    assert temporary.parent == repo.path("dev").parent
    assert temporary.name.startswith(".Pulumi.dev.yaml.")
    # AND the stack file is the old one, byte for byte, and every tool still reads it
    assert repo.path("dev").read_bytes() == before
    check = secretsctl("check", "--root", str(repo.root))
    assert check.exit_code == 0, check.stderr
    # AND the temporary copy is still there (a SIGKILL runs no cleanup)
    assert temporary.is_file()
    # AND the lock died with the process: the next rotate runs and lands, and removes the
    # copy (it held the whole file, secure: values included), saying so
    result = rotate(repo, "api_key")
    assert result.exit_code == 0, result.stderr
    assert positions(repo)["api_key"] == Position(1, "swapped", 2)
    assert not temporary.exists()
    assert f"removed {temporary}: a temporary copy a killed write left behind" in result.stderr
    assert not list(repo.path("dev").parent.glob(".Pulumi.*.tmp"))


# ---- the lock: concurrent runs never lose an edit --------------------------------------------


def run_cli(repo: Repo, *args: str) -> CliProcess:
    """A separate `secretsctl` process (forked: see tests/process_support.py)."""
    return CliProcess([*args, "--root", str(repo.root)], repo.root.parent)


def test_concurrent_rotations_of_one_file_all_land(repo):
    # GIVEN four processes rotating four secrets of the same stack file at once
    before = positions(repo)
    secrets = ["api_key", "hmac_key", "jwt_key", "vault_key"]
    processes = [run_cli(repo, "rotate", s, "--stack", "dev") for s in secrets]
    results = [(p.wait(timeout=300), p.stdout, p.stderr) for p in processes]
    # THEN each waited its turn and every edit is in the file
    assert [code for code, _out, _err in results] == [0, 0, 0, 0], results
    after = positions(repo)
    assert after == {**before, **{s: before[s].advance() for s in secrets}}


def test_two_concurrent_rotations_of_one_secret_land_one_after_the_other(repo):
    first, second = (run_cli(repo, "rotate", "api_key", "--stack", "dev") for _ in range(2))
    codes = [first.wait(timeout=300), second.wait(timeout=300)]
    # The second read the first one's result: fallback -> swapped -> finished, nothing lost.
    assert codes == [0, 0], (first.stderr, second.stderr)
    assert positions(repo)["api_key"] == Position(2)


def test_a_rotate_that_cannot_get_the_lock_in_time_refuses_and_edits_nothing(repo, monkeypatch):
    before = repo.path("dev").read_bytes()
    monkeypatch.setattr(rotate_module, "LOCK_TIMEOUT_S", 0.3)
    holder = os.open(repo.root / "stacks", os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another rotate, mid-edit
        result = rotate(repo, "api_key")
    finally:
        os.close(holder)
    assert_clean_refusal(result, "another rotate or promote", "run this again")
    assert repo.path("dev").read_bytes() == before


def test_a_file_changed_behind_the_locks_back_is_not_overwritten(repo, monkeypatch):
    # GIVEN an editor that ignores the lock and saves the file while rotate computes
    real_diff = rotate_module.diff_plans

    def save_meanwhile(*args, **kwargs):
        repo.write("dev", repo.read("dev").replace("kind: api_key", "kind: api_key # edited"))
        return real_diff(*args, **kwargs)

    monkeypatch.setattr(rotate_module, "diff_plans", save_meanwhile)
    result = rotate(repo, "api_key")
    # THEN rotate refuses and the other edit is kept
    assert_clean_refusal(result, "changed while this command ran", "run the command again")
    assert "kind: api_key # edited" in repo.read("dev")
    assert "stage: fallback" in repo.read("dev")


def test_promote_writes_through_the_same_safe_path(repo, monkeypatch):
    repo.add_value("staging", "api_key_v2")
    before = repo.path("staging").read_bytes()

    def fault(*_args):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(rotate_module.os, "replace", fault)
    result = secretsctl("promote", "--from", "dev", "--to", "staging", "--root", str(repo.root))
    assert_clean_refusal(result, "could not write", "unchanged")
    assert repo.path("staging").read_bytes() == before
    assert leftovers(repo) == []


# ---- anchors, aliases and merge keys -----------------------------------------------------------

API_KEY_BLOCK = re.compile(
    r"^    api_key:\n      kind: api_key\n      scopes: \[workers\]\n"
    r"      current: 1\n      next: 2\n      stage: fallback\n",
    re.M,
)


def set_api_key(repo: Repo, block: str) -> None:
    text, n = API_KEY_BLOCK.subn(block, repo.read("dev"))
    assert n == 1
    repo.write("dev", text)


def test_rotating_a_secret_whose_entry_is_aliased_by_another_is_refused(repo):
    repo.sub("dev", r"^    api_key:\n", "    api_key: &shared\n")
    repo.sub(
        "dev",
        r"^    db_config:\n      kind: json\n.*\n      current: 1\n",
        "    db_config: *shared\n",
    )
    before = repo.read("dev")

    result = rotate(repo, "api_key")

    assert_clean_refusal(result, "secrets.api_key", "db_config", "anchor")
    assert repo.read("dev") == before


def test_a_finish_whose_position_comes_from_a_merge_key_is_refused_not_a_crash(repo):
    # The merge-key finish raised KeyError: `next` cannot be deleted from an inherited key.
    set_api_key(
        repo,
        "    api_key:\n      <<: &pos {kind: api_key, current: 1, next: 2, stage: swapped}\n",
    )
    before = repo.read("dev")

    result = rotate(repo, "api_key")

    assert_clean_refusal(result, "secrets.api_key", "merge key", "inherited")
    assert repo.read("dev") == before


def test_rotating_a_secret_that_others_merge_from_is_refused(repo):
    repo.sub("dev", r"^    api_key:\n", "    api_key: &base\n")
    repo.sub("dev", r"^    hmac_key:\n", "    hmac_key:\n      <<: *base\n")
    before = positions(repo)

    result = rotate(repo, "api_key")

    assert_clean_refusal(result, "secrets.api_key", "hmac_key")
    assert positions(repo) == before


def test_a_secret_that_merges_settings_but_owns_its_position_rotates_alone(repo):
    # GIVEN api_key's kind and scopes merged from an anchor, its position written out
    set_api_key(
        repo,
        "    api_key:\n      <<: &settings {kind: api_key, scopes: [workers]}\n"
        "      current: 1\n      next: 2\n      stage: fallback\n",
    )
    before_text, before = repo.read("dev"), positions(repo)

    result = rotate(repo, "api_key")

    # THEN it moves, nothing else does, and the anchor line is kept byte for byte
    assert result.exit_code == 0, result.stderr
    assert positions(repo) == {**before, "api_key": Position(1, "swapped", 2)}
    assert repo.read("dev") == before_text.replace("stage: fallback", "stage: swapped", 1)


def test_an_aliased_version_number_is_refused(repo):
    set_api_key(
        repo,
        "    api_key:\n      kind: api_key\n      current: &one 1\n"
        "      next: 2\n      stage: fallback\n",
    )
    repo.sub("dev", r"(    vault_key:\n(?:.*\n)*?      current: )1", r"\1*one")
    before = positions(repo)

    result = rotate(repo, "api_key")

    assert_clean_refusal(result, "secrets.api_key.current", "vault_key")
    assert positions(repo) == before
