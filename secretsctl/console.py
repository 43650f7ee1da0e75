"""Terminal output, exit codes and the one mapping from errors to exit codes.

Exit codes mean one thing each: 0 ok, 1 a failure was found, 2 invalid input
(config, flags, files, refused edits), with one line per problem on stderr and
nothing on stdout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from typer.core import TyperOption

from secrets_store.errors import SpecError
from secretsctl.errors import InvalidInput

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
        from secretsctl.offline.stackfile import legacy_notice_once

        try:
            with legacy_notice_once():
                return command(*args, **kwargs)
        except (SpecError, InvalidInput) as exc:
            raise fail_invalid(problem_lines(exc)) from None

    return run


class Format(StrEnum):
    json = "json"
    text = "text"
    markdown = "markdown"


StackOption = Annotated[
    str, typer.Option("--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml).")
]
ConfigFileOption = Annotated[
    Path | None, typer.Option(help="Stack file to read instead of stacks/Pulumi.<stack>.yaml.")
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Pulumi project holding stacks/ (default: the nearest folder with Pulumi.yaml).",
        show_default=False,
    ),
]


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
