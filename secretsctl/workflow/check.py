"""`secretsctl check`: the offline pull-request gate over every stack file.

Rules, each reported as one line naming the stack file and config key:
1. every stack's config is valid (the real program runs under mocks);
2. no secret moved more than one stage compared with the base ref's config (a new
   secret, a new stack, a finished rotation and a one-stage rollback count right);
3. no stack ahead of its `promotion.after` stack (both as written in the files);
4. no secret version deleted, by this change, while any worker binds it: a worker of
   any stack in the same Cloudflare account (stacks can share one store).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from secrets_store.errors import Problem, SpecError
from secrets_store.ordering import ahead_problems
from secrets_store.rotation import Position, cloudflare_secret_name, steps_between
from secrets_store.spec import NAMESPACE
from secretsctl.offline.gitbase import stack_file_at, verify_ref
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.references import self_reference
from secretsctl.offline.stackfile import (
    STACKS_DIR,
    StackConfig,
    StackFileError,
    list_stacks,
    load_stack_config,
    stack_file_name,
    stack_path,
)


def one_stage_back(position: Position) -> Position | None:
    """The rollback of one stage that keeps the same versions alive (None: not safe)."""
    if position.stage == "swapped":
        return Position(position.current, "fallback", position.next)
    if position.stage == "fallback":
        return Position(position.current)  # abort: the new version goes, nothing reads it yet
    return None  # undoing a finish would need the deleted version back


def move_problems(
    before: Mapping[str, Position], after: Mapping[str, Position], base: str
) -> list[Problem]:
    """Secrets that moved more than one stage (or backwards) between `base` and now."""
    problems = []
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        steps = steps_between(old, new)
        if steps in (0, 1) or new == one_stage_back(old):
            continue
        what = (
            f"moved {steps} stages in one change"
            if steps is not None
            else "moved backwards or to an unrelated version"
        )
        problems.append(
            Problem(
                f"{NAMESPACE}:secrets.{name}",
                f"{what}, got {old.describe()} at {base} and {new.describe()} here "
                f"(one stage per change: `secretsctl rotate {name}` from the base's position)",
            )
        )
    return problems


def live_names(config: StackConfig) -> set[str]:
    """Cloudflare secret names a stack file keeps alive (prefix + S_vN)."""
    return {
        cloudflare_secret_name(config.name_prefix, name, version)
        for name, position in config.positions.items()
        for version in position.live_versions
    }


def bound_names(plan: Mapping[str, Any]) -> dict[str, str]:
    """Cloudflare secret name -> `worker.BINDING` of the first binding that points at it."""
    bound: dict[str, str] = {}
    for worker, summary in plan["workers"].items():
        for binding, fields in summary["bindings"].items():
            if fields.get("type") == "secrets_store_secret":
                bound.setdefault(str(fields.get("secret_name")), f"{worker}.{binding}")
    return bound


def check_stacks(root: Path, base: str | None = None) -> list[str]:
    """Every problem of every stack under `root`/stacks, one line each (empty: all good)."""
    lines: list[str] = []
    configs: dict[str, StackConfig] = {}
    for stack in list_stacks(root):
        try:
            configs[stack] = load_stack_config(stack, stack_path(root, stack))
        except StackFileError as exc:
            lines.append(str(exc))

    def report(stack: str, problems: list[Problem]) -> None:
        lines.extend(f"{STACKS_DIR}/{stack_file_name(stack)}: {p}" for p in problems)

    # 1. Validity: the real program; its promotion guard answered by the stack itself,
    # because promotion is checked below against the other stack's file.
    plans: dict[str, dict[str, Any]] = {}
    for stack, config in configs.items():
        try:
            plans[stack] = plan_stack(stack, config=config, **self_reference(config)).document
        except SpecError as exc:
            report(stack, exc.problems)

    # 2. Promotion order, file against file.
    for stack, config in configs.items():
        after = config.promotion_after
        if not after:
            continue
        if after not in configs:
            report(
                stack,
                [
                    Problem(
                        f"{NAMESPACE}:promotion.after",
                        f"names a stack with no file, got {after!r} "
                        f"(create {STACKS_DIR}/{stack_file_name(after)} or fix the name)",
                    )
                ],
            )
            continue
        report(
            stack,
            ahead_problems(stack, after, config.positions, configs[after].rotation_output()),
        )

    # 3 and 4 compare with the base ref.
    if base is None:
        return lines
    verify_ref(root, base)
    removed: dict[str, list[tuple[str, str]]] = {}  # account -> (stack, removed name)
    for stack, config in configs.items():
        text = stack_file_at(root, base, stack)
        if text is None:
            continue  # a new stack: every position is its first
        try:
            old = load_stack_config(stack, config.path, text=text)
        except StackFileError as exc:
            lines.append(f"{base}: {exc}")
            continue
        report(stack, move_problems(old.positions, config.positions, base))
        account = str(config.account_id)
        removed.setdefault(account, []).extend(
            (stack, n) for n in sorted(live_names(old) - live_names(config))
        )
    for stack, plan in plans.items():
        account = str(configs[stack].account_id)
        bound = bound_names(plan)
        for owner, name in removed.get(account, []):
            if name in bound:
                report(
                    owner,
                    [
                        Problem(
                            f"{NAMESPACE}:secrets",
                            f"deletes secret version {name} while worker {bound[name]} of stack "
                            f"{stack!r} binds it, got {name} bound "
                            f"(move that binding off {name} before deleting it)",
                        )
                    ],
                )
    return lines
