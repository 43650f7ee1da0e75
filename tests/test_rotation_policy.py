"""Rotation policy in the spec (`rotateEvery`, `since`), and terminal output people read.

`rotateEvery: <N>d` (1-3650) and `since: YYYY-MM-DD` are refused in the usual style when
invalid; `rotate` and `promote` record `since` when they finish; on a terminal they print
tables (markdown stays for --format markdown and CI); one arrow (→) everywhere.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Any

import pytest
from rich.console import Console

from secrets_store.rotation import Position
from secretsctl.offline.stackfile import load_stack_config
from tests.test_spec import parse, refusal
from tests.workflow_support import Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")

BASE: dict[str, Any] = {
    "accountId": "0123456789abcdef0123456789abcdef",
    "secrets": {"api_key": {"kind": "api_key"}},
}


def with_secret(**settings: Any) -> dict[str, Any]:
    namespace = copy.deepcopy(BASE)
    namespace["secrets"]["api_key"].update(settings)
    return namespace


@pytest.mark.parametrize("every", ["1d", "90d", "3650d"])
def test_a_policy_of_1_to_3650_days_is_accepted(every):
    spec = parse(with_secret(rotateEvery=every, since="2026-01-31"), values={"api_key_v1": "x"})
    assert spec.secrets["api_key"].rotate_every == every
    assert spec.secrets["api_key"].since == "2026-01-31"


def test_an_unquoted_yaml_date_is_the_date_it_reads_as():
    spec = parse(with_secret(since=datetime.date(2026, 1, 31)), values={"api_key_v1": "x"})
    assert spec.secrets["api_key"].since == "2026-01-31"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"rotateEvery": "0d"},
            "secrets-store:secrets.api_key.rotateEvery: must be a number of days from 1d to "
            "3650d, got '0d' (for example rotateEvery: 90d)",
        ),
        ({"rotateEvery": "3651d"}, "rotateEvery: must be a number of days from 1d to 3650d"),
        ({"rotateEvery": 90}, "rotateEvery: must be a number of days from 1d to 3650d, got 90"),
        ({"rotateEvery": "3 months"}, "got '3 months' (for example rotateEvery: 90d)"),
        (
            {"since": "2026-02-30"},
            "secrets-store:secrets.api_key.since: must be a date written YYYY-MM-DD, got "
            "'2026-02-30' (the day the current version became steady; `secretsctl rotate` "
            "writes it when a rotation finishes)",
        ),
        ({"since": "yesterday"}, "since: must be a date written YYYY-MM-DD, got 'yesterday'"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_key_and_the_fix(settings, expected):
    assert expected in refusal(with_secret(**settings), values={"api_key_v1": "x"})


def test_plan_refuses_a_bad_policy_in_a_stack_file_with_exit_2(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.sub("dev", r"rotateEvery: 90d", "rotateEvery: 90")
    path = repo.path("dev")
    result = secretsctl("plan", "--stack", "dev", "--config-file", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert "secrets-store:secrets.api_key.rotateEvery: must be a number of days" in result.stderr


def test_the_stack_file_model_reads_the_policy_leniently(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.add_setting("dev", "hmac_key", "since: 2026-03-01")
    repo.sub("dev", r"rotateEvery: 30d", "rotateEvery: often")
    secrets = load_stack_config("dev", repo.path("dev")).secrets
    assert secrets["api_key"].rotate_every == 90 and secrets["api_key"].since is None
    assert secrets["hmac_key"].since == datetime.date(2026, 3, 1)
    assert secrets["jwt_key"].rotate_every is None  # invalid: the program refuses it


def test_promote_records_since_when_it_finishes(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.set_api_key("dev", "current: 2")
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: swapped")
    repo.add_value("staging", "api_key_v2")
    result = secretsctl(
        "promote", "--from", "dev", "--to", "staging", "api_key", "--root", str(repo.root)
    )
    assert result.exit_code == 0, result.output
    entry = repo.read("staging")[slice(*repo.entry("staging", "api_key"))]
    # Quoted: the engine hands an unquoted date to the program as Go's time text.
    assert f"      current: 2\n      since: '{datetime.date.today().isoformat()}'\n" in entry
    check = secretsctl("check", "--root", str(repo.root))
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-12-07", datetime.date(2026, 12, 7)),
        ("2026-12-07 00:00:00 +0000 UTC", datetime.date(2026, 12, 7)),  # unquoted, via the engine
        ("2026-12-07 05:00:00 +0000 UTC", None),  # a moment is not a day
        ("2026-02-30", None),
    ],
)
def test_since_reads_a_date_as_written_and_as_the_engine_hands_it_over(text, day):
    from secrets_store.policy import since_date

    assert since_date(text) == day


def test_a_moment_reads_as_written_and_as_the_engine_hands_it_over():
    from secrets_store.policy import moment_of

    utc = datetime.UTC
    assert moment_of("2026-06-01T06:17:00Z") == datetime.datetime(2026, 6, 1, 6, 17, tzinfo=utc)
    expected = datetime.datetime(2026, 6, 1, 4, 17, tzinfo=utc)
    assert moment_of("2026-06-01 06:17:00 +0200 CEST") == expected
    assert moment_of("2026-06-01 06:17:00 +0000 UTC") == expected.replace(hour=6)
    assert moment_of("2026-06-01 99:17:00 +0000 UTC") is None


# ---- terminal output ----------------------------------------------------------------------------


def test_rotate_prints_tables_with_format_text_and_markdown_otherwise(tmp_path):
    repo = Repo(tmp_path / "repo")
    text = secretsctl(
        "rotate", "api_key", "--stack", "dev", "--format", "text", "--root", str(repo.root)
    )
    assert text.exit_code == 0, text.output
    assert re.search(r"api_key\s+v1 → v2 fallback\s+v1 → v2 swapped", text.stdout)
    assert re.search(r"api\s+FALLBACK_KEY\s+dev_api_key_v2\s+dev_api_key_v1", text.stdout)
    assert "**" not in text.stdout and "|" not in text.stdout and "`PRIMARY" not in text.stdout
    # not a terminal (CI, a pipe): markdown, as before
    markdown = secretsctl("rotate", "api_key", "--stack", "dev", "--root", str(repo.root))
    assert markdown.exit_code == 0, markdown.output
    assert "dev: api_key: from v1 → v2 swapped to v2 steady" in markdown.stdout
    assert "**No resource is replaced.**" in markdown.stdout


def test_on_a_terminal_rotate_defaults_to_tables_unless_ci(tmp_path, monkeypatch):
    from secretsctl.workflow import commands

    monkeypatch.setattr(commands, "out", Console(force_terminal=True, width=120))
    monkeypatch.delenv("CI", raising=False)
    assert commands._as_text(None) is True
    assert commands._as_text(commands.EditFormat.markdown) is False
    monkeypatch.setenv("CI", "true")
    assert commands._as_text(None) is False


def test_diff_accepts_format_text(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.sub("dev", r"stage: fallback", "stage: swapped")
    result = secretsctl(
        "diff", "--stack", "dev", "--base", "HEAD", "--format", "text", "--root", str(repo.root)
    )
    assert result.exit_code == 0, result.output
    assert "Rotation diff for stack dev (against HEAD)" in result.stdout
    assert "No resource is replaced." in result.stdout
    assert re.search(r"billing\s+BILLING_KEY\s+dev_api_key_v1\s+dev_api_key_v2", result.stdout)
    assert "|" not in result.stdout


def test_one_arrow_everywhere():
    assert Position(1, "fallback", 2).describe() == "v1 → v2 fallback"
    assert "->" not in Position(3, "swapped", 4).describe()


@pytest.mark.parametrize("every", ["30d\n", "30d ", " 30d", "030d\n", "0d"])
def test_due_refuses_a_policy_it_cannot_read_instead_of_saying_nothing_is_due(tmp_path, every):
    repo = Repo(tmp_path / "repo")
    repo.sub("dev", r"rotateEvery: 90d", f"rotateEvery: {json.dumps(every)}")
    result = secretsctl("due", "--root", str(repo.root))
    assert result.exit_code == 2, result.output
    assert "secrets-store:secrets.api_key.rotateEvery: must be a number of days" in result.stderr
    assert "Nothing is due" not in result.stdout


@pytest.mark.parametrize("version", ["9007199254740992", "99999999999999999999999"])
def test_a_version_beyond_javascripts_safe_integers_is_refused(tmp_path, version):
    repo = Repo(tmp_path / "repo")
    result = secretsctl(
        "rotate", "api_key", "--stack", "dev", "--next", version, "--root", str(repo.root)
    )
    assert result.exit_code == 2, result.output
    assert "--next" in result.output and "9007199254740991" in result.output
    repo.set_api_key("dev", f"current: {version}")
    plan = secretsctl("plan", "--stack", "dev", "--root", str(repo.root))
    assert plan.exit_code == 2
    assert "api_key.current: input should be less than or equal to 9007199254740991" in (
        plan.stderr
    )
