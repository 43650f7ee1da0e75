"""`secretsctl rotate`, `promote`, `check` and `diff`: the rotation workflow.

Each rotation stage is one small pull request: `rotate` (or `promote`) edits one
stack file, `check` and `diff` review it offline, and the merge deploys it.
Exit codes: 0 ok, 2 refused or invalid input (one line per problem on stderr).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from secretsctl.console import EXIT_OK, RootOption, StackOption, exits, fail_invalid, out
from secretsctl.offline.stackfile import project_root

if TYPE_CHECKING:
    from secretsctl.workflow.rotate import Edit
BaseOption = Annotated[
    str, typer.Option("--base", help="Git ref of the pull request's base, e.g. origin/main.")
]
ReencryptedOption = Annotated[
    bool,
    typer.Option(
        "--reencrypted",
        help="Confirm every value encrypted with an encryption_key's old version was "
        "re-encrypted with the new one (required to finish that rotation).",
    ),
]


class DiffFormat(StrEnum):
    markdown = "markdown"
    json = "json"


def _print_edit(edit: Edit) -> None:
    from secretsctl.workflow.diff import render_diff_markdown

    for move in edit.moves:
        out.print(f"{edit.stack}: {move.describe()}", markup=False)
    out.print(
        f"Updated {edit.path}. The next `pulumi up --stack {edit.stack}` will change:\n",
        markup=False,
    )
    sys.stdout.flush()
    sys.stdout.write(render_diff_markdown(edit.diff))
    for note in edit.notes:
        out.print(f"Note: {note}", markup=False)


def _write_edit(edit: Edit) -> None:
    """Write a rotate/promote's file (every check has passed) and say what it changes."""
    if not edit.moves:
        out.print(
            f"{edit.stack}: already level with the stack it follows; nothing to promote.",
            markup=False,
        )
        raise typer.Exit(EXIT_OK)
    edit.path.write_text(edit.text)
    _print_edit(edit)


@exits
def rotate(
    secret: Annotated[str, typer.Argument(help="Secret to move one stage (e.g. api_key).")],
    stack: StackOption,
    next_version: Annotated[
        int | None, typer.Option("--next", help="New version when starting (default current+1).")
    ] = None,
    reencrypted: ReencryptedOption = False,
    root: RootOption = None,
) -> None:
    """Advance SECRET in one stack by exactly one stage, editing its stack file in place.

    steady → fallback (next = current + 1) → swapped → steady at the new version.
    A `source: config` secret needs the new version's value first: the command to set
    it is printed and nothing is edited (exit 2). Finishing an encryption_key needs
    --reencrypted. Prints what the next `pulumi up` will change.

    Example: secretsctl rotate api_key --stack dev
    """
    from secretsctl.workflow.rotate import rotate as do_rotate

    _write_edit(
        do_rotate(
            stack,
            secret,
            root or project_root(),
            next_version=next_version,
            reencrypted=reencrypted,
        )
    )


@exits
def promote(
    source: Annotated[str, typer.Option("--from", help="Stack that is ahead (e.g. dev).")],
    target: Annotated[str, typer.Option("--to", help="Stack that follows it (e.g. staging).")],
    secrets: Annotated[
        list[str] | None, typer.Argument(help="Secrets to move (default: all both declare).")
    ] = None,
    reencrypted: ReencryptedOption = False,
    root: RootOption = None,
) -> None:
    """Move the --to stack's rotations one stage toward the --from stack's, never past them.

    --to must name --from as its promotion.after. Exit 0 with nothing edited when the
    stacks are already level.

    Example: secretsctl promote --from dev --to staging api_key
    """
    from secretsctl.workflow.rotate import promote as do_promote

    _write_edit(
        do_promote(source, target, secrets or [], root or project_root(), reencrypted=reencrypted)
    )


@exits
def check(
    base: Annotated[
        str | None, typer.Option("--base", help="Git ref to compare with, e.g. origin/main.")
    ] = None,
    root: RootOption = None,
) -> None:
    """The offline pull-request gate over every stack file.

    Every config valid; no stack ahead of its promotion.after stack; with --base: no
    secret moved more than one stage, and no version deleted while a worker binds it.
    Exit 2 with one line per problem.

    Example: secretsctl check --base origin/main
    """
    from secretsctl.offline.stackfile import list_stacks
    from secretsctl.workflow.check import check_stacks

    root = root or project_root()
    lines = check_stacks(root, base)
    if lines:
        raise fail_invalid(lines)
    against = f" against {base}" if base else ""
    out.print(f"check: {len(list_stacks(root))} stacks OK{against}.", markup=False)


@exits
def diff(
    stack: StackOption,
    base: BaseOption,
    format: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="markdown for PR comments; json for tools.")
    ] = DiffFormat.markdown,
    root: RootOption = None,
) -> None:
    """What deploying the working tree's config changes, compared with the base ref's.

    Secret versions added and removed, each binding change per worker, and any
    resource that would be replaced (a normal rotation replaces none). No secret values.

    Example: secretsctl diff --stack dev --base origin/main --format markdown
    """
    from secretsctl.workflow.diff import render_diff_markdown, stack_diff

    document = stack_diff(stack, root or project_root(), base)
    if format is DiffFormat.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(render_diff_markdown(document))
