"""`secretsctl`: offline plan, rotation workflow and local rehearsal for the secrets-store project.

Exit codes mean one thing each: 0 ok, 1 a failure was found, 2 invalid input.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from components.errors import SpecError
from secretsctl.stackfile import StackFileError

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


@app.callback()
def main() -> None:
    """Offline plan, rotation workflow and local rehearsal for Cloudflare Secrets Store stacks."""


class Format(StrEnum):
    json = "json"
    text = "text"
    markdown = "markdown"


def fail_invalid(problems: list[str]) -> typer.Exit:
    """Print one line per problem on stderr; the caller raises the returned Exit(2)."""
    for line in problems:
        err.print(line, markup=False)
    return typer.Exit(EXIT_INVALID)


StackOption = Annotated[
    str, typer.Option("--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml).")
]


@app.command()
def plan(
    stack: StackOption,
    config_file: Annotated[
        Path | None, typer.Option(help="Stack file to read instead of stacks/Pulumi.<stack>.yaml.")
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="json for tools; text or markdown for people.")
    ] = Format.text,
) -> None:
    """Show what `pulumi up` would register for a stack, offline, with no secret values.

    Runs the real __main__.py under Pulumi's mock runtime with the stack's config.
    A `secure:` value it cannot decrypt is a secret it never prints.

    Example: python -m secretsctl plan --stack dev --format json
    """
    from secretsctl.plan import plan_stack
    from secretsctl.render import render_plan_markdown, render_plan_text

    try:
        document = plan_stack(stack, config_file).document
    except SpecError as exc:
        raise fail_invalid([str(p) for p in exc.problems]) from None
    except StackFileError as exc:
        raise fail_invalid([str(exc)]) from None
    if format is Format.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif format is Format.markdown:
        sys.stdout.write(render_plan_markdown(document))
    else:
        render_plan_text(document, out)


# Command groups live in their own modules; importing them registers their commands.
from secretsctl import rehearse_cli, workflow_cli  # noqa: E402, F401
