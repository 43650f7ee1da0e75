"""`secretsctl due`: due secrets and stuck rotations, dated from `since:` or the git history."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretsctl.schedule.due import due_report, stack_items
from tests.history_support import TODAY, commit_on, redate_base, scripted_history
from tests.workflow_support import Repo, secretsctl


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    yield scripted_history(tmp_path_factory.mktemp("scripted") / "repo")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return scripted_history(tmp_path / "repo")


def due(root: Path, *args: str):
    return secretsctl("due", "--root", str(root), *args)


def due_json(root: Path, *args: str) -> dict:
    result = due(root, "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def by_key(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(i["stack"], i["secret"]): i for i in items}


def test_due_and_stuck_from_the_git_history_with_the_exact_next_command(scripted):
    # GIVEN the scripted history, looked at on 2026-06-01
    result = due(scripted.root, "--today", TODAY, "--format", "json")
    # THEN something is due: exit 1
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"due", "stuck"}
    due_items = by_key(document["due"])
    # dev's hmac_key became steady at v2 on 2026-02-09 (git history): 112 days >= 90
    hmac = due_items[("dev", "hmac_key")]
    assert {k: hmac[k] for k in ("kind", "source", "age_days", "every_days", "stage")} == {
        "kind": "signing_key",
        "source": "generate",
        "age_days": 112,
        "every_days": 90,
        "stage": "steady",
    }
    assert hmac["action"] == "secretsctl rotate hmac_key --stack dev"
    assert (hmac["since"], hmac["since_from"]) == ("2026-02-09", "git history")
    # staging's jwt_key (30d, never rotated: dated from the day it was first declared) is
    # behind dev, which is rotating it: the next command promotes staging
    jwt = due_items[("staging", "jwt_key")]
    assert (jwt["age_days"], jwt["since"]) == (147, "2026-01-05")
    assert jwt["action"] == "secretsctl promote --from dev --to staging jwt_key"
    # a config secret's action sets the new version's value first
    api = due_items[("staging", "api_key")]
    assert api["action"] == (
        "pulumi config set --secret --stack staging secrets-store:api_key_v2 && "
        "secretsctl promote --from dev --to staging api_key"
    )
    # prod level with staging: the rotation starts further up
    assert due_items[("prod", "jwt_key")]["action"] == (
        "secretsctl promote --from dev --to staging jwt_key"
    )
    # not due: vault_key (since: 2026-05-20 recorded in dev), prod's hmac_key (84 days)
    assert ("dev", "vault_key") not in due_items and ("prod", "hmac_key") not in due_items
    # stuck: dev's jwt_key swapped since 2026-04-03, api_key at fallback since 2026-05-04
    stuck = by_key(document["stuck"])
    assert set(stuck) == {("dev", "jwt_key"), ("dev", "api_key")}
    assert stuck[("dev", "jwt_key")]["stage"] == "swapped"
    assert stuck[("dev", "jwt_key")]["stage_days"] == 59
    assert stuck[("dev", "jwt_key")]["action"] == "secretsctl rotate jwt_key --stack dev"
    assert stuck[("dev", "api_key")]["stage_days"] == 28


def test_since_in_the_stack_file_wins_over_the_git_history(scripted):
    # dev's vault_key: rotated in May, `since: 2026-05-20` recorded: due a year later
    document = due_json(scripted.root, "--today", "2027-05-20", "--stack", "dev")
    vault = by_key(document["due"])[("dev", "vault_key")]
    assert (vault["since"], vault["since_from"], vault["age_days"]) == (
        "2026-05-20",
        "stack file",
        365,
    )
    assert vault["action"] == "secretsctl rotate vault_key --stack dev"
    assert {i["stack"] for i in document["due"] + document["stuck"]} == {"dev"}


def test_stuck_after_is_configurable(scripted):
    document = due_json(scripted.root, "--today", TODAY, "--stuck-after", "30", "--stack", "dev")
    assert {i["secret"] for i in document["stuck"]} == {"jwt_key"}  # api_key: 28 days


def test_nothing_due_is_exit_0(tmp_path):
    repo = Repo(tmp_path / "repo")
    redate_base(repo, "2026-01-05")
    repo.set_api_key("dev", "current: 1")  # back to steady: nothing mid-rotation
    commit_on(repo, "2026-01-06", "api_key steady")
    result = due(repo.root, "--today", "2026-01-20")
    assert result.exit_code == 0, result.output
    assert "Nothing is due and no rotation is stuck." in result.stdout


def test_text_lists_due_and_stuck_tables_and_each_next_command_once(scripted):
    result = due(scripted.root, "--today", TODAY)
    assert result.exit_code == 1
    text = result.stdout
    assert "Rotation due on 2026-06-01" in text
    assert "Due (" in text and "Stuck (2)" in text
    assert "v1 → v2 swapped" in text
    assert text.count("  secretsctl promote --from dev --to staging jwt_key\n") == 1
    assert "for staging jwt_key, prod jwt_key" in text


def test_a_new_secret_counts_from_the_day_it_was_first_declared(repo):
    # GIVEN bulk_0 declared in a commit of 2026-05-25, bulk_1 declared but not committed
    repo.add_generated_secrets("dev", 1)
    repo.add_setting("dev", "bulk_0", "rotateEvery: 5d")
    commit_on(repo, "2026-05-25", "bulk_0")
    repo.sub(
        "dev",
        r"^  secrets-store:workers:\n",
        "    bulk_1:\n      kind: signing_key\n      source: generate\n      rotateEvery: 1d\n"
        "  secrets-store:workers:\n",
    )
    # WHEN due looks on 2026-06-01
    document = due_json(repo.root, "--today", TODAY, "--stack", "dev")
    items = by_key(document["due"])
    # THEN bulk_0 is 7 days old (git), bulk_1 is new today (age 0): not due
    bulk = items[("dev", "bulk_0")]
    assert (bulk["since"], bulk["since_from"]) == ("2026-05-25", "git history")
    assert bulk["age_days"] == 7
    assert ("dev", "bulk_1") not in items
    report = due_report(repo.root, datetime.date(2026, 6, 1), ["dev"])
    new = next(stack_items(report.configs, "dev", report.today, report.histories))
    assert new.secret == "api_key"
    (bulk_1,) = [
        i
        for i in stack_items(report.configs, "dev", report.today, report.histories)
        if i.secret == "bulk_1"
    ]
    assert (bulk_1.since, bulk_1.since_from, bulk_1.age_days) == (report.today, "new", 0)


def test_a_shallow_clone_is_refused_naming_the_fix(scripted, tmp_path):
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{scripted.root}", str(clone)],
        check=True,
        capture_output=True,
    )
    result = due(clone, "--today", TODAY)
    assert result.exit_code == 2
    assert "a shallow clone" in result.stderr and "fetch-depth: 0" in result.stderr
    assert result.stdout == ""


def test_outside_git_only_recorded_dates_count(tmp_path):
    shutil.copytree(Path(__file__).parent / "fixtures" / "stacks", tmp_path / "stacks")
    (tmp_path / "Pulumi.yaml").write_text(
        "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
    )
    result = due(tmp_path, "--today", TODAY)
    assert result.exit_code == 2
    assert "not a git repository" in result.stderr and "since: YYYY-MM-DD" in result.stderr


def test_invalid_options_are_exit_2(scripted):
    result = due(scripted.root, "--today", "June 1st")
    assert result.exit_code == 2
    assert "--today: must be a date written YYYY-MM-DD, got 'June 1st'" in result.stderr
    result = due(scripted.root, "--stack", "qa")
    assert result.exit_code == 2
    assert "--stack: no stack file for 'qa'" in result.stderr


def test_the_history_fallback_counts_from_the_day_a_change_landed(tmp_path):
    # GIVEN a secret finished in a commit dated later than its first declaration
    repo = Repo(tmp_path / "repo")
    repo.set_api_key("dev", "current: 1")
    git_day = "2025-03-01"
    redate_base(repo, git_day)
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: fallback")
    commit_on(repo, "2025-04-01", "fallback")
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    commit_on(repo, "2025-04-02", "swapped")
    repo.set_api_key("dev", "current: 2")
    commit_on(repo, "2025-04-10", "finished")
    document = due_json(repo.root, "--today", "2025-07-09", "--stack", "dev")
    api = by_key(document["due"])[("dev", "api_key")]
    assert (api["since"], api["age_days"], api["every_days"]) == ("2025-04-10", 90, 90)


def test_a_version_in_history_that_is_not_utf8_is_unreadable_not_guessed(tmp_path):
    # GIVEN a Latin-1 version of dev between two UTF-8 ones
    from secretsctl.schedule.history import stack_history

    repo = Repo(tmp_path / "repo")
    utf8 = repo.read("dev")
    repo.path("dev").write_bytes(utf8.encode() + "# café\n".encode("latin-1"))
    repo.commit("latin-1")
    repo.write("dev", utf8)
    repo.commit("utf-8 again")
    # THEN the loader refuses that version's bytes (it read a U+FFFD guess before)
    snapshots = stack_history(repo.root, "dev", datetime.date.fromisoformat(TODAY))
    assert [s.config is not None for s in snapshots] == [True, False, True]
