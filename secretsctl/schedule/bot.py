"""The scheduled rotation bot's decisions, as plain data: which pull requests and which issue.

`.github/workflows/rotate.yml` runs `secretsctl bot plan --format json`, then for each pull
request `secretsctl verify --live` (when a step is gated) and `secretsctl bot apply`; it
only moves files and calls `gh`. Everything it decides is decided here:

- one pull request per stack (stable branch `secretsctl/rotation-<stack>` and label
  `secretsctl-rotation`, so a rerun updates it), advancing each `source: generate` secret
  that is due or mid-rotation by exactly one stage: `rotate` in a stack that follows no
  other, `promote` in a stack that follows one, and only once that stack has finished
  the version it rotates to;
- a step past `fallback` or `swapped` is gated: it is applied only when
  `secretsctl verify --stack S --live` passes for its secrets (the last stage landed);
- what only a person can do goes in one issue (stable title and label): a new value for a
  `source: config` secret, and finishing an encryption_key (re-encrypt first);
- a due secret of a stack that is level with the stack it follows starts its rotation at
  the top of the promotion order (dev), where the rotation always begins.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secrets_store.rotation import Position
from secretsctl.offline.stackfile import StackConfig
from secretsctl.schedule.due import (
    STUCK_AFTER_DAYS,
    Action,
    Item,
    chosen_stacks,
    due_report,
    next_action,
    promotion_order,
    stack_items,
)
from secretsctl.workflow.render import markdown_table

LABEL = "secretsctl-rotation"
PROMOTION_LABEL = "secretsctl-promotion"
BRANCH_PREFIX = "secretsctl/rotation-"
ISSUE_TITLE = "Secret rotation: what a person must do"
ISSUE_MARKER = "<!-- secretsctl-rotation-issue -->"
WORKFLOW = ".github/workflows/rotate.yml"


def pr_marker(stack: str) -> str:
    return f"<!-- secretsctl-rotation:{stack} -->"


@dataclass(frozen=True)
class Step:
    """One secret moved one stage in a bot pull request."""

    action: Action
    reason: str
    gated: bool
    """It moves past fallback or swapped: applied only once `verify --live` passes."""

    def as_json(self) -> dict[str, Any]:
        return {
            "secret": self.action.secret,
            "before": self.action.before.describe(),
            "after": self.action.after.describe(),
            "gated": self.gated,
            "reason": self.reason,
            "command": self.action.secretsctl,
        }


@dataclass
class PullRequest:
    """One stack's pull request: every step is `rotate`, or every step is `promote`."""

    stack: str
    command: str
    steps: list[Step]

    @property
    def branch(self) -> str:
        return f"{BRANCH_PREFIX}{self.stack}"

    @property
    def labels(self) -> list[str]:
        return [LABEL, PROMOTION_LABEL] if self.command == "promote" else [LABEL]

    @property
    def verify(self) -> list[str]:
        """Secrets whose step needs `secretsctl verify --live` to pass first."""
        return [s.action.secret for s in self.steps if s.gated]

    @property
    def verify_command(self) -> str | None:
        if not self.verify:
            return None
        return f"secretsctl verify --stack {self.stack} --live {' '.join(self.verify)}"

    def title_for(self, steps: list[Step]) -> str:
        moves = ", ".join(
            f"{s.action.secret} {s.action.before.describe()} to {s.action.after.describe()}"
            for s in steps
        )
        verb = "promote" if self.command == "promote" else "rotate"
        return f"secretsctl {verb} {self.stack}: {moves}"

    @property
    def title(self) -> str:
        return self.title_for(self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "command": self.command,
            "branch": self.branch,
            "title": self.title,
            "labels": self.labels,
            "verify": self.verify,
            "verify_command": self.verify_command,
            "steps": [s.as_json() for s in self.steps],
        }


@dataclass(frozen=True)
class Task:
    """Something only a person can do, listed in the rotation issue."""

    stack: str
    secret: str
    reason: str
    why: str
    """What the person provides (a new value, re-encrypted data)."""
    commands: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "secret": self.secret,
            "reason": self.reason,
            "needs": self.why,
            "commands": list(self.commands),
        }


@dataclass
class BotPlan:
    today: datetime.date
    stuck_after: int
    prs: list[PullRequest] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def pr(self, stack: str) -> PullRequest | None:
        return next((p for p in self.prs if p.stack == stack), None)

    @property
    def issue_body(self) -> str:
        return issue_body(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "stuck_after_days": self.stuck_after,
            "prs": [p.as_json() for p in self.prs],
            "issue": {
                "title": ISSUE_TITLE,
                "labels": [LABEL],
                "open": bool(self.tasks),
                "tasks": [t.as_json() for t in self.tasks],
                "body": self.issue_body if self.tasks else "",
            },
            "waiting": self.waiting,
        }


def _due(item: Item | None) -> bool:
    return (
        item is not None
        and item.position.stage == "steady"
        and item.every_days is not None
        and item.age_days >= item.every_days
    )


def _due_reason(item: Item) -> str:
    origin = {"stack file": "since", "git history": "steady since", "new": "declared"}
    return (
        f"due: v{item.position.current} is {item.age_days} days old "
        f"(rotateEvery {item.every_days}d; {origin[item.since_from]} {item.since.isoformat()})"
    )


def bot_plan(
    root: Path,
    today: datetime.date,
    stacks: list[str] | None = None,
    stuck_after: int = STUCK_AFTER_DAYS,
) -> BotPlan:
    """The pull requests and the issue the rotation workflow keeps for the project's stacks."""
    report = due_report(root, today, (), stuck_after)
    configs, histories = report.configs, report.histories
    chosen = chosen_stacks(configs, stacks or ())
    items: dict[tuple[str, str], Item] = {}
    for stack in promotion_order(configs):
        for item in stack_items(configs, stack, today, histories):
            items[(stack, item.secret)] = item
    # A stack level with the stack it follows cannot start a rotation itself: the stack
    # the next command edits (further up) starts it on its behalf.
    requested: dict[tuple[str, str], str] = {}
    for (stack, secret), item in items.items():
        action = item.action
        if _due(item) and action is not None and action.stack != stack:
            requested.setdefault(
                (action.stack, secret),
                f"{stack}'s {secret} is due ({item.age_days} days old, rotateEvery "
                f"{item.every_days}d): its rotation starts in {action.stack}",
            )

    plan = BotPlan(today, stuck_after)
    for stack in promotion_order(configs):
        if stack not in chosen:
            continue
        steps: list[Step] = []
        for secret, position in configs[stack].positions.items():
            reason = _reason(configs, stack, secret, position, items, requested)
            if reason is None:
                continue
            action = next_action(configs, stack, secret)
            if action is None or action.stack != stack:
                continue  # level with the stack it follows and not requested: nothing yet
            if action.command == "promote":
                assert action.source is not None
                target = action.after.next or action.after.current
                theirs = configs[action.source].positions[secret]
                if theirs.current < target:
                    plan.waiting.append(
                        f"{stack} {secret}: waits for {action.source} to finish its rotation "
                        f"to v{target} ({action.source} is {theirs.describe()})"
                    )
                    continue
            entry = configs[stack].secrets.get(secret)  # None: declared in the program's code
            if entry is None or entry.source == "config":
                plan.tasks.append(
                    Task(
                        stack,
                        secret,
                        reason,
                        "a new value"
                        if action.values
                        else "a person to run its next stage (the bot moves source: generate "
                        "secrets only)",
                        (*action.set_values, action.secretsctl),
                    )
                )
            elif action.reencrypted:
                old = action.before.current
                plan.tasks.append(
                    Task(
                        stack,
                        secret,
                        reason,
                        f"every value encrypted with v{old} re-encrypted with "
                        f"v{action.after.current} (finishing deletes v{old})",
                        (action.secretsctl,),
                    )
                )
            else:
                steps.append(Step(action, reason, gated=position.stage != "steady"))
        if steps:
            plan.prs.append(PullRequest(stack, steps[0].action.command, steps))
    return plan


def _reason(
    configs: Mapping[str, StackConfig],
    stack: str,
    secret: str,
    position: Position,
    items: dict[tuple[str, str], Item],
    requested: dict[tuple[str, str], str],
) -> str | None:
    """Why the bot moves this secret now, or None: it is left alone."""
    item = items.get((stack, secret))
    if position.stage != "steady":
        days = item.stage_days if item is not None else None
        return f"mid-rotation: {position.stage} for {days} days"
    if _due(item):
        assert item is not None
        return _due_reason(item)
    if (stack, secret) in requested:
        return requested[(stack, secret)]
    after = configs[stack].promotion_after
    other = configs.get(after) if after else None
    theirs = other.positions.get(secret) if other is not None else None
    if theirs is not None and theirs.ordinal > position.ordinal:
        return f"{after} finished v{theirs.current}: {stack} follows"
    return None


# ---- what the pull requests and the issue say -------------------------------------------------


def pr_body(
    pr: PullRequest,
    steps: list[Step],
    diff_markdown: str,
    *,
    verified: bool | None,
    left_out: list[Step] | None = None,
) -> str:
    """The pull request's description: the steps, the live check, and the plan diff."""
    rows = [
        [
            f"`{s.action.secret}`",
            s.action.before.describe(),
            s.action.after.describe(),
            s.reason,
        ]
        for s in steps
    ]
    parts = [
        pr_marker(pr.stack),
        f"## Rotation of stack `{pr.stack}`: one stage",
        f"Kept up to date by the scheduled rotation workflow (`{WORKFLOW}`): each run "
        f"rewrites this branch (`{pr.branch}`) from the base branch. Merge it to deploy "
        "this stage; the next run proposes the next one.",
        markdown_table(["secret", "before", "after", "why"], rows),
        "Commands this change is: " + "; ".join(f"`{s.action.secretsctl}`" for s in steps) + ".",
    ]
    gated = [s.action.secret for s in steps if s.gated]
    if gated:
        parts.append(
            f"Live check passed: `secretsctl verify --stack {pr.stack} --live "
            f"{' '.join(gated)}` (every version the current stage needs is active and every "
            "worker's deployed bindings equal the plan)."
        )
    if left_out:
        names = ", ".join(f"`{s.action.secret}`" for s in left_out)
        parts.append(
            f"> [!NOTE]\n> Not advanced: {names}. `secretsctl verify --stack {pr.stack} --live` "
            "did not pass (the last stage has not landed everywhere yet); the next run tries "
            "again."
        )
    parts.append(diff_markdown.rstrip("\n"))
    return "\n\n".join(parts) + "\n"


def issue_body(plan: BotPlan) -> str:
    """The rotation issue: one section per thing a person must do, with the commands."""
    parts = [
        ISSUE_MARKER,
        "## Secret rotations waiting for a person",
        f"Updated by the scheduled rotation workflow (`{WORKFLOW}`) on "
        f"{plan.today.isoformat()}. The bot rotates `source: generate` secrets itself; these "
        "need something only a person can provide. Run the commands in a branch and open a "
        "pull request; the next run updates this list (and closes it when it is empty).",
    ]
    for task in plan.tasks:
        parts.append(
            f"### `{task.secret}` in `{task.stack}`\n\n{task.reason}. Needs {task.why}:\n\n"
            "```sh\n" + "\n".join(task.commands) + "\n```"
        )
    if plan.waiting:
        parts.append("Waiting (nothing to do yet):\n\n" + "\n".join(f"- {w}" for w in plan.waiting))
    return "\n\n".join(parts) + "\n"
