"""`secretsctl rotate`: one stage per run, a round-trip edit of the stack file, refusals."""

from __future__ import annotations

import datetime
import difflib

import pytest

from secrets_store.rotation import Position
from secretsctl.workflow.rotate import RotationRefused, edit_positions
from tests.workflow_support import CANARY_CIPHERTEXT, Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) between two texts."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def rotate(repo: Repo, *args: str):
    return secretsctl("rotate", *args, "--root", str(repo.root))


def test_steady_secret_starts_rotation_with_next_as_current_plus_one(repo):
    # GIVEN staging's api_key steady at v1 (and dev ahead), with v2's value set
    repo.add_value("staging", "api_key_v2")
    before = repo.read("staging")
    # WHEN it is rotated
    result = rotate(repo, "api_key", "--stack", "staging")
    # THEN only current's neighbourhood changes: next 2 and stage fallback appear
    assert result.exit_code == 0, result.stderr
    removed, added = changed_lines(before, repo.read("staging"))
    assert removed == []
    assert added == ["      next: 2", "      stage: fallback"]
    assert "api_key: from v1 steady to v1 → v2 fallback" in result.stdout


def test_fallback_moves_to_swapped_changing_only_the_stage_line(repo):
    before = repo.read("dev")
    result = rotate(repo, "api_key", "--stack", "dev")
    assert result.exit_code == 0, result.stderr
    assert changed_lines(before, repo.read("dev")) == (
        ["      stage: fallback"],
        ["      stage: swapped"],
    )


def test_swapped_finishes_steady_at_the_new_version_with_next_removed(repo):
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    before = repo.read("dev")
    result = rotate(repo, "api_key", "--stack", "dev")
    assert result.exit_code == 0, result.stderr
    removed, added = changed_lines(before, repo.read("dev"))
    assert sorted(removed) == ["      current: 1", "      next: 2", "      stage: swapped"]
    # the day the new version became steady: `due` counts its age from it
    assert added == ["      current: 2", f"      since: '{datetime.date.today().isoformat()}'"]
    assert "no longer used" in result.stdout and "secrets-store:api_key_v1" in result.stdout


def test_edit_keeps_comments_key_order_and_secure_values_byte_for_byte():
    # GIVEN a stack file with comments everywhere, flow lists, quotes and secure values
    text = (
        "# header comment\n"
        "config:\n"
        "  cloudflare:apiToken:\n"
        "    secure: v1:AAAA:BBBB==   # token\n"
        "  secrets-store:secrets:\n"
        "    # before api_key\n"
        "    api_key:\n"
        "      kind: api_key          # kind comment\n"
        "      scopes: [workers]\n"
        "      current: 1             # current comment\n"
        "      source: config\n"
        "    # between secrets\n"
        "    other:\n"
        "      kind: 'opaque'\n"
        "      current: 3\n"
        "  secrets-store:api_key_v1:\n"
        "    secure: v1:CCCC:DDDD==\n"
        "  secrets-store:api_key_v2: {secure: 'v1:EEEE:FFFF=='}\n"
        "# trailing comment\n"
    )
    # WHEN api_key starts rotating
    new = edit_positions(text, {"api_key": Position(1, "fallback", 2)})
    # THEN exactly two lines are added and every other byte is as it was
    removed, added = changed_lines(text, new)
    assert removed == []
    assert added == ["      next: 2", "      stage: fallback"]
    assert new.replace("      next: 2\n      stage: fallback\n", "") == text


def test_edit_finishing_keeps_the_current_line_comment(tmp_path):
    text = (
        "config:\n"
        "  secrets-store:secrets:\n"
        "    api_key:\n"
        "      kind: api_key\n"
        "      current: 1   # keep me\n"
        "      next: 2\n"
        "      stage: swapped\n"
        "      source: config\n"
    )
    new = edit_positions(text, {"api_key": Position(2)})
    assert new == (
        "config:\n"
        "  secrets-store:secrets:\n"
        "    api_key:\n"
        "      kind: api_key\n"
        "      current: 2   # keep me\n"
        "      source: config\n"
    )


def test_missing_value_stops_before_editing_and_prints_the_exact_command(repo):
    # GIVEN staging steady at v1 with no value for v2
    before = repo.read("staging")
    # WHEN it is rotated
    result = rotate(repo, "api_key", "--stack", "staging")
    # THEN exit 2, the exact command to set the value, and the file untouched
    assert result.exit_code == 2
    assert "  pulumi config set --secret --stack staging secrets-store:api_key_v2\n" in (
        result.stderr
    )
    assert repo.read("staging") == before


def test_finishing_an_encryption_key_is_refused_until_reencryption_is_confirmed(repo):
    repo.sub(
        "dev",
        r"(    vault_key:\n(?:.*\n)*?)      current: 1",
        r"\1      current: 1\n"
        "      next: 2\n      stage: swapped",
    )
    before = repo.read("dev")
    refused = rotate(repo, "vault_key", "--stack", "dev")
    assert refused.exit_code == 2
    assert "finishing deletes vault_key_v1" in refused.stderr
    assert "could never be decrypted again" in refused.stderr and "--reencrypted" in refused.stderr
    assert repo.read("dev") == before

    confirmed = rotate(repo, "vault_key", "--stack", "dev", "--reencrypted")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert "vault_key: from v1 → v2 swapped to v2 steady" in confirmed.stdout


def test_rotation_that_would_put_a_stack_ahead_of_its_after_stack_is_refused(repo):
    # GIVEN dev and staging both steady at v1 (staging follows dev)
    repo.set_api_key("dev", "current: 1")
    repo.add_value("staging", "api_key_v2")
    before = repo.read("staging")
    # WHEN staging is rotated first
    result = rotate(repo, "api_key", "--stack", "staging")
    # THEN refused, naming the key and the fix
    assert result.exit_code == 2
    assert "secrets-store:secrets.api_key: is ahead of stack 'dev'" in result.stderr
    assert "secretsctl promote --from dev --to staging" in result.stderr
    assert repo.read("staging") == before


def test_rotate_prints_the_plan_diff_and_never_a_secret(repo):
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAy:\S+", f"secure: {CANARY_CIPHERTEXT}")
    result = rotate(repo, "api_key", "--stack", "dev")
    assert result.exit_code == 0, result.stderr
    assert "The next `pulumi up --stack dev` will change" in result.stdout
    assert "`PRIMARY_KEY: dev_api_key_v1 → dev_api_key_v2`" in result.stdout
    assert "**No resource is replaced.**" in result.stdout
    assert CANARY_CIPHERTEXT not in result.output
    assert "Q0FOQVJZ" not in result.output


def test_unknown_secret_is_refused_listing_the_declared_ones(repo):
    result = rotate(repo, "nope", "--stack", "dev")
    assert result.exit_code == 2
    assert "secrets-store:secrets.nope: no such secret in stack 'dev'" in result.stderr
    assert "api_key" in result.stderr


def test_next_option_only_starts_a_rotation(repo):
    result = rotate(repo, "api_key", "--stack", "dev", "--next", "5")
    assert result.exit_code == 2
    assert "--next: only starts a rotation" in result.stderr


def test_next_option_picks_the_new_version(repo):
    repo.sub("dev", r"(    hmac_key:\n      kind: signing_key\n)", r"\1")  # steady, generated
    result = rotate(repo, "hmac_key", "--stack", "dev", "--next", "4")
    assert result.exit_code == 0, result.stderr
    assert "hmac_key: from v1 steady to v1 → v4 fallback" in result.stdout
    assert "dev_hmac_key_v4" in result.stdout


def test_edit_refuses_a_secret_that_is_not_a_mapping():
    text = "config:\n  secrets-store:secrets:\n    api_key: oops\n"
    with pytest.raises(RotationRefused, match=r"secrets.api_key: not a mapping"):
        edit_positions(text, {"api_key": Position(1, "fallback", 2)})
