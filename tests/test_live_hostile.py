"""`status --live`, `verify --live` and `init` against a hostile stand-in API
(tests/hostile_api.py): every answer ends in exit 0, 1 or 2 (2 in one line), within the
deadline, with nothing raw from the API on the terminal and nothing injected into a file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
import typer
from rich.console import Console

from secretsctl.cli import app
from secretsctl.live.deadline import DEFAULT_DEADLINE_SECONDS
from secretsctl.live.init import MAX_FILE_BYTES, MAX_SECRETS
from secretsctl.live.untrusted import markup, printable
from tests.hostile_api import (
    ACCOUNT_ID,
    MODES,
    TOKEN,
    Account,
    Case,
    Outcome,
    bulk,
    copy_of,
    planned_once,
    run_case,
)

SECRETS_READ = "GET /accounts/{account_id}/secrets_store/stores/{store_id}/secrets"
STORES_READ = "GET /accounts/{account_id}/secrets_store/stores"


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with planned_once() as healthy:
        yield healthy


def run(
    account: Account,
    mode: str,
    command: str,
    where: str | None = None,
    extra: tuple[str, ...] = (),
) -> Outcome:
    return run_case(Case(mode, command, where, extra), copy_of(account))


# ---- malformed answers: one line naming the endpoint and what was wrong ---------------------


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("malformed_json", "invalid json: eof while parsing"),
        ("html", "invalid json: expected value at line 1 column 1"),
        ("null_body", "the body: input should be an object"),
        ("list_body", "the body: input should be an object"),
        ("wrong_types", "result[0].id: input should be a valid string, found int"),
        ("huge_count", "result_info.count: input should be less than or equal to"),
        ("huge_total_pages", "invalid json: number out of range"),
    ],
)
def test_a_malformed_answer_names_the_endpoint_and_the_fault(account, mode, what):
    outcome = run(account, mode, "status", "secrets")
    assert outcome.exit_code == 2, outcome.said
    assert f"Cloudflare API: {SECRETS_READ} answered a malformed body, got" in outcome.stderr
    assert what in outcome.stderr
    assert "hostile-token" not in outcome.stderr


def test_a_store_id_with_a_newline_is_refused_before_it_reaches_a_url_or_a_file(account):
    for command in ("status", "init"):
        outcome = run(account, "newline_store_id", command)
        assert outcome.exit_code == 2 and outcome.stderr.count("\n") == 1, outcome.said
        assert f"{STORES_READ} answered a malformed body" in outcome.stderr
        assert "not a store id" in outcome.stderr
        assert outcome.requests["secrets"] == 0 and outcome.written is None


# ---- statuses: only exactly `active` is active ----------------------------------------------


@pytest.mark.parametrize(
    ("mode", "seen"),
    [
        ("status_disabled", '"disabled"'),
        ("status_ACTIVE", '"ACTIVE"'),
        ("status_null", "null"),
        ("status_empty", '""'),
    ],
)
def test_a_version_whose_status_is_not_exactly_active_is_drift_and_no_go(account, mode, seen):
    # GIVEN every version in a status Cloudflare does not document as active
    status = run(account, mode, "status")
    # THEN status shows version_inactive with the status as seen, and exits 1
    assert status.exit_code == 1, status.said
    assert "version_inactive" in status.stdout and f"has status {seen}" in status.stdout
    # AND verify says NO-GO for it
    verify = run(account, mode, "verify")
    assert verify.exit_code == 1 and "NO-GO" in verify.stdout, verify.said
    assert "blocker version_inactive secrets.api_key.v1" in verify.stdout


def test_the_status_document_carries_the_status_as_seen(account):
    for mode, seen in (("status_null", None), ("status_ACTIVE", "ACTIVE")):
        outcome = run(account, mode, "status", extra=("--format", "json"))
        assert outcome.exit_code == 1, outcome.said
        document = json.loads(outcome.stdout)
        assert document["secrets"]["jwt_key"]["versions"]["1"]["live"] == seen
        assert "version_inactive" in {d["kind"] for d in document["drift"]}


# ---- text from the API on a terminal -----------------------------------------------------------


def test_markup_from_the_api_is_shown_as_text(account):
    outcome = run(account, "markup_names", "status")
    assert outcome.exit_code == 1, outcome.said
    # the binding's secret name and the status, literally (read as markup, they would vanish)
    assert "dev_db_config_v1[bold red]x[/] [/]" in outcome.stdout
    assert 'has status "active[bold red]x[/] [/]"' in outcome.stdout


def test_terminal_escapes_from_the_api_are_shown_escaped_in_text_and_json(account):
    text = run(account, "ansi_names", "status")
    assert "\x1b" not in text.stdout and "\\x1b[31m\\x1b]0;pwned\\x07\\x9b2J\\u202e" in text.stdout
    verify = run(account, "ansi_names", "verify")
    assert "\x1b" not in verify.stdout and "\\u202e" in verify.stdout


def test_the_json_document_escapes_what_the_api_sent(account):
    outcome = run(account, "ansi_names", "status", extra=("--format", "json"))
    assert outcome.exit_code == 1 and outcome.problems == [], outcome.said
    assert "\\u001b[31m" in outcome.stdout  # json.dumps escapes it; the value is intact
    document = json.loads(outcome.stdout)
    assert document["secrets"]["api_key"]["versions"]["1"]["live"].startswith("active\x1b[31m")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain_name-1", "plain_name-1"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),  # ANSI: clear the screen
        ("a\x9b2Jb", "a\\x9b2Jb"),  # the same as one C1 character
        ("a\u202eb\u2066", "a\\u202eb\\u2066"),  # bidi override and isolate
        ("line\nnext\r\u2028", "line\\x0anext\\x0d\\u2028"),
        ("nul\x00", "nul\\x00"),
        ("é ü 中", "é ü 中"),  # letters stay letters
    ],
)
def test_printable_shows_every_control_and_format_character_as_an_escape(text, shown):
    assert printable(text) == shown


def test_printable_cuts_long_text_and_says_how_long_it_was():
    assert printable("9" * 5000) == "9" * 200 + "… (5,000 characters)"


def test_markup_prints_as_the_text_it_was():
    console = Console(record=True, width=200, force_terminal=False)
    hostile = "[bold red]x[/] [/] \\"  # a trailing backslash would escape the closing tag
    console.print(f"[bold]{markup(hostile)}[/]")
    assert console.export_text().rstrip("\n") == hostile


# ---- pages and time ------------------------------------------------------------------------


def test_endless_pages_stop_at_the_cap_saying_how_far_the_read_got(account):
    outcome = run(account, "endless_pages", "status")
    assert outcome.exit_code == 2, outcome.said
    assert "more pages than 50 of 100, got a full page 50 and more to come after reading " \
           "5,000 item(s)" in outcome.stderr  # fmt: skip
    assert outcome.requests["stores"] == 50


def test_a_billion_pages_are_refused_after_the_first(account):
    outcome = run(account, "total_pages_1e9", "init")
    assert outcome.exit_code == 2, outcome.said
    assert "got total_pages 1,000,000,000 after reading 1 page(s)" in outcome.stderr
    assert outcome.requests["stores"] == 1


@pytest.mark.parametrize("mode", ["drip", "stall"])
def test_a_dripping_or_stalled_body_ends_at_the_deadline(account, mode):
    # GIVEN a store list answered at once, then a secret list that sends one byte every
    # 0.3 s (each byte restarts an HTTP read timeout), or its headers and then nothing
    MODES["slow"] = replace(MODES[mode], name="slow", deadline=2.0)
    try:
        outcome = run(account, "slow", "status", "secrets")
    finally:
        del MODES["slow"]
    # THEN the command ends in one line at its deadline (2 s), not minutes later
    assert outcome.exit_code == 2, outcome.said
    assert outcome.stderr.startswith(f"--deadline: 2 s passed before {SECRETS_READ} answered")
    assert outcome.requests == {"stores": 1, "secrets": 1}
    assert 2 <= outcome.seconds < 2 + 1


def test_every_live_command_has_a_deadline_of_60_seconds_by_default():
    command = typer.main.get_command(app)
    for name in ("init", "status", "verify"):
        option = next(p for p in command.commands[name].params if p.name == "deadline")  # type: ignore[attr-defined]
        assert option.default == DEFAULT_DEADLINE_SECONDS == 60
        assert "--deadline" in option.opts
    help_text = typer.testing.CliRunner().invoke(app, ["status", "--help"]).stdout
    assert "--deadline" in help_text and "60" in help_text


# ---- what init writes ------------------------------------------------------------------------


def test_a_kv_title_cannot_add_a_key_to_the_stack_file(account):
    # GIVEN a KV namespace titled "cache\nenvironment: [attacker/prod-secrets]" (and secrets
    # commented the same)
    outcome = run(account, "yaml_injection", "init")
    # THEN the file is written, loads, imports no ESC environment, and shows the title escaped
    assert outcome.exit_code == 0 and outcome.problems == [], outcome.said
    assert outcome.written is not None
    assert "\nenvironment:" not in outcome.written
    assert "#   9a8b7c6d5e4f30211203f4e5d6c7b8a9  dev-cache" in outcome.written
    assert "cache\\x0aenvironment: [attacker/prod-secrets]" in outcome.written
    assert "comment: 'cache\\x0aenvironment: [attacker/prod-secrets]'" in outcome.written


def test_a_nul_in_a_comment_is_written_as_a_visible_escape(account):
    outcome = run(account, "nul_comment", "init")
    assert outcome.exit_code == 0 and outcome.problems == [], outcome.said
    assert outcome.written is not None and "\x00" not in outcome.written
    assert "rotated by ops\\x00 see ticket" in outcome.written.replace("\\\\", "\\")
    assert "its comment held control characters" in outcome.stdout


def test_a_page_of_200000_secrets_writes_100_and_says_so(account):
    # GIVEN one page holding 200,000 versioned secrets (Cloudflare allows 100 per account)
    huge = replace(MODES["huge_page"], account=bulk(200_000), deadline=60.0)
    MODES["huge_page_200k"] = replace(huge, name="huge_page_200k")
    try:
        outcome = run(account, "huge_page_200k", "init")
    finally:
        del MODES["huge_page_200k"]
    # THEN init declares 100 of them, says so, and the file stays small
    assert outcome.exit_code == 0 and outcome.problems == [], outcome.said
    assert re.search(r"Declared the first 100 of 200,0\d\d secrets", outcome.stdout)
    assert outcome.written is not None
    assert len(outcome.written.encode()) < MAX_FILE_BYTES
    assert outcome.written.count("importIds:") == MAX_SECRETS


def test_names_cloudflare_never_gives_are_refused_not_written(account):
    for mode in ("markup_names", "ansi_names", "huge_version_suffix"):
        outcome = run(account, mode, "init")
        assert outcome.exit_code == 2 and outcome.written is None, outcome.said
        assert "answered a secret name Cloudflare never gives" in outcome.stderr
        assert "\x1b" not in outcome.stderr


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://[::1", "CLOUDFLARE_BASE_URL: not a URL, got 'http://[::1'"),
        (
            "http://user:hunter2@127.0.0.1:9/",
            "CLOUDFLARE_BASE_URL: cannot reach http://…@127.0.0.1",
        ),
        ("http://user:hunter2@[::1", "CLOUDFLARE_BASE_URL: not a URL, got 'http://…@[::1'"),
    ],
)
def test_a_bad_base_url_is_one_line_that_never_shows_its_credentials(tmp_path, base_url, message):
    (tmp_path / "stacks").mkdir()
    result = typer.testing.CliRunner().invoke(
        app,
        ["init", "--stack", "qa", "--account-id", ACCOUNT_ID, "--root", str(tmp_path),
         "--deadline", "3"],
        env={"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": base_url},
    )  # fmt: skip
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(message)
    assert "hunter2" not in result.output and TOKEN not in result.output
