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

from secrets_store.ordering import Standing, promotion_problems
from secrets_store.rotation import Position, step_toward, steps_between
from secretsctl.offline.stackfile import StackConfig
from secretsctl.schedule.due import (
    STUCK_AFTER_DAYS,
    Action,
    Item,
    _action,
    chosen_stacks,
    due_report,
    next_action,
    promotion_order,
    stack_items,
)
from secretsctl.workflow.render import markdown_table
from secretsctl.workflow.rotate import reached_after

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
    """One pull request: its stack's steps, and those of the stacks that follow it into the
    same stages in this run (they deploy after it, in promotion order)."""

    stack: str
    command: str
    steps: list[Step]

    @property
    def branch(self) -> str:
        return f"{BRANCH_PREFIX}{self.stack}"

    @property
    def stacks(self) -> list[str]:
        """The stacks whose files the pull request edits, in promotion order."""
        return list(dict.fromkeys([self.stack, *(s.action.stack for s in self.steps)]))

    @property
    def labels(self) -> list[str]:
        promotes = any(s.action.command == "promote" for s in self.steps)
        return [LABEL, PROMOTION_LABEL] if promotes else [LABEL]

    def _gated(self, stack: str) -> list[str]:
        return [s.action.secret for s in self.steps if s.gated and s.action.stack == stack]

    @property
    def verify(self) -> list[str]:
        """Secrets whose step needs `secretsctl verify --live` to pass first."""
        return list(dict.fromkeys(s.action.secret for s in self.steps if s.gated))

    @property
    def verify_command(self) -> str | None:
        commands = [
            f"secretsctl verify --stack {stack} --live {' '.join(self._gated(stack))}"
            for stack in self.stacks
            if self._gated(stack)
        ]
        return " && ".join(commands) or None

    def title_for(self, steps: list[Step]) -> str:
        many = len({s.action.stack for s in steps} | {self.stack}) > 1
        moves = ", ".join(
            f"{s.action.secret}{f' ({s.action.stack})' if many else ''} "
            f"{s.action.before.describe()} to {s.action.after.describe()}"
            for s in steps
        )
        if many:
            return f"secretsctl rotation {', '.join(self.stacks)}: {moves}"
        verb = "promote" if self.command == "promote" else "rotate"
        return f"secretsctl {verb} {self.stack}: {moves}"

    @property
    def title(self) -> str:
        return self.title_for(self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "stacks": self.stacks,
            "command": self.command,
            "branch": self.branch,
            "title": self.title,
            "labels": self.labels,
            "verify": self.verify,
            "verify_command": self.verify_command,
            "steps": [{"stack": s.action.stack, **s.as_json()} for s in self.steps],
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
    now: datetime.datetime | None = None
    """The moment the plan is made for (records and `promotion.soak` count to it)."""
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
    now: datetime.datetime | None = None,
) -> BotPlan:
    """The pull requests and the issue the rotation workflow keeps for the project's stacks.

    Stacks are decided in promotion order, each against the positions the stacks before it
    will have once this run's pull requests merge (`planned`): a stack that follows another
    takes every stage the promotion rule allows (`promotion_problems`, with its
    `promotion.soak`, at `now`). A stage it may take only together with the stack it
    follows (soak 0, that stack moving in this run) goes in that stack's pull request: the
    merge deploys them in promotion order and the guard checks each `pulumi up`.
    """
    now = now or datetime.datetime.combine(today, datetime.time(), datetime.UTC)
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
        starts = item.action
        if _due(item) and starts is not None and starts.stack != stack:
            requested.setdefault(
                (starts.stack, secret),
                f"{stack}'s {secret} is due ({item.age_days} days old, rotateEvery "
                f"{item.every_days}d): its rotation starts in {starts.stack}",
            )

    plan = BotPlan(today, stuck_after, now=now)
    planned: dict[str, dict[str, Standing]] = {}
    group: dict[str, str] = {}  # stack -> the stack whose pull request carries its steps
    steps_of: dict[str, list[Step]] = {}
    gated_steps: dict[tuple[str, str], bool] = {}
    for stack in promotion_order(configs):
        config = configs[stack]
        planned[stack] = dict(config.standings)
        group[stack] = stack
        after = config.promotion_after if config.promotion_after in configs else None
        steps: list[Step] = []
        for secret, position in config.positions.items():
            together = lead_gated = False
            if after is None:
                reason = _reason(configs, stack, secret, position, items, requested)
                if reason is None:
                    continue
                action: Action | None = next_action(configs, stack, secret)
                if action is None or action.stack != stack:
                    continue  # level with the stack it follows and not requested: nothing yet
            else:
                decided = _follow(config, after, secret, planned, configs[after].standings, now)
                if decided is None:
                    continue
                action, reason, together, waiting = decided
                if waiting is not None:
                    plan.waiting.append(waiting)
                    continue
                assert action is not None
                if together:
                    group[stack] = group[after]
                    # Left out with the step of the stack it follows, when that waits for
                    # `verify --live`: never deployed ahead of it.
                    lead_gated = gated_steps.get((after, secret), False)
            entry = config.secrets.get(secret)  # None: declared in the program's code
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
                gated = position.stage != "steady" or (
                    after is not None and together and lead_gated
                )
                gated_steps[(stack, secret)] = gated
                steps.append(Step(action, reason, gated=gated))
                previous = planned[stack].get(secret)
                record = previous.reached if previous is not None else {}
                planned[stack][secret] = Standing(
                    action.after, reached_after(position, action.after, record, now)
                )
        steps_of[stack] = steps
    for stack in promotion_order(configs):
        leader = group[stack]
        if not steps_of[stack]:
            continue
        pr = plan.pr(leader)
        if pr is None:
            if leader not in chosen:
                continue
            pr = PullRequest(leader, steps_of[stack][0].action.command, [])
            plan.prs.append(pr)
        pr.steps += steps_of[stack]
    return plan


def _follow(
    config: StackConfig,
    after: str,
    secret: str,
    planned: Mapping[str, Mapping[str, Standing]],
    base_after: Mapping[str, Standing],
    now: datetime.datetime,
) -> tuple[Action | None, str, bool, str | None] | None:
    """A following stack's next stage of `secret`: (action, reason, together, waiting).

    None: level with (or ahead of) the stack it follows, nothing to do. `together`: allowed
    only with that stack's move of this run (same pull request). `waiting`: the line saying
    why it may not move yet (the promotion rule's refusal)."""
    mine = config.positions[secret]
    theirs = planned[after].get(secret)
    if theirs is None or not steps_between(mine, theirs.position):
        return None
    step = step_toward(mine, theirs.position)
    assert step is not None
    record = config.standings[secret].reached if secret in config.standings else {}
    candidate = {secret: Standing(step, reached_after(mine, step, record, now))}

    def refused(standing: Mapping[str, Standing]) -> list[str]:
        output = {
            name: {
                "current": s.position.current,
                "next": s.position.next,
                "stage": s.position.stage,
                "reached": dict(s.reached),
            }
            for name, s in standing.items()
        }
        problems = promotion_problems(
            config.stack, after, candidate, output, soak=config.soak, now=now
        )
        return [p.message for p in problems]

    problems = refused(planned[after])
    if problems:
        return None, "", False, f"{config.stack} {secret}: waits for {after}: {problems[0]}"
    action = _action(config, "promote", secret, mine, step, after)
    # Allowed against what the stack it follows has now (deployed): a pull request of its own.
    base = base_after.get(secret)
    base_ok = base is not None and bool(steps_between(mine, base.position))
    base_ok = base_ok and not refused(base_after)
    reason = (
        f"{after} is at {theirs.position.describe()}: {config.stack} follows"
        if base_ok
        else f"{after} moves to {theirs.position.describe()} in this change: "
        f"{config.stack} follows ({after} deploys first)"
    )
    return action, reason, not base_ok, None


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
