"""`secretsctl bot apply`: make one stack's bot pull request in the working tree.

The plan's steps for the stack (the gated ones only with `verified`), edited into the stack
file exactly as `rotate`/`promote` edit it (same checks, same round trip, `since:` on a
finish), and the pull request's title and description (with the plan diff).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from secretsctl.offline.project import project_at
from secretsctl.offline.stackfile import load_stack_config, stack_path
from secretsctl.schedule.bot import BotPlan, PullRequest, Step, bot_plan, pr_body
from secretsctl.workflow.diff import render_diff_markdown
from secretsctl.workflow.rotate import Edit, Move, apply_moves, stack_lock, write_edit


@dataclass
class Prepared:
    """A bot pull request's content: the edit (None: nothing to change) and its words."""

    pr: PullRequest
    steps: list[Step]
    left_out: list[Step]
    """Gated steps left out: `verify --live` did not pass (or was not run)."""
    edit: Edit | None
    title: str
    body: str


def prepare(plan: BotPlan, root: Path, stack: str, *, verified: bool) -> Prepared | None:
    """The pull request of `stack` in `plan`, computed (nothing written); None: no PR."""
    pr = plan.pr(stack)
    if pr is None:
        return None
    steps = [s for s in pr.steps if verified or not s.gated]
    left_out = [s for s in pr.steps if s not in steps]
    if not steps:
        return Prepared(pr, [], left_out, None, "", "")
    config = load_stack_config(stack, stack_path(root, stack))
    moves = [Move(s.action.secret, s.action.before, s.action.after) for s in steps]
    edit = apply_moves(config, moves, today=plan.today)
    body = pr_body(
        pr,
        steps,
        render_diff_markdown(edit.diff),
        verified=verified,
        left_out=left_out,
    )
    return Prepared(pr, steps, left_out, edit, pr.title_for(steps), body)


def apply(
    root: Path, stack: str, today: datetime.date, *, verified: bool, stuck_after: int
) -> Prepared | None:
    """Plan `stack`'s pull request and write its stack file edit (under the edit lock)."""
    with stack_lock(project_at(root).stacks_dir):
        plan = bot_plan(root, today, [stack], stuck_after)
        prepared = prepare(plan, root, stack, verified=verified)
        if prepared is not None and prepared.edit is not None:
            write_edit(prepared.edit)
    return prepared
