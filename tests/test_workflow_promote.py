"""`secretsctl promote`: the following stack moves one stage toward the one it follows."""

from __future__ import annotations

import pytest

from secrets_store.rotation import Position, step_toward
from tests.workflow_support import Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def promote(repo: Repo, *args: str):
    return secretsctl("promote", *args, "--root", str(repo.root))


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        # one stage toward the source, never further
        (Position(1), Position(1, "swapped", 2), Position(1, "fallback", 2)),
        (Position(1, "fallback", 2), Position(2), Position(1, "swapped", 2)),
        (Position(1, "swapped", 2), Position(2), Position(2)),
        # the source's next version is the one rotated in
        (Position(1), Position(1, "fallback", 3), Position(1, "fallback", 3)),
        # level, or ahead: no step
        (Position(2), Position(2), None),
        (Position(2), Position(1, "swapped", 2), None),
    ],
)
def test_step_toward_moves_one_stage_and_never_past_the_target(mine, theirs, expected):
    assert step_toward(mine, theirs) == expected


def test_promote_moves_staging_one_stage_toward_dev(repo):
    # GIVEN dev at fallback v1 → v2, staging steady at v1 with its own v2 value set
    repo.add_value("staging", "api_key_v2")
    # WHEN staging is promoted from dev
    result = promote(repo, "--from", "dev", "--to", "staging", "api_key")
    # THEN staging reaches dev's stage, and no further
    assert result.exit_code == 0, result.stderr
    assert "staging: api_key: from v1 steady to v1 → v2 fallback" in result.stdout
    assert "      next: 2\n      stage: fallback\n" in repo.read("staging")


def test_promote_never_moves_more_than_one_stage_even_when_the_source_is_further(repo):
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.add_value("staging", "api_key_v2")
    result = promote(repo, "--from", "dev", "--to", "staging")
    assert result.exit_code == 0, result.stderr
    assert "stage: fallback" in repo.read("staging")
    assert "stage: swapped" not in repo.read("staging")


def test_promote_refuses_when_the_target_is_ahead_of_the_source(repo):
    repo.set_api_key("dev", "current: 1")
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: fallback")
    repo.add_value("staging", "api_key_v2")
    before = repo.read("staging")
    result = promote(repo, "--from", "dev", "--to", "staging", "api_key")
    assert result.exit_code == 2
    assert "stack 'staging' is ahead of or diverged from 'dev'" in result.stderr
    assert repo.read("staging") == before


def test_promote_refuses_a_source_that_is_not_the_targets_promotion_after(repo):
    result = promote(repo, "--from", "dev", "--to", "prod")
    assert result.exit_code == 2
    assert "stack 'prod' follows 'staging', got --from 'dev'" in result.stderr


def test_promote_between_level_stacks_edits_nothing_and_succeeds(repo):
    before = repo.read("prod")
    result = promote(repo, "--from", "staging", "--to", "prod")
    assert result.exit_code == 0, result.stderr
    assert "nothing to promote" in result.stdout
    assert repo.read("prod") == before


def test_promote_stops_with_the_command_when_the_targets_new_value_is_missing(repo):
    before = repo.read("staging")
    result = promote(repo, "--from", "dev", "--to", "staging", "api_key")
    assert result.exit_code == 2
    assert "pulumi config set --secret --stack staging secrets-store:api_key_v2" in result.stderr
    assert repo.read("staging") == before


def test_promote_refuses_a_secret_one_stack_does_not_declare(repo):
    result = promote(repo, "--from", "dev", "--to", "staging", "ghost")
    assert result.exit_code == 2
    assert "secrets-store:secrets.ghost: not declared in stack 'dev'" in result.stderr
