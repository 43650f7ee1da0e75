"""`secretsctl due`, `history` and `bot`: rotation on a schedule.

`due` says which secrets are due and which rotations are stuck (exit 0 nothing, 1 some);
`history` draws each secret's versions and stages over time from git; `bot plan` and
`bot apply` are the decisions of the scheduled workflow (`.github/workflows/rotate.yml`).
"""

from __future__ import annotations

import datetime
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from secretsctl.console import (
    EXIT_FAILED,
    CwdOption,
    RootOption,
    exits,
    fail_invalid,
    out,
    project_of,
)

StacksOption = Annotated[
    list[str] | None,
    typer.Option("--stack", "-s", help="Stack to look at (repeatable; default: every stack)."),
]
TodayOption = Annotated[
    str | None,
    typer.Option(
        "--today", help="The day to count ages to, YYYY-MM-DD (default: today).", show_default=False
    ),
]
StuckOption = Annotated[
    int,
    typer.Option(
        "--stuck-after",
        min=0,
        help="Days a rotation stage may stay unmoved before it counts as stuck.",
    ),
]


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def parse_today(value: str | None) -> datetime.date:
    if value is None:
        return datetime.date.today()
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise fail_invalid(
            [f"--today: must be a date written YYYY-MM-DD, got {value!r} (for example 2026-01-31)"]
        ) from None


def _table(title: str, headers: list[str]) -> Table:
    from secretsctl.workflow.render import text_table

    return text_table(title, headers, [])


# ---- due ---------------------------------------------------------------------------------------


@exits
def due(
    stack: StacksOption = None,
    today: TodayOption = None,
    stuck_after: StuckOption = 7,
    format: Annotated[
        TextOrJson, typer.Option("--format", "-f", help="text for people, json for tools.")
    ] = TextOrJson.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """List secrets due for rotation (age at least rotateEvery) and stuck rotations.

    A secret's age counts from `since:` in its stack file or, when the file never recorded
    it, from the stack file's git history. A rotation is stuck when its stage has not
    moved for more than --stuck-after days. Each line ends in the exact next command
    (for a `source: config` secret, with the `pulumi config set --secret` of the new
    version). Exit 0 when nothing is due or stuck, 1 when something is.

    Example: secretsctl due --today 2026-12-31 --format json
    """
    from secretsctl.schedule.due import due_report

    day = parse_today(today)
    report = due_report(project_of(cwd, root).root, day, stack or (), stuck_after)
    if format is TextOrJson.json:
        sys.stdout.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        _render_due(report)
    if report.found:
        raise typer.Exit(EXIT_FAILED)


def _render_due(report: Any) -> None:
    out.print(
        f"[bold]Rotation due on {report.today.isoformat()}[/] "
        f"(stuck: a stage unmoved for more than {report.stuck_after} days)"
    )
    if not report.found:
        out.print("Nothing is due and no rotation is stuck.", markup=False)
        return
    if report.due:
        table = _table(
            f"Due ({len(report.due)})",
            ["stack", "secret", "kind", "source", "age", "every", "since", "from"],
        )
        for i in report.due:
            table.add_row(
                i.stack,
                i.secret,
                i.kind,
                i.source,
                f"{i.age_days}d",
                f"{i.every_days}d",
                i.since.isoformat(),
                {"stack file": "file", "git history": "git", "new": "new"}[i.since_from],
            )
        out.print(table)
    if report.stuck:
        table = _table(
            f"Stuck ({len(report.stuck)})",
            ["stack", "secret", "kind", "source", "position", "unmoved"],
        )
        for i in report.stuck:
            table.add_row(
                i.stack, i.secret, i.kind, i.source, i.position.describe(), f"{i.stage_days}d"
            )
        out.print(table)
    # One line per command: a stack that follows another often waits on the same one.
    serves: dict[str, list[str]] = {}
    for i in [*report.due, *report.stuck]:
        if i.action is not None:
            serves.setdefault(i.action.line, []).append(f"{i.stack} {i.secret}")
    out.print("Next commands:", markup=False)
    for line, items in serves.items():
        out.print(f"  {line}\n      for {', '.join(items)}", markup=False)
    out.print(
        "(since from: file = `since:` in the stack file; git = the stack file's git history)",
        markup=False,
    )


# ---- history -----------------------------------------------------------------------------------


@exits
def history(
    stack: StacksOption = None,
    svg: Annotated[
        Path | None,
        typer.Option("--svg", help="Also draw the timeline picture into this SVG file."),
    ] = None,
    today: TodayOption = None,
    format: Annotated[
        TextOrJson, typer.Option("--format", "-f", help="text for people, json for tools.")
    ] = TextOrJson.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Each secret's versions and stages over time, from the stack files' git history.

    One lane per stack in promotion order (dev, staging, prod): how long each secret
    stood at each position, where each rotation stands now and how long each stage
    took. Uncommitted changes count as today's. --svg FILE draws it as a picture.

    Example: secretsctl history --stack dev --stack staging --svg timeline.svg
    """
    from secretsctl.schedule.due import load_all
    from secretsctl.schedule.timeline import (
        as_json,
        render_svg,
        render_text_rows,
        stage_summary,
        timeline,
        write_svg,
    )

    day = parse_today(today)
    project = project_of(cwd, root).root
    lanes = timeline(project, load_all(project), day, stack or ())
    if svg is not None:
        try:
            write_svg(svg, render_svg(lanes, day))
        except OSError as exc:
            raise fail_invalid(
                [f"--svg: cannot write {svg}, got {exc.__class__.__name__} (check the path)"]
            ) from None
    if format is TextOrJson.json:
        sys.stdout.write(json.dumps(as_json(lanes, day), indent=2) + "\n")
        return
    table = _table(
        f"Rotation history to {day.isoformat()}",
        ["stack", "secret", "from", "to", "days", "position"],
    )
    for row in render_text_rows(lanes, day):
        table.add_row(*row)
    out.print(table)
    for lane in lanes:
        for secret, spans in lane.rows.items():
            out.print(f"{lane.stack} {secret}: {stage_summary(spans, day)}", markup=False)
    if svg is not None:
        out.print(f"Wrote {svg}.", markup=False)


# ---- bot ---------------------------------------------------------------------------------------

bot = typer.Typer(
    name="bot",
    help="The scheduled rotation workflow's decisions (.github/workflows/rotate.yml).",
    no_args_is_help=True,
)


@bot.command("plan")
@exits
def bot_plan(
    stack: StacksOption = None,
    today: TodayOption = None,
    stuck_after: StuckOption = 7,
    format: Annotated[
        PlanFormat,
        typer.Option(
            "--format",
            "-f",
            help="text: the dry run; json: for the workflow; markdown: every PR and issue body.",
        ),
    ] = PlanFormat.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """The pull requests and the issue the rotation workflow would open or update. Writes nothing.

    One PR per stack advancing each due or mid-rotation `source: generate` secret one
    stage (rotate in the first stack, promote in the stacks that follow once the stack
    before has finished); steps past fallback or swapped wait for `verify --live`. One
    issue lists what a person must do (`source: config` values, re-encryption).

    Example: secretsctl bot plan --today 2026-12-31 --format markdown
    """
    from secretsctl.schedule.bot import bot_plan as make_plan

    day = parse_today(today)
    project = project_of(cwd, root).root
    plan = make_plan(project, day, stack or None, stuck_after)
    if format is PlanFormat.json:
        sys.stdout.write(json.dumps(plan.as_json(), indent=2) + "\n")
    elif format is PlanFormat.markdown:
        _render_bodies(plan, project)
    else:
        _render_plan(plan)


def _render_plan(plan: Any) -> None:
    from secretsctl.schedule.bot import ISSUE_TITLE, LABEL

    out.print(
        f"Dry run of the rotation workflow on {plan.today.isoformat()}: "
        f"{len(plan.prs)} pull request(s), {'1 issue' if plan.tasks else 'no issue'}.",
        markup=False,
    )
    for pr in plan.prs:
        out.print(
            f"\nPR {pr.branch} [{', '.join(pr.labels)}] (opened, or updated if open)\n"
            f"  title: {pr.title}",
            markup=False,
        )
        for step in pr.steps:
            gate = "  [after verify --live]" if step.gated else ""
            out.print(
                f"  - {step.action.secretsctl}: {step.action.before.describe()} to "
                f"{step.action.after.describe()}{gate}\n    why: {step.reason}",
                markup=False,
            )
        if pr.verify_command:
            out.print(f"  gate: {pr.verify_command}", markup=False)
    if plan.tasks:
        out.print(f'\nIssue "{ISSUE_TITLE}" [{LABEL}] (opened, or updated if open)', markup=False)
        for task in plan.tasks:
            out.print(
                f"  - {task.stack} {task.secret}: needs {task.why} ({task.reason})", markup=False
            )
            for command in task.commands:
                out.print(f"      {command}", markup=False)
    else:
        out.print(f'\nIssue "{ISSUE_TITLE}": nothing for a person (closed if open)', markup=False)
    for line in plan.waiting:
        out.print(f"waiting: {line}", markup=False)


def _render_bodies(plan: Any, root: Path) -> None:
    from secretsctl.schedule.apply import prepare
    from secretsctl.schedule.bot import ISSUE_TITLE

    parts = []
    for pr in plan.prs:
        prepared = prepare(plan, root, pr.stack, verified=True)
        assert prepared is not None
        parts.append(
            f"# PR `{pr.branch}`: {prepared.title}\n\nLabels: {', '.join(pr.labels)}"
            + (f". Gate: `{pr.verify_command}`" if pr.verify_command else "")
            + f"\n\n{prepared.body}"
        )
    if plan.tasks:
        parts.append(f"# Issue: {ISSUE_TITLE}\n\n{plan.issue_body}")
    sys.stdout.write("\n---\n\n".join(parts) if parts else "Nothing to open: no PR, no issue.\n")


@bot.command("apply")
@exits
def bot_apply(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack of the pull request.")],
    verified: Annotated[
        bool,
        typer.Option(
            "--verified",
            help="`secretsctl verify --stack S --live` passed: apply the steps past fallback "
            "or swapped too.",
        ),
    ] = False,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Write the PR description here.")
    ] = None,
    title_file: Annotated[
        Path | None, typer.Option("--title-file", help="Write the PR title here.")
    ] = None,
    today: TodayOption = None,
    stuck_after: StuckOption = 7,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Edit one stack's file into its bot pull request: each step one stage, nothing else.

    The same edit `rotate`/`promote` make (same checks; a finish records `since:`).
    Without --verified, steps past fallback or swapped are left out. Prints what
    changed; exit 0 also when there is nothing to change (the files stay as they are).

    Example: secretsctl bot apply --stack dev --verified --body-file body.md
    """
    from secretsctl.schedule.apply import apply

    day = parse_today(today)
    project = project_of(cwd, root).root
    prepared = apply(project, stack, day, verified=verified, stuck_after=stuck_after)
    if prepared is None or prepared.edit is None:
        why = (
            "nothing is due or mid-rotation"
            if prepared is None
            else "every step waits for verify --live"
        )
        out.print(f"{stack}: nothing to change ({why}).", markup=False)
        return
    for path, text in ((body_file, prepared.body), (title_file, prepared.title + "\n")):
        if path is not None:
            path.write_text(text, encoding="utf-8")
    for step in prepared.steps:
        out.print(
            f"{stack}: {step.action.secret} from {step.action.before.describe()} to "
            f"{step.action.after.describe()}",
            markup=False,
        )
    for step in prepared.left_out:
        out.print(f"{stack}: {step.action.secret} left out (not verified live)", markup=False)
