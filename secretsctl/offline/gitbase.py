"""Stack files as they were at a git ref (the pull request's base), read with `git show`."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from secrets_store.errors import Problem
from secrets_store.spec import shown
from secrets_store.topology import Topology, TopologyError, parse_topology, topology_path
from secrets_store.yamlfile import YamlFileError, parse_yaml
from secretsctl.errors import InvalidInput
from secretsctl.offline.project import project_at
from secretsctl.offline.references import Loader
from secretsctl.offline.stackfile import (
    StackConfig,
    StackFileError,
    load_stack_config,
    stack_file_name,
    stack_of,
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


def stacks_dir_at(root: Path, ref: str) -> Path:
    """The project's stack folder as of `ref`: its `stackConfigDir` then (a change that moves
    the folder is compared with the files where they were, never with an empty folder), the
    project folder when it set none, this one's when it had no project file or named a
    folder outside the project."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        raw = file_at(root, ref, root / name)
        if raw is None:
            continue
        try:  # the reader (and reading limits) of every project and stack file
            document = parse_yaml(root / name, raw.decode("utf-8"), "project file")
        except (UnicodeDecodeError, YamlFileError):
            break
        configured = document.get("stackConfigDir") if isinstance(document, dict) else None
        if configured is None:
            return root
        if isinstance(configured, str) and configured.strip():
            relative = os.path.normpath(configured)
            if not os.path.isabs(relative) and not relative.startswith(".."):
                return root / relative
        break
    return stack_path(root, "x").parent


def stack_file_at(root: Path, ref: str, stack: str, path: Path | None = None) -> bytes | None:
    """The bytes of the stack's file (`path`, default Pulumi.<stack>.yaml in the stack folder
    the project had at `ref`) at `ref`; None when the file is new since then.

    Bytes, not text: the loader decides what it accepts (a file that is not UTF-8 is one
    line naming its line and byte offset, as on disk), never a decoding error here."""
    stack_path(root, stack)  # refuses a name that is no stack name
    return file_at(root, ref, path or stacks_dir_at(root, ref) / stack_file_name(stack))


def file_at(root: Path, ref: str, path: Path) -> bytes | None:
    """The bytes of `path` (a file of the project at `root`) at `ref`; None when it did not
    exist then."""
    where = os.path.relpath(path, root).replace(os.sep, "/")
    spec = f"{ref}:./{where}"  # relative to the project folder, wherever the repository is
    if _git(root, "cat-file", "-e", spec).returncode != 0:
        return None
    result = subprocess.run(
        ["git", "-C", str(root), "show", spec], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise GitRefError(f"--base: cannot read {spec} (git show failed)")
    return result.stdout


def base_loader(
    root: Path,
    ref: str,
    files: Mapping[str, Path] | None = None,
    program_root: Path | None = None,
) -> Loader:
    """Stack configs as of `ref` (a stack missing there is None: a new stack). `files`: stacks
    read from another file than the project's (a --config-file). `program_root`: the project
    as of `ref` (`materialized`), whose program the configs then run: the base's program,
    not the working tree's."""

    topology = functools.cache(lambda: topology_at(root, ref))
    base_project = functools.cache(lambda: project_at(program_root) if program_root else None)

    def load(stack: str) -> StackConfig | None:
        given = (files or {}).get(stack)
        path = given or stack_path(root, stack)  # the config's name: where it lives now
        raw = stack_file_at(root, ref, stack, given)
        if raw is None:
            return None
        try:
            config = load_stack_config(stack, path, text=raw, topology=topology())
        except StackFileError as exc:  # say which side: the file at the ref, not on disk
            raise StackFileError([f"--base {ref}: {line}" for line in exc.lines]) from None
        project = base_project()
        return dataclasses.replace(config, project=project) if project is not None else config

    return load


@contextlib.contextmanager
def materialized(root: Path, ref: str) -> Iterator[Path | None]:
    """The project folder `root` as of git ref `ref`, in a temporary folder (its program,
    modules and Workers, as committed), removed after; None when `root` is not a project
    folder of the repository there. What `diff --base` plans the base with: a renamed
    component or a changed Worker module is a change of the program, not of a config."""
    with (
        tempfile.TemporaryDirectory(prefix="secretsctl-base-") as folder,
        tempfile.TemporaryFile() as errors,  # a file, not a pipe: git never waits on it
    ):
        # Streamed from git into the folder: a repository's size never sits in memory.
        archive = subprocess.Popen(
            ["git", "-C", str(root), "archive", "--format=tar", f"{ref}:./"],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert archive.stdout is not None
        try:
            with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
                tar.extractall(folder, filter=_inside_only)
        except tarfile.ReadError:
            pass  # nothing archived (no such tree at the ref): checked below
        finally:
            # tarfile stops at the end-of-archive blocks; git still writes the record's
            # padding after them. Closing first would kill git with SIGPIPE (exit -13), and
            # the base would then look like no project: read it to the end.
            while archive.stdout.read(1 << 16):
                pass
            archive.stdout.close()
        if archive.wait() != 0:
            errors.seek(0)
            said = errors.read(4096).decode(errors="replace").strip().splitlines()
            if archive.returncode > 0 and any("not a valid object name" in s for s in said):
                yield None  # the project's folder did not exist at the ref
                return
            # Anything else (a signal, a broken repository) must not pass as "no project
            # there": the gate would plan the base with the head's program.
            raise InvalidInput(
                f"--base {ref}: git archive of the base failed, got exit {archive.returncode}"
                f"{': ' + shown(said[-1][:200]) if said else ''} (the program at the base "
                "cannot be compared: rerun, or check the repository with `git fsck`)"
            )
        base = Path(folder)
        yield base if any((base / n).is_file() for n in ("Pulumi.yaml", "Pulumi.yml")) else None


def _inside_only(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's `data` filter, a member it refuses (a link out of the tree, an absolute
    path) left out rather than ending the run: the base's program then reads what is there."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def stacks_at(root: Path, ref: str) -> list[str]:
    """Stack names with a file in the project's stacks folder at `ref`, sorted (none when it
    has no such folder).

    Read as bytes: a file name that is not UTF-8 must not stop the gate (it is shown
    escaped, never decoded strictly)."""
    folder = os.path.relpath(stacks_dir_at(root, ref), root).replace(os.sep, "/")
    folder = "" if folder == "." else folder
    result = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "-z", "--name-only", f"{ref}:./{folder}"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return []
    names = (os.fsdecode(n) for n in result.stdout.split(b"\0") if n)
    return sorted(s for s in map(stack_of, names) if s)


def topology_at(root: Path, ref: str) -> Topology | None:
    """The project's `secrets-store.yaml` as it was at `ref` (None: none then). A stack file
    at the base means what it meant with the base's topology: a change to the topology is a
    change the gate compares, like one to a stack file."""
    project = project_at(root)
    if project.file is None:
        return None  # a bare folder of stack files: the legacy form only
    path = topology_path(project.root)
    raw = file_at(root, ref, path)
    if raw is None:
        return None
    try:
        return parse_topology(path, raw)
    except TopologyError as exc:  # say which side: the file at the ref, not on disk
        raise TopologyError(
            [Problem(f"--base {ref}: {p.key}", p.message) for p in exc.problems]
        ) from None
