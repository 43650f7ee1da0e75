"""The rotation state machine, as plain functions against the README's rotation table."""

from __future__ import annotations

import pytest

from secrets_store.rotation import (
    Position,
    bound_versions,
    cloudflare_secret_name,
    fallback_binding_name,
    steps_between,
)

# One row per stage of the README's rotation table: (position, live versions, primary, fallback).
TABLE = [
    (Position(1), (1,), 1, None),  # steady: only a; B -> a; F absent
    (Position(1, "fallback", 2), (1, 2), 1, 2),  # fallback: a, b; B -> a; F -> b
    (Position(1, "swapped", 2), (1, 2), 2, 1),  # swapped: a, b; B -> b; F -> a
    (Position(2), (2,), 2, None),  # finished: steady at b
]


@pytest.mark.parametrize(("position", "live", "primary", "fallback"), TABLE)
def test_each_stage_matches_the_design_table(position, live, primary, fallback):
    assert position.live_versions == live
    assert position.primary_version == primary
    assert position.fallback_version == fallback


def test_advance_walks_one_stage_per_deploy_and_back_to_steady():
    positions = [TABLE[0][0]]
    for _ in range(3):
        positions.append(positions[-1].advance())
    assert positions == [row[0] for row in TABLE]


def test_advance_can_start_a_rotation_toward_a_chosen_version():
    assert Position(3).advance(7) == Position(3, "fallback", 7)


@pytest.mark.parametrize(
    ("current", "stage", "next_"),
    [
        (1, "steady", 2),  # next while steady
        (1, "fallback", None),  # rotating without next
        (2, "swapped", 1),  # next not after current
        (1, "bogus", 2),  # unknown stage
    ],
)
def test_impossible_positions_are_refused(current, stage, next_):
    with pytest.raises(ValueError):
        Position(current, stage, next_)


@pytest.mark.parametrize(
    ("before", "after", "steps"),
    [
        (Position(1), Position(1), 0),
        (Position(1), Position(1, "fallback", 2), 1),
        (Position(1), Position(1, "swapped", 2), 2),
        (Position(1), Position(2), 3),  # a whole rotation
        (Position(1, "swapped", 2), Position(2), 1),  # finishing counts as one stage
        (Position(1), Position(2, "fallback", 3), 4),  # across two rotations
        (Position(2), Position(1), None),  # behind
        (Position(1, "swapped", 2), Position(1, "fallback", 2), None),  # going back
    ],
)
def test_steps_between_counts_deploys(before, after, steps):
    assert steps_between(before, after) == steps


def test_ordinal_orders_positions_along_history():
    ordinals = [row[0].ordinal for row in TABLE]
    assert ordinals == sorted(ordinals)


def test_fallback_binding_defaults_to_binding_suffix_and_can_be_named():
    assert fallback_binding_name("BILLING_KEY", None) == "BILLING_KEY_FALLBACK"
    assert fallback_binding_name("PRIMARY_KEY", "FALLBACK_KEY") == "FALLBACK_KEY"


def test_bound_versions_in_swapped_stage_binds_old_version_as_fallback():
    bound = bound_versions("PRIMARY_KEY", "FALLBACK_KEY", Position(1, "swapped", 2))
    assert [(b.binding, b.version, b.role) for b in bound] == [
        ("PRIMARY_KEY", 2, "primary"),
        ("FALLBACK_KEY", 1, "fallback"),
    ]


def test_cloudflare_name_carries_prefix_and_version():
    assert cloudflare_secret_name("stg_", "api_key", 3) == "stg_api_key_v3"
