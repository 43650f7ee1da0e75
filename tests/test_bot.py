"""`secretsctl bot plan` and `bot apply`: the scheduled rotation workflow's decisions.

The scripted history (tests/history_support.py) looked at on 2026-06-01: dev's hmac_key is
due, dev's jwt_key is stuck in swapped, dev's api_key (source: config) is mid-rotation,
dev finished vault_key (an encryption_key) and staging follows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.history_support import TODAY, commit_on, scripted_history
from tests.workflow_support import Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    yield scripted_history(tmp_path_factory.mktemp("scripted") / "repo")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return scripted_history(tmp_path / "repo")


def plan(root: Path, *args: str, today: str = TODAY) -> dict:
    result = secretsctl(
        "bot", "plan", "--today", today, "--format", "json", "--root", str(root), *args
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def apply(repo: Repo, stack: str, *args: str, today: str = TODAY):
    return secretsctl(
        "bot", "apply", "--stack", stack, "--today", today, "--root", str(repo.root), *args
    )


def test_one_pr_carries_every_stack_that_may_move_one_stage_each_with_a_stable_branch(scripted):
    # Promotion per stage (promotion.soak 0 in the example stacks): staging and prod take a
    # stage in the same pull request as the stack before them; its merge deploys in order.
    document = plan(scripted.root)
    prs = {p["stack"]: p for p in document["prs"]}
    assert list(prs) == ["dev"]
    dev = prs["dev"]
    assert (dev["branch"], dev["labels"], dev["command"], dev["stacks"]) == (
        "secretsctl/rotation-dev",
        ["secretsctl-rotation", "secretsctl-promotion"],
        "rotate",
        ["dev", "staging", "prod"],
    )
    steps = {(s["stack"], s["secret"]): s for s in dev["steps"]}
    # due: starts (no gate); stuck in swapped: finishes only after verify --live passes
    assert steps[("dev", "hmac_key")] == {
        "stack": "dev",
        "secret": "hmac_key",
        "before": "v2 steady",
        "after": "v2 → v3 fallback",
        "gated": False,
        "reason": "due: v2 is 112 days old (rotateEvery 90d; steady since 2026-02-09)",
        "command": "secretsctl rotate hmac_key --stack dev",
    }
    jwt = steps[("dev", "jwt_key")]
    assert jwt["after"] == "v2 steady" and jwt["gated"] is True
    assert dev["verify"] == ["jwt_key"]
    assert dev["verify_command"] == "secretsctl verify --stack dev --live jwt_key"
    # config secrets and an encryption key's finish never get a PR step; staging follows
    # dev's finished vault_key and dev's swapped jwt_key at once, and dev's hmac_key start in
    # the same change; prod follows staging the same way
    assert [(s["stack"], s["secret"], s["after"], s["gated"]) for s in dev["steps"]] == [
        ("dev", "hmac_key", "v2 → v3 fallback", False),
        ("dev", "jwt_key", "v2 steady", True),
        ("staging", "vault_key", "v1 → v2 fallback", False),
        ("staging", "hmac_key", "v2 → v3 fallback", False),
        ("staging", "jwt_key", "v1 → v2 fallback", False),
        ("prod", "vault_key", "v1 → v2 fallback", False),
        ("prod", "hmac_key", "v2 → v3 fallback", False),
        ("prod", "jwt_key", "v1 → v2 fallback", False),
    ]
    assert steps[("staging", "vault_key")]["reason"] == "dev is at v2 steady: staging follows"
    assert steps[("staging", "hmac_key")]["reason"] == (
        "dev moves to v2 → v3 fallback in this change: staging follows (dev deploys first)"
    )
    assert steps[("staging", "vault_key")]["command"] == (
        "secretsctl promote --from dev --to staging vault_key"
    )
    # a rerun decides the same: the workflow updates instead of duplicating
    assert plan(scripted.root) == document


def test_the_issue_lists_what_a_person_must_do(scripted):
    issue = plan(scripted.root)["issue"]
    assert issue["title"] == "Secret rotation: what a person must do"
    assert issue["labels"] == ["secretsctl-rotation"] and issue["open"] is True
    assert issue["tasks"] == [
        {
            "stack": "dev",
            "secret": "api_key",
            "reason": "mid-rotation: fallback for 28 days",
            "needs": "a person to run its next stage (the bot moves source: generate secrets only)",
            "commands": ["secretsctl rotate api_key --stack dev"],
        },
        {
            "stack": "staging",
            "secret": "api_key",
            "reason": "dev is at v1 → v2 fallback: staging follows",
            "needs": "a new value",
            "commands": [
                "pulumi config set --secret --stack staging secrets-store:api_key_v2",
                "secretsctl promote --from dev --to staging api_key",
            ],
        },
    ]
    assert issue["body"].startswith("<!-- secretsctl-rotation-issue -->\n")
    assert "```sh\nsecretsctl rotate api_key --stack dev\n```" in issue["body"]


def test_followers_take_each_stage_without_waiting_for_a_finish(scripted):
    # dev is mid-rotation (api_key fallback, jwt_key swapped): staging follows stage by stage
    document = plan(scripted.root)
    assert document["waiting"] == []
    tasks = {(t["stack"], t["secret"]): t for t in document["issue"]["tasks"]}
    assert tasks[("staging", "api_key")]["commands"] == [
        "pulumi config set --secret --stack staging secrets-store:api_key_v2",
        "secretsctl promote --from dev --to staging api_key",
    ]


def test_a_config_secret_due_gets_the_value_command_and_an_encryption_key_needs_a_person(repo):
    # GIVEN dev's api_key finished in the history, then due; vault_key swapped in dev
    repo.set_api_key("dev", "current: 2")
    repo.set_position("dev", "vault_key", "current: 2\nnext: 3\nstage: swapped")
    commit_on(repo, "2026-05-25", "api_key finished; vault_key v2 -> v3 swapped")
    document = plan(repo.root, today="2026-09-01")
    tasks = {(t["stack"], t["secret"]): t for t in document["issue"]["tasks"]}
    assert tasks[("dev", "api_key")]["needs"] == "a new value"
    assert tasks[("dev", "api_key")]["commands"] == [
        "pulumi config set --secret --stack dev secrets-store:api_key_v3",
        "secretsctl rotate api_key --stack dev",
    ]
    vault = tasks[("dev", "vault_key")]
    assert vault["commands"] == ["secretsctl rotate vault_key --stack dev --reencrypted"]
    assert "re-encrypted with v3" in vault["needs"]
    dev = next(p for p in document["prs"] if p["stack"] == "dev")
    assert "vault_key" not in {s["secret"] for s in dev["steps"] if s["stack"] == "dev"}


def test_a_follower_due_while_level_starts_the_rotation_in_the_first_stack(tmp_path):
    # GIVEN every stack steady at v1 and a policy for hmac_key only in prod
    repo = Repo(tmp_path / "repo")
    repo.set_api_key("dev", "current: 1")
    for stack in ("dev", "staging"):
        repo.sub(stack, r"(    hmac_key:\n(?:      .*\n)*?)      rotateEvery: 90d\n", r"\1")
    commit_on(repo, "2030-01-01", "steady")
    document = plan(repo.root, "--stack", "dev", today="2030-05-01")
    (dev,) = document["prs"]
    hmac = next(s for s in dev["steps"] if s["secret"] == "hmac_key")
    assert hmac["command"] == "secretsctl rotate hmac_key --stack dev"
    assert hmac["reason"].startswith("prod's hmac_key is due (")
    assert hmac["reason"].endswith("its rotation starts in dev")


def test_apply_without_verification_leaves_the_gated_step_out(repo):
    before = repo.read("dev")
    result = apply(repo, "dev", "--body-file", str(repo.root / "body.md"))
    assert result.exit_code == 0, result.output
    assert "dev: hmac_key from v2 steady to v2 → v3 fallback" in result.stdout
    assert "dev: jwt_key left out (not verified live)" in result.stdout
    text = repo.read("dev")
    assert text != before
    body = (repo.root / "body.md").read_text()
    assert body.startswith("<!-- secretsctl-rotation:dev -->\n")
    assert "Not advanced: `jwt_key`" in body
    assert "| `hmac_key` | v2 steady | v2 → v3 fallback |" in body
    # the PR is one stage per secret: the offline gate agrees
    check = secretsctl("check", "--base", "HEAD", "--root", str(repo.root))
    assert check.exit_code == 0, check.output


def test_apply_verified_finishes_and_records_since_with_the_diff_in_the_body(repo):
    body, title = repo.root / "body.md", repo.root / "title.txt"
    result = apply(repo, "dev", "--verified", "--body-file", str(body), "--title-file", str(title))
    assert result.exit_code == 0, result.output
    entry = repo.read("dev")[slice(*repo.entry("dev", "jwt_key"))]
    assert "      current: 2\n      since: '2026-06-01'\n" in entry
    assert "next:" not in entry and "stage:" not in entry
    text = body.read_text()
    assert "Live check passed: `secretsctl verify --stack dev --live jwt_key`" in text
    assert "### Rotation diff for stack `dev`" in text
    assert "Secret versions removed: `dev_jwt_key_v1`" in text
    assert title.read_text().startswith(
        "secretsctl rotation dev, staging, prod: hmac_key (dev) v2 steady to v2 → v3 fallback, "
        "jwt_key (dev) v1 → v2 swapped to v2 steady, vault_key (staging) v1 steady to "
    )
    assert "      current: 1\n      next: 2\n      stage: fallback\n" in repo.read("prod")
    check = secretsctl("check", "--base", "HEAD", "--root", str(repo.root))
    assert check.exit_code == 0, check.output


def test_apply_with_nothing_to_do_changes_nothing(repo):
    before = repo.read("prod")
    result = apply(repo, "prod")
    assert result.exit_code == 0, result.output
    assert "prod: nothing to change (nothing is due or mid-rotation)." in result.stdout
    assert repo.read("prod") == before


def test_the_dry_run_prints_the_prs_and_the_issue_it_would_open(scripted):
    result = secretsctl("bot", "plan", "--today", TODAY, "--root", str(scripted.root))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(
        "Dry run of the rotation workflow on 2026-06-01: 1 pull request(s), 1 issue."
    )
    assert "PR secretsctl/rotation-dev [secretsctl-rotation, secretsctl-promotion]" in text
    assert "gate: secretsctl verify --stack dev --live jwt_key" in text
    assert "secretsctl promote --from staging --to prod jwt_key" in text
    assert 'Issue "Secret rotation: what a person must do"' in text
    # the markdown dry run shows every body, the plan diff included; nothing is written
    before = {s: scripted.read(s) for s in ("dev", "staging", "prod")}
    bodies = secretsctl(
        "bot", "plan", "--today", TODAY, "--format", "markdown", "--root", str(scripted.root)
    )
    assert bodies.exit_code == 0, bodies.output
    assert "# PR `secretsctl/rotation-dev`" in bodies.stdout
    assert "`ENCRYPTION_KEY_FALLBACK: (none) → stg_vault_key_v2`" in bodies.stdout
    assert "# Issue: Secret rotation: what a person must do" in bodies.stdout
    assert {s: scripted.read(s) for s in before} == before


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_bot_help_has_an_example(command):
    result = secretsctl("bot", command, "--help")
    assert result.exit_code == 0
    assert "Example: secretsctl bot" in result.output and "<bool>" not in result.output
