"""`secretsctl history`: each secret's versions and stages over time, as a table and an SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.history_support import TODAY, scripted_history
from tests.workflow_support import Repo, secretsctl

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    yield scripted_history(tmp_path_factory.mktemp("scripted") / "repo")


def history(root: Path, *args: str):
    return secretsctl("history", "--today", TODAY, "--root", str(root), *args)


@pytest.fixture(scope="module")
def svg(scripted: Repo, tmp_path_factory: pytest.TempPathFactory) -> ET.Element:
    path = tmp_path_factory.mktemp("svg") / "timeline.svg"
    result = history(scripted.root, "--svg", str(path))
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}." in result.stdout
    return ET.fromstring(path.read_text())


def texts(element: ET.Element, cls: str | None = None) -> list[str]:
    return [
        "".join(t.itertext())
        for t in element.iter(f"{SVG}text")
        if cls is None or t.get("class") == cls
    ]


def test_one_lane_per_stack_in_promotion_order(svg):
    lanes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert [g.get("id") for g in lanes] == ["lane-dev", "lane-staging", "lane-prod"]
    assert [texts(g, "stack") for g in lanes] == [["dev"], ["staging"], ["prod"]]
    for lane in lanes:
        assert texts(lane, "secret") == [
            "api_key",
            "db_config",
            "vault_key",
            "hmac_key",
            "jwt_key",
            "login_clients",
        ]


def test_stages_are_labelled_and_coloured_with_their_durations(svg):
    assert texts(svg, "legend") == ["steady", "fallback", "swapped"]
    dev = next(g for g in svg.iter(f"{SVG}g") if g.get("id") == "lane-dev")
    bars = [r for r in dev.iter(f"{SVG}rect") if (r.get("class") or "").startswith("span")]
    tips = {"".join(r.itertext()).strip() for r in bars}
    # hmac_key's rotation in dev: two days at fallback, five at swapped
    assert (
        "dev hmac_key: v1 → v2 fallback, 2026-02-02 to 2026-02-04 "
        "(2 days; fallback: new version bound as fallback)"
    ) in tips
    assert (
        "dev hmac_key: v1 → v2 swapped, 2026-02-04 to 2026-02-09 "
        "(5 days; swapped: new version primary)"
    ) in tips
    assert {r.get("class") for r in bars} == {"span steady", "span fallback", "span swapped"}
    # where each rotation stands, and how long each stage of the last one took
    summaries = texts(dev, "summary")
    assert "v2 steady 112d; v1 → v2 took fallback 2d, swapped 5d" in summaries
    assert "v1 → v2 swapped 59d; fallback 2d before" in summaries
    # long spans carry their label inside the bar
    assert "v1" in texts(dev, "label steady")


def test_text_and_json_tell_the_same_spans(scripted):
    text = history(scripted.root, "--stack", "dev")
    assert text.exit_code == 0, text.output
    assert "2026-02-02  2026-02-04  2     v1 → v2 fallback" in text.stdout
    assert "dev jwt_key: v1 → v2 swapped 59d; fallback 2d before" in text.stdout
    document = json.loads(history(scripted.root, "--stack", "dev", "--format", "json").stdout)
    assert list(document["stacks"]) == ["dev"]
    spans = document["stacks"]["dev"]["hmac_key"]
    assert [(s["position"], s["start"], s["end"], s["days"]) for s in spans] == [
        ("v1 steady", "2026-01-05", "2026-02-02", 28),
        ("v1 → v2 fallback", "2026-02-02", "2026-02-04", 2),
        ("v1 → v2 swapped", "2026-02-04", "2026-02-09", 5),
        ("v2 steady", "2026-02-09", None, 112),
    ]
