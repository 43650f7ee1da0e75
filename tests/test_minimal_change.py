"""Each rotation deploy touches exactly the theoretical minimum, by URN, and replaces nothing.

The table and the scenario live in `benchmarks/minimal_change.py`, which the
benchmark also reports from; here each transition of each kind is a case.
"""

from __future__ import annotations

import pytest

from benchmarks.configs import stack_config
from benchmarks.minimal_change import (
    CASES,
    ROTATING,
    SCRIPT_TYPE,
    SECRET_TYPE,
    TRANSITIONS,
    check,
    diff_runs,
    namespace,
    run_stages,
    urn_of,
)
from secretsctl.offline.mockrun import run_program


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{s}" for k, s in CASES])
def reports(request):
    kind, source = request.param
    return check(kind, source)


@pytest.mark.parametrize("index", range(len(TRANSITIONS)), ids=TRANSITIONS)
def test_each_stage_transition_touches_only_the_minimum(reports, index):
    # GIVEN two consecutive stages of one rotation, the second run given the first's state
    report = reports[index]
    actual, minimum = report.actual, report.minimum
    where = f"{report.kind}/{report.source} {report.transition}"
    # THEN created, deleted and changed are exactly the minimum, and nothing is replaced
    assert actual.created == minimum.created, where
    assert actual.deleted == minimum.deleted, where
    assert actual.changed == minimum.changed, where
    assert actual.replaced == set(), where
    assert report.ok


def test_generated_values_of_other_versions_are_kept_across_the_rotation():
    # GIVEN a generated secret rotated all the way
    runs = run_stages("encryption_key", "generate")
    # THEN v1's value never changes while it lives, and steady secrets' values never change
    values = [
        {r.name: r.inputs["value"] for r in run.resources if r.type == SECRET_TYPE} for run in runs
    ]
    assert values[0][f"{ROTATING}-v1"] == values[1][f"{ROTATING}-v1"] == values[2][f"{ROTATING}-v1"]
    assert values[1][f"{ROTATING}-v2"] == values[2][f"{ROTATING}-v2"] == values[3][f"{ROTATING}-v2"]
    assert len({v["steady_generated-v1"]["value"] for v in values}) == 1


def test_the_diff_sees_a_changed_binding_and_a_replacement():
    # GIVEN a stack, then the same stack with a worker binding another secret
    # and the store renamed (an identity input of every secret)
    before_ns = namespace("api_key", "config", "steady", 1, None)
    after_ns = namespace("api_key", "config", "steady", 1, None)
    after_ns["workers"]["vault"]["secrets"]["ENCRYPTION_KEY"] = "steady_key"
    after_ns["namePrefix"] = "other_"
    before = run_program(stack_config(before_ns, stack="dev"))
    after = run_program(stack_config(after_ns, stack="dev"))
    # WHEN they are compared
    diff = diff_runs(before, after)
    # THEN the rebound worker changed, and every renamed secret is a replacement
    assert urn_of(after, SCRIPT_TYPE, "vault-script") in diff.changed
    assert urn_of(after, SECRET_TYPE, f"{ROTATING}-v1") in diff.replaced
    assert diff.created == diff.deleted == set()
