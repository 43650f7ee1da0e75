"""`secretsctl check`: the offline pull-request gate, against a base ref in a temporary repo."""

from __future__ import annotations

import pytest

from secrets_store.rotation import Position
from secretsctl.workflow.check import move_problems
from tests.workflow_support import CANARY_CIPHERTEXT, Repo, secretsctl


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def check(repo: Repo, *args: str):
    return secretsctl("check", "--root", str(repo.root), *args)


def test_unchanged_example_stacks_pass(repo):
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert "check: 3 stacks OK against HEAD." in result.stdout


def test_invalid_config_fails_with_one_line_naming_the_file_and_key(repo):
    repo.sub("staging", r"kind: api_key", "kind: bogus")
    result = check(repo)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        "stacks/Pulumi.staging.yaml: secrets-store:secrets.api_key.kind: unknown kind, "
        "got 'bogus' (use one of api_key, encryption_key, signing_key, json, opaque)"
    ]


def test_a_secret_moved_two_stages_in_one_change_is_refused(repo):
    # GIVEN dev at fallback on the base branch; WHEN the change finishes it at once
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.api_key: moved 2 stages in one change, "
        "got v1 -> v2 fallback at HEAD and v2 steady here (one stage per change: "
        "`secretsctl rotate api_key` from the base's position)"
    ]


def test_a_finished_rotation_counts_as_one_stage(repo):
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("dev swapped")
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr


def test_a_new_secret_and_a_new_stack_count_right(repo):
    # a new secret in dev, already mid-rotation: it has no base position to compare
    repo.sub(
        "dev",
        r"^    db_config:\n",
        "    fresh_key:\n      kind: signing_key\n      source: generate\n      current: 4\n"
        "      next: 5\n      stage: swapped\n    db_config:\n",
    )
    # a new stack (no file at the base), following dev
    text = repo.read("staging").replace("stg_", "qa_")
    repo.path("qa").write_text(text)
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert "4 stacks OK" in result.stdout


def test_a_stack_ahead_of_its_promotion_after_stack_is_refused(repo):
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: swapped")
    repo.add_value("staging", "api_key_v2")
    result = check(repo)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.staging.yaml: secrets-store:secrets.api_key: is ahead of stack 'dev', "
        "got v1 -> v2 swapped here and v1 -> v2 fallback in dev (deploy dev first, or run "
        "`secretsctl promote --from dev --to staging`)"
    ]


def test_promotion_after_naming_a_missing_stack_is_refused(repo):
    repo.sub("prod", r"after: staging", "after: stagin")
    result = check(repo)
    assert result.exit_code == 2
    assert (
        "stacks/Pulumi.prod.yaml: secrets-store:promotion.after: names a stack with no file, "
        "got 'stagin'" in result.stderr
    )


def test_deleting_a_version_another_stack_in_the_account_still_binds_is_refused(repo):
    # GIVEN staging shares dev's account and (wrongly) its name prefix, so both bind
    # dev_api_key_v1; dev is swapped at the base
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.sub("staging", r"namePrefix: stg_", "namePrefix: dev_")
    repo.commit("shared prefix")
    # WHEN dev finishes its rotation, deleting dev_api_key_v1
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    # THEN refused: staging's workers still bind it
    assert result.exit_code == 2
    assert (
        "stacks/Pulumi.dev.yaml: secrets-store:secrets: deletes secret version dev_api_key_v1 "
        "while worker api.PRIMARY_KEY of stack 'staging' binds it" in result.stderr
    )


def test_an_unknown_base_ref_is_invalid_input(repo):
    result = check(repo, "--base", "no-such-branch")
    assert result.exit_code == 2
    assert "--base: no such git commit, got 'no-such-branch'" in result.stderr


def test_check_never_prints_secure_values(repo):
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAy:\S+", f"secure: {CANARY_CIPHERTEXT}")
    repo.sub("dev", r"kind: api_key", "kind: bogus")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert CANARY_CIPHERTEXT not in result.output and "Q0FOQVJZ" not in result.output


@pytest.mark.parametrize(
    ("before", "after", "ok"),
    [
        (Position(1), Position(1), True),  # unchanged
        (Position(1), Position(1, "fallback", 2), True),  # start
        (Position(1, "fallback", 2), Position(1, "swapped", 2), True),  # swap
        (Position(1, "swapped", 2), Position(2), True),  # finish
        (Position(1, "swapped", 2), Position(1, "fallback", 2), True),  # roll back one stage
        (Position(1, "fallback", 2), Position(1), True),  # abort before anything reads v2
        (Position(1), Position(1, "swapped", 2), False),  # skips fallback
        (Position(1, "fallback", 2), Position(2), False),  # skips swapped
        (Position(2), Position(1, "swapped", 2), False),  # undoes a finish: v1 is gone
        (Position(1), Position(3), False),  # two whole rotations
    ],
)
def test_move_rules_table(before, after, ok):
    problems = move_problems({"s": before}, {"s": after}, "main")
    assert (problems == []) is ok, problems
