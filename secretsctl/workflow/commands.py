"""`secretsctl rotate`, `promote`, `check` and `diff`: the rotation workflow.

Each rotation stage is one small pull request: `rotate` (or `promote`) edits one
stack file, `check` and `diff` review it offline, and the merge deploys it.
Exit codes: 0 ok, 2 refused or invalid input (one line per problem on stderr).

`rotate` and `promote` hold the stacks folder's edit lock from reading the file to
writing it, and write atomically (see `secretsctl.workflow.rotate.write_edit`): two runs
at once both land, one after the other, and a crash leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from secrets_store.spec import MAX_VERSION
from secretsctl.console import (
    ConfigFileOption,
    CwdOption,
    RootOption,
    StackOption,
    err,
    exits,
    fail_invalid,
    out,
    project_of,
)
from secretsctl.offline.stackfile import StackFileError, load_stack_config, stack_path

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
    text = "text"


class EditFormat(StrEnum):
    text = "text"
    markdown = "markdown"


EditFormatOption = Annotated[
    EditFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="text: tables (the default on a terminal); markdown: for pull requests and CI "
        "(the default otherwise).",
        show_default=False,
    ),
]


def _as_text(format: EditFormat | None) -> bool:
    """Tables for a person at a terminal; markdown in CI and when piped, unless asked."""
    if format is not None:
        return format is EditFormat.text
    return out.is_terminal and not os.environ.get("CI")


def _print_edit(edit: Edit, text: bool = False) -> None:
    from secretsctl.workflow.diff import render_diff_markdown, render_diff_text
    from secretsctl.workflow.render import text_table

    if text:
        rows = [[m.secret, m.before.describe(), m.after.describe()] for m in edit.moves]
        out.print(text_table(f"{edit.stack}: one stage", ["secret", "before", "after"], rows))
        out.print(
            f"Updated {edit.path}. The next `pulumi up --stack {edit.stack}` will change:",
            markup=False,
        )
        render_diff_text(edit.diff, out)
    else:
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


def _write_edit(edit: Edit) -> bool:
    """Write a rotate/promote's file (every check has passed); False when nothing moves."""
    from secretsctl.workflow.rotate import write_edit

    if not edit.moves:
        return False
    write_edit(edit)
    return True


def _report(edit: Edit, text: bool = False) -> None:
    """Say what a written edit changes (after the lock is released)."""
    if not edit.moves:
        out.print(
            f"{edit.stack}: already level with the stack it follows; nothing to promote.",
            markup=False,
        )
    else:
        _print_edit(edit, text)
    _environment_note(edit.stack, edit.path)


def _environment_notes(root: Path, stacks: Iterable[str]) -> None:
    """One line on stderr per stack file importing ESC environments (values it cannot see)."""
    for stack in stacks:
        _environment_note(stack, stack_path(root, stack))


def _environment_note(stack: str, path: Path) -> None:
    try:
        note = load_stack_config(stack, path).environment_note()
    except StackFileError:
        return
    if note:
        err.print(note, markup=False)


@exits
def rotate(
    secret: Annotated[str, typer.Argument(help="Secret to move one stage (e.g. api_key).")],
    stack: Annotated[
        list[str] | None,
        typer.Option(
            "--stack",
            "-s",
            help="Stack name (stacks/Pulumi.<stack>.yaml). With --emergency: repeatable, "
            "default every stack that declares SECRET.",
            show_default=False,
        ),
    ] = None,
    next_version: Annotated[
        int | None,
        typer.Option(
            "--next",
            min=2,
            max=MAX_VERSION,
            help="New version when starting (default current+1; at most 2^53-1).",
        ),
    ] = None,
    reencrypted: ReencryptedOption = False,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="A leaked key: every stack at once, to the kind's emergency position "
            "(README, 'A leaked key'). Needs --reason.",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="With --emergency: why (one line, e.g. the incident)."),
    ] = None,
    format: EditFormatOption = None,
    config_file: ConfigFileOption = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Advance SECRET in one stack by exactly one stage, editing its stack file in place.

    steady → fallback (next = current + 1) → swapped → steady at the new version.
    A `source: config` secret needs the new version's value first: the command to set
    it is printed and nothing is edited (exit 2). Finishing an encryption_key needs
    --reencrypted. Prints what the next `pulumi up` will change.

    --emergency --reason TEXT (a leaked key): every stack that declares SECRET moves in
    one change, api_key and signing_key straight to steady at the new version, an
    encryption_key to swapped (finish it with --emergency --reencrypted once every value
    is re-encrypted). Each file records `emergency: {reason, at}`, which `check` requires.

    Example: secretsctl rotate api_key --stack dev

    Example: secretsctl rotate jwt_key --emergency --reason "INC-42: key in a CI log"
    """
    from secretsctl.workflow.rotate import emergency_rotate, stack_lock
    from secretsctl.workflow.rotate import rotate as do_rotate

    project = project_of(cwd, root)
    if emergency or reason is not None:
        if not emergency or not reason:
            raise fail_invalid(
                [
                    "--reason: an emergency rotation needs both --emergency and --reason, got "
                    f"{'--emergency' if emergency else '--reason'} alone (pass both: "
                    '--emergency --reason "why")'
                ]
            )
        with stack_lock(project.stacks_dir):
            edits = emergency_rotate(
                secret,
                project.root,
                reason,
                stacks=stack or (),
                reencrypted=reencrypted,
                next_version=next_version,
            )
            for edit in edits:
                _write_edit(edit)
        for edit in edits:
            if edit.moves:
                _print_edit(edit, _as_text(format))
            for note in edit.notes if not edit.moves else ():
                out.print(f"{edit.stack}: {note}", markup=False)
        _environment_notes(project.root, [e.stack for e in edits])
        return
    if not stack or len(stack) > 1:
        raise fail_invalid(
            [
                f"--stack: name exactly one stack, got {len(stack or [])} (pass --stack NAME; "
                "several only with --emergency)"
            ]
        )
    stack_name = stack[0]
    folder = config_file.parent if config_file is not None else project.stacks_dir
    with stack_lock(folder):  # from the read to the write: no edit is ever lost
        edit = do_rotate(
            stack_name,
            secret,
            project.root,
            next_version=next_version,
            reencrypted=reencrypted,
            config_file=config_file,
        )
        _write_edit(edit)
    _report(edit, _as_text(format))


@exits
def promote(
    source: Annotated[str, typer.Option("--from", help="Stack that is ahead (e.g. dev).")],
    target: Annotated[str, typer.Option("--to", help="Stack that follows it (e.g. staging).")],
    secrets: Annotated[
        list[str] | None, typer.Argument(help="Secrets to move (default: all both declare).")
    ] = None,
    reencrypted: ReencryptedOption = False,
    format: EditFormatOption = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Move the --to stack's rotations one stage toward the --from stack's, never past them.

    --to must name --from as its promotion.after. Exit 0 with nothing edited when the
    stacks are already level.

    Example: secretsctl promote --from dev --to staging api_key
    """
    from secretsctl.workflow.rotate import promote as do_promote
    from secretsctl.workflow.rotate import stack_lock

    project = project_of(cwd, root)
    with stack_lock(project.stacks_dir):  # from the read to the write: no edit is ever lost
        edit = do_promote(source, target, secrets or [], project.root, reencrypted=reencrypted)
        _write_edit(edit)
    _report(edit, _as_text(format))


@exits
def check(
    base: Annotated[
        str | None, typer.Option("--base", help="Git ref to compare with, e.g. origin/main.")
    ] = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """The offline pull-request gate over every stack file.

    Every config valid; no stack ahead of its promotion.after stack; no two stacks of one
    account managing the same names or more than 100 live secrets together. With --base:
    no secret moved more than one stage, no version deleted while a worker binds it, no
    live value changed in place, no encryption_key finished without `reencrypted` or
    removed without being retired, no bound secret removed, renamed or switched, no kind
    changed on a secret that is bound or has a live version (declare a new secret under a
    new name instead), no `workers` dropped from the scopes of a bound secret.

    A stack file may be deleted only once its stack is retired: the base declares no
    workers and no secrets (remove them in changes this check passes, and deploy them).
    A renamed file is a deletion plus a new stack, and is refused the same way.

    A secrets-provider change (only the provider keys and every `secure:` ciphertext
    differ) is accepted with a note. Warnings (exit stays 0): a kind change to or from a
    key kind; two different placeholder accounts whose stacks would collide as one.
    Exit 2 with one line per problem.

    Example: secretsctl check --base origin/main
    """
    from secretsctl.offline.gitbase import stacks_at
    from secretsctl.offline.stackfile import list_stacks
    from secretsctl.workflow.check import check_stacks

    project = project_of(cwd, root)
    found = check_stacks(project.root, base)
    for notice in found.notices:
        err.print(notice, markup=False)
    if found.problems:
        raise fail_invalid(found.problems)
    against = f" against {base}" if base else ""
    stacks = list_stacks(project.root)
    if not stacks and not (base and stacks_at(project.root, base)):
        # A gate that found nothing to check has passed nothing (a moved or empty folder).
        folder = project.stacks_label() or "the project folder"
        raise fail_invalid(
            [
                f"stackConfigDir: no stack file (Pulumi.<stack>.yaml) in {folder}, got nothing "
                "to check (point stackConfigDir at the stack files, or create one: "
                "`secretsctl init --stack dev --account-id <id>`)"
            ]
        )
    out.print(f"check: {len(stacks)} stacks OK{against}.", markup=False)
    _environment_notes(project.root, stacks)


@exits
def diff(
    stack: StackOption,
    base: BaseOption,
    format: Annotated[
        DiffFormat,
        typer.Option(
            "--format", "-f", help="markdown for PR comments; json for tools; text for people."
        ),
    ] = DiffFormat.markdown,
    config_file: ConfigFileOption = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """What deploying the working tree's config changes, compared with the base ref's.

    Secret versions added and removed, each binding change per worker, and any
    resource that would be replaced (a normal rotation replaces none). No secret values.

    Example: secretsctl diff --stack dev --base origin/main --format markdown
    """
    from secretsctl.workflow.diff import render_diff_markdown, render_diff_text, stack_diff

    project = project_of(cwd, root)
    document = stack_diff(stack, project.root, base, config_file)
    if format is DiffFormat.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif format is DiffFormat.text:
        render_diff_text(document, out)
    else:
        sys.stdout.write(render_diff_markdown(document))
    _environment_note(stack, config_file or stack_path(project.root, stack))


@exits
def migrate(
    cwd: Annotated[
        Path | None,
        typer.Option(
            "--cwd",
            help="Run in this folder instead of the working directory (the project is the "
            "nearest folder with Pulumi.yaml).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
) -> None:
    """Rewrite the stack files into the topology-once form, losslessly.

    What every stack declares alike moves to secrets-store.yaml next to Pulumi.yaml; what
    differs stays in each stack file as an explicit override (`plan` lists them); rotation
    positions move to secrets-store:rotation. Comments and secure values are kept; a second
    run changes nothing. Refuses, naming the keys, what it cannot express (a setting that is
    a mapping in one stack and not in another).

    Example: secretsctl migrate --dry-run
    """
    from secretsctl import notices
    from secretsctl.workflow.migrate import migrate as do_migrate

    notices.silence()
    root = project_of(cwd, None).root
    rewrites = do_migrate(root, dry_run=dry_run)
    if not rewrites:
        out.print(
            f"migrate: nothing to change: {root} is already in the topology-once form.",
            markup=False,
        )
        return
    for rewrite in rewrites:
        if dry_run:
            sys.stdout.write(rewrite.diff())
        else:
            verb = "wrote" if rewrite.before is not None else "created"
            out.print(f"migrate: {verb} {rewrite.path.relative_to(root)}", markup=False)
    if dry_run:
        out.print(f"migrate: --dry-run: {len(rewrites)} file(s) would change.", markup=False)
