"""Parallel environments: the rotation bot promotes per stage, not per finished rotation.

Scripted histories (tests/history_support.py): each bot pull request is applied with
`bot apply`, checked with `check --base`, and merged as a commit dated that day.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secretsctl.offline.stackfile import load_stack_config
from tests.history_support import commit_on, redate_base
from tests.workflow_support import Repo, git, secretsctl

pytestmark = pytest.mark.usefixtures("remembered_runs")

STACKS = ("dev", "staging", "prod")


def jwt_positions(repo: Repo) -> dict[str, str]:
    return {s: load_stack_config(s, repo.path(s)).positions["jwt_key"].describe() for s in STACKS}


def bot_plan(repo: Repo, today: str) -> dict:
    result = secretsctl(
        "bot", "plan", "--today", today, "--format", "json", "--root", str(repo.root)
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def merge_bot_pr(repo: Repo, stack: str, today: str) -> None:
    """`bot apply` (verified live), the gate on the change, and the merge on `today`."""
    applied = secretsctl(
        "bot", "apply", "--stack", stack, "--verified", "--today", today,
        "--root", str(repo.root),
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output
    gate = secretsctl("check", "--base", "HEAD", "--root", str(repo.root))
    assert gate.exit_code == 0, gate.output
    commit_on(repo, today, f"bot: {stack}")


def only_jwt_due(tmp_path: Path, soak: str | None = None) -> Repo:
    """The example stacks, every secret steady at v1 since 2025-01-01; jwt_key (rotateEvery
    30d) is the only one due on 2025-02-10. `soak`: staging's and prod's promotion.soak."""
    repo = Repo(tmp_path / "repo")
    repo.set_api_key("dev", "current: 1")
    if soak is not None:
        for stack in ("staging", "prod"):
            repo.sub(stack, r"^(    after: \w+.*\n)", rf"\1    soak: {soak}\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-q", "--amend", "--no-edit")
    redate_base(repo, "2025-01-01")
    return repo


def test_a_routine_rotation_of_three_environments_takes_three_bot_prs_with_no_soak(tmp_path):
    repo = only_jwt_due(tmp_path)
    merged = []
    for day in ("2025-02-10", "2025-02-11", "2025-02-12", "2025-02-13"):
        prs = bot_plan(repo, day)["prs"]
        if not prs:
            break
        # one pull request a run, moving every stack that may move
        (pr,) = prs
        assert pr["stacks"] == list(STACKS)
        assert {s["stack"] for s in pr["steps"]} == set(STACKS)
        merge_bot_pr(repo, pr["stack"], day)
        merged.append(jwt_positions(repo))
    assert merged == [
        dict.fromkeys(STACKS, "v1 → v2 fallback"),
        dict.fromkeys(STACKS, "v1 → v2 swapped"),
        dict.fromkeys(STACKS, "v2 steady"),
    ]


def test_a_soak_holds_staging_until_dev_held_the_stage_that_long(tmp_path):
    repo = only_jwt_due(tmp_path, soak="1d")
    # Day 1: dev starts alone; staging may not take the stage in the same change
    first = bot_plan(repo, "2025-02-10")
    assert [(p["stack"], p["stacks"]) for p in first["prs"]] == [("dev", ["dev"])]
    merge_bot_pr(repo, "dev", "2025-02-10")
    assert "reached: {fallback: '2025-02-10T00:00:00Z'}" in repo.read("dev")
    # The same day: staging waits for the soak, and says until when
    same_day = bot_plan(repo, "2025-02-10")
    assert all(s["stack"] == "dev" for p in same_day["prs"] for s in p["steps"]), same_day["prs"]
    assert any(
        line.startswith(
            "staging jwt_key: waits for dev: took v1 → v2 fallback before dev held "
            "it for promotion.soak 1d"
        )
        and "(move staging at 2025-02-11T00:00:00Z or later)" in line
        for line in same_day["waiting"]
    ), same_day["waiting"]
    # A person trying it by hand is refused too (the same rule, in promote and in check)
    by_hand = secretsctl(
        "promote", "--from", "dev", "--to", "staging", "jwt_key", "--root", str(repo.root)
    )
    assert by_hand.exit_code == 0, by_hand.output  # the real clock: long past the soak
    repo.sub(
        "staging", r"reached: \{fallback: '[^']*'\}", "reached: {fallback: '2025-02-10T06:00:00Z'}"
    )
    gate = secretsctl("check", "--base", "HEAD", "--root", str(repo.root))
    assert gate.exit_code == 2
    assert "before dev held it for promotion.soak 1d" in gate.stderr
    git(repo.root, "checkout", "-q", "--", "stacks")
    # Day 2: the soak has passed: staging follows in a pull request of its own
    second = bot_plan(repo, "2025-02-11")
    staging = next(p for p in second["prs"] if p["stack"] == "staging")
    assert [(s["secret"], s["after"]) for s in staging["steps"]] == [
        ("jwt_key", "v1 → v2 fallback")
    ]
    merge_bot_pr(repo, "staging", "2025-02-11")
    assert jwt_positions(repo)["staging"] == "v1 → v2 fallback"
    assert jwt_positions(repo)["prod"] == "v1 steady"  # prod soaks behind staging in turn
