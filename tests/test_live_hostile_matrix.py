"""Every hostile answer (tests/hostile_api.py) against `status --live`, `verify --live`
and `init`: each ends in exit 0, 1 or 2 (2 in one line), within its deadline, with nothing
raw on the terminal and nothing injected into a file. `python -m tests.hostile_api`
prints the same cases as a table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile_api import MODES, Account, cases, copy_of, planned_once, run_case


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with planned_once() as healthy:
        yield healthy


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.id)
def test_each_hostile_answer_is_answered_or_refused_in_one_line_within_the_deadline(account, case):
    # GIVEN an API answering in one hostile way WHEN a live command reads it
    outcome = run_case(case, copy_of(account))
    # THEN no traceback, no hang, nothing raw or injected, and the exit code the mode calls for
    assert outcome.problems == [], outcome.said
    assert outcome.exit_code == MODES[case.mode].expect[case.command], outcome.said
