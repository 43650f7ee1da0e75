"""The Pulumi project a command works on, found the way the Pulumi CLI finds it.

The nearest `Pulumi.yaml` (or `Pulumi.yml`) at or above the working directory (or
`--cwd DIR`); its `main:` (a `.py` file, or a folder holding `__main__.py`; default the
project folder's `__main__.py`) is the program the offline tools run, and its
`stackConfigDir` (default: the project folder) holds the stack files.

A folder with no Pulumi.yaml given as the deprecated `--root` keeps its old meaning: a
folder holding `stacks/`, planned with this checkout's own program (for copies of the
example stacks).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secrets_store.spec import shown
from secrets_store.yamlfile import YamlFileError, parse_yaml
from secretsctl.errors import InvalidInput

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""This checkout (or the installed package's folder): the example project's own program
lives here only in a checkout."""
LEGACY_STACKS_DIR = "stacks"
LEGACY_NAME = "secrets-store"
"""The example project's name: what a copy of its stacks without a Pulumi.yaml runs as."""
MAX_PROJECT_FILE_BYTES = 256 * 1024


class ProjectError(InvalidInput):
    """No project here, or a Pulumi.yaml the tools cannot use; one line naming the fix."""


@dataclass(frozen=True)
class Project:
    """One Pulumi project: where it is, its name, its program and its stack files."""

    root: Path
    name: str
    program: Path
    """The program `pulumi up` runs (it may not exist: `runnable_program` says so)."""
    stacks_dir: Path
    run_dir: Path | None = None
    """Where Pulumi runs the program: the `main:` folder, or the folder of a `main:` file;
    else the project folder."""
    file: Path | None = None
    """Its Pulumi.yaml; None for a bare folder of stack files given as `--root`."""
    imports_from_folder: bool = True
    """The program's folder is on its import path: Pulumi runs a folder (`runpy.run_path` of
    it puts it first on sys.path), but a `main:` file as a script, from which a module beside
    it cannot be imported."""
    runtime: str = "python"

    @property
    def working_dir(self) -> Path:
        return self.run_dir or self.root

    def stacks_label(self) -> str:
        """The stack files' folder as lines show it: relative to the project when inside."""
        try:
            relative = self.stacks_dir.relative_to(self.root)
        except ValueError:
            return str(self.stacks_dir)
        return "" if relative == Path(".") else relative.as_posix()

    def stack_label(self, file_name: str) -> str:
        folder = self.stacks_label()
        return f"{folder}/{file_name}" if folder else file_name

    def runnable_program(self) -> Path:
        """The program to run offline; `ProjectError` when there is none to run.

        A copy of the example project (its Pulumi.yaml, no `main:`, no program of its own)
        runs this checkout's program, as the stack files it holds were written for it."""
        where = self.file.name if self.file is not None else str(self.root)
        if self.runtime != "python":
            raise ProjectError(
                f"{where}: runtime: secretsctl runs Python programs, got {shown(self.runtime)} "
                "(the components are Python: use runtime: python)"
            )
        if self.program.is_file():
            return self.program
        example = SOURCE_ROOT / "__main__.py"
        if (self.file is None or self.run_dir is None) and example.is_file():
            return example
        raise ProjectError(
            f"{self.file or self.root}: main: no program to run, got no file "
            f"{self.program} (write it, or set main: in {PROJECT_FILES[0]} to your program file)"
        )


YAML_FRONT_END = "read_stack_spec("
"""What the YAML front end's program calls (secrets_store.config.read_stack_spec): a program
that does not declares its secrets in code."""


def declares_in_code(project: Project) -> bool:
    """The project's own program declares its secrets in code (it never reads the YAML front
    end's stack spec): its stack files hold the config contract only."""
    try:
        program = project.runnable_program()
        return YAML_FRONT_END not in program.read_text(encoding="utf-8", errors="replace")
    except (ProjectError, OSError):
        return False


def find_project(cwd: Path | None = None) -> Project:
    """The project at or above `cwd` (default: the working directory); `ProjectError`
    in one line when there is none."""
    here = (cwd or Path.cwd()).resolve()
    if cwd is not None and not here.is_dir():
        raise ProjectError(f"--cwd: no such folder, got {shown(str(cwd))} (pass a folder)")
    for folder in (here, *here.parents):
        found = project_file(folder)
        if found is not None:
            return read_project(found)
    raise ProjectError(
        f"{here}: not inside a Pulumi project, got no {PROJECT_FILES[0]} here or in any folder "
        "above (cd into your project, or pass --cwd DIR)"
    )


def project_at(root: Path) -> Project:
    """The project whose folder is `root` (no search upwards): its Pulumi.yaml, or, for a
    bare folder (the deprecated `--root` of a copy of the example stacks), `root/stacks`."""
    root = root.resolve()
    found = project_file(root)
    if found is not None:
        return read_project(found)
    return Project(
        root=root,
        name=LEGACY_NAME,
        program=SOURCE_ROOT / "__main__.py",
        stacks_dir=root / LEGACY_STACKS_DIR,
    )


def project_of_stack_file(path: Path) -> Project:
    """The project a stack file belongs to: the nearest Pulumi.yaml above it, else the
    example project (a scratch copy of a stack file)."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        found = project_file(candidate)
        if found is not None:
            return read_project(found)
    return project_at(folder) if folder.name != LEGACY_STACKS_DIR else project_at(folder.parent)


def resolve_project(cwd: Path | None = None, root: Path | None = None) -> Project:
    """The project of a command's `--cwd` / deprecated `--root` options (`--cwd` wins)."""
    if cwd is None and root is not None:
        return project_at(root)
    return find_project(cwd)


def project_file(folder: Path) -> Path | None:
    """`folder`'s Pulumi.yaml (or .yml), or None: is this folder a project's?"""
    for name in PROJECT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def read_project(file: Path) -> Project:
    """A Pulumi.yaml as a `Project`; `ProjectError` (one line) for one that cannot be used."""
    try:
        stat = file.stat()
    except OSError as exc:
        raise ProjectError(f"{file}: cannot read it, got {exc.__class__.__name__}") from None
    return _read_project(file, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _read_project(file: Path, _mtime: int, size: int) -> Project:
    if size > MAX_PROJECT_FILE_BYTES:
        raise ProjectError(
            f"{file}: too large for a project file, got {size:,} bytes "
            f"(at most {MAX_PROJECT_FILE_BYTES:,})"
        )
    try:
        text = file.read_bytes().decode("utf-8")
        document = parse_yaml(file, text, "project file")  # the stack files' reading limits
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(
            f"{file}: cannot read it, got {exc.__class__.__name__} (save it as UTF-8 text)"
        ) from None
    except YamlFileError as exc:
        raise ProjectError(str(exc)) from None
    if not isinstance(document, dict):
        raise ProjectError(
            f"{file}: must be a mapping with name: and runtime:, got "
            f"{type(document).__name__} (see Pulumi's project file reference)"
        )
    root = file.parent
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProjectError(f"{file}: name: is required, got {shown(name)} (name the project)")
    return Project(
        root=root,
        name=name,
        **_program(file, document.get("main")),
        stacks_dir=_stacks_dir(file, document.get("stackConfigDir")),
        file=file,
        runtime=_runtime(document.get("runtime")),
    )


def _program(file: Path, main: Any) -> dict[str, Any]:
    root = file.parent
    if main is None:
        return {"program": root / "__main__.py"}
    target = _inside(file, "main", _folder(file, "main", main))
    fix = "(point main: at the program's .py file, or a folder holding __main__.py)"
    # As the engine does (pkg/engine/project.go getPwdMain): a folder is the working
    # directory itself, a file runs from the folder that holds it.
    if target.is_dir():
        return {"program": target / "__main__.py", "run_dir": target}
    if target.exists() and (target.suffix != ".py" or not target.is_file()):
        # Never run as Python what is not a program (a text file, a FIFO, /proc/...).
        raise ProjectError(
            f"{file}: main: must be a Python file (.py) or a folder, got {shown(main)} {fix}"
        )
    return {"program": target, "run_dir": target.parent, "imports_from_folder": False}


def _stacks_dir(file: Path, configured: Any) -> Path:
    """`stackConfigDir`, else the project folder, as Pulumi does (`pulumi up` reads the stack
    file there, so the offline tools must too). It must stay inside the project: `rotate`
    and `promote` edit the files there."""
    root = file.parent
    if configured is not None:
        return _inside(file, "stackConfigDir", _folder(file, "stackConfigDir", configured))
    return root


def _folder(file: Path, key: str, value: Any) -> str:
    if value is None:
        return "."
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ProjectError(
            f"{file}: {key}: must be a path relative to the project folder, got {shown(value)}"
        )
    return value


def _inside(file: Path, key: str, relative: str) -> Path:
    """`relative` under the project folder, refused (one line naming `key`) when it is
    absolute, leaves the project (`..`, or a symlink to elsewhere once followed), or cannot
    be a path at all (too long). Returned unresolved: the project's own spelling."""
    root = file.parent
    fix = "(a path inside the project folder, relative to it)"
    if Path(relative).is_absolute():
        raise ProjectError(
            f"{file}: {key}: must be relative to the project, got {shown(relative)} {fix}"
        )
    target = root / relative
    try:
        resolved = target.resolve()
        resolved.exists()
    except (OSError, RuntimeError) as exc:  # ENAMETOOLONG, a symlink loop
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a symlink loop"
        raise ProjectError(f"{file}: {key}: cannot be a path here, got {reason} {fix}") from None
    if not resolved.is_relative_to(root.resolve()):
        raise ProjectError(
            f"{file}: {key}: must stay inside the project, got {shown(relative)}, which "
            f"resolves to {shown(str(resolved))} {fix}"
        )
    return target


def _runtime(value: Any) -> str:
    name = value.get("name") if isinstance(value, dict) else value
    return name if isinstance(name, str) else "python"
