"""Terminal output, exit codes and the one mapping from errors to exit codes.

Exit codes mean one thing each: 0 ok, 1 a failure was found, 2 invalid input
(config, flags, files, refused edits), with one line per problem on stderr and
nothing on stdout.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from typer.core import TyperOption

from secrets_store.errors import SpecError
from secretsctl import notices
from secretsctl.errors import InvalidInput
from secretsctl.offline import runcache

if TYPE_CHECKING:
    from secretsctl.offline.project import Project

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def problem_lines(exc: SpecError | InvalidInput) -> list[str]:
    if isinstance(exc, SpecError):
        return [str(p) for p in exc.problems]
    return exc.lines


def fail_invalid(lines: Iterable[str]) -> typer.Exit:
    """Print one line per problem on stderr; the caller raises the returned Exit(2)."""
    for line in lines:
        err.print(line, markup=False)
    return typer.Exit(EXIT_INVALID)


P = ParamSpec("P")
R = TypeVar("R")


def exits(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command so that every invalid-input error ends as exit 2 with its lines."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # One command plans a stack file several times: identical runs run once.
        with notices.collected() as recorded, runcache.remembering_runs():
            try:
                result = command(*args, **kwargs)
            except (SpecError, InvalidInput) as exc:
                # Refused input: stderr holds one line per problem, and nothing else.
                raise fail_invalid(problem_lines(exc)) from None
            except typer.Exit as exit_:
                if exit_.exit_code != 2:
                    _print_notice(recorded)
                raise
            _print_notice(recorded)
            return result

    return run


class Format(StrEnum):
    json = "json"
    text = "text"
    markdown = "markdown"


# The project and stack options, the same on every command (like the Pulumi CLI's).
StackOption = Annotated[
    str,
    typer.Option(
        "--stack",
        "-s",
        help="Stack name (its file: Pulumi.<stack>.yaml in the project's stackConfigDir).",
    ),
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config-file",
        help="Stack file to read instead of the project's Pulumi.<stack>.yaml.",
        show_default=False,
    ),
]
CwdOption = Annotated[
    Path | None,
    typer.Option(
        "--cwd",
        "-C",
        help="Run as if started in DIR: the Pulumi project is the nearest Pulumi.yaml at or "
        "above it (default: the working directory).",
        show_default=False,
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        hidden=True,  # deprecated: --cwd; kept for scripts, with its old meaning
        help="Deprecated: use --cwd. The project folder itself (a folder of stacks/ without "
        "a Pulumi.yaml is read as this example's).",
        show_default=False,
    ),
]


def project_of(cwd: Path | None, root: Path | None) -> Project:
    """The project of a command's `--cwd` / `--root`; exit 2 in one line when there is none."""
    from secretsctl.offline.project import resolve_project

    return resolve_project(cwd, root)


def stack_project(cwd: Path | None, root: Path | None, config_file: Path | None) -> Project | None:
    """The project of a command given a `--config-file`: the one of `--cwd`/`--root` or the
    working directory, else (None) the one the file lies in."""
    from secretsctl.offline.project import ProjectError

    if config_file is None or cwd is not None or root is not None:
        return project_of(cwd, root)
    try:
        return project_of(None, None)
    except ProjectError:
        return None


def _flags_show_no_type() -> None:
    """Help shows `--json` alone, not `--json <bool>`: a flag takes no value to describe.

    Typer's rich help prints every option's type, flags included; this keeps the type
    column for options that take a value (`--stack TEXT`) and drops it for flags.
    """
    shows_type = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shows_type(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()


def _print_notice(notices: list[str | None]) -> None:
    """The one legacy-form notice of a command run, if it recorded one."""
    if notices and notices[0]:
        err.print(notices[0], markup=False)


def reflowed(doc: str | None) -> str | None:
    """A command's docstring for `--help`: each paragraph on one line (rich wraps it to the
    terminal), list items kept as items. Docstrings are wrapped at ~90 columns for the
    source; kept as they are, every line break would show on an 80-column terminal."""
    if doc is None:
        return None
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        items: list[str] = []
        for line in paragraph.splitlines():
            stripped = line.strip()
            if not items or stripped.startswith(("- ", "* ")) or line.startswith("\b"):
                items.append(stripped)
            else:
                items[-1] += " " + stripped
        paragraphs.append("\n".join(items))
    return "\n\n".join(paragraphs)
