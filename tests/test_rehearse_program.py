"""`secretsctl rehearse --stack` for a program that declares its topology in code (issue 19):
the project test_adopt builds (Pulumi.yaml `main: infra.py`, the components in code, positions
and values from stack config), rehearsed on workerd with this checkout's miniflare and driver
(the in-process CLI: a fresh venv has no node_modules next to the driver)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_adopt import CIPHERTEXTS, write_project
from tests.workflow_support import Result, secretsctl

# The user's worker reads its secret binding with `.get()`; a read that fails answers 500,
# careless enough to put its PRIMARY_KEY value in the error body (never to be printed).
EDGE_READS = """\
import {{ greet }} from "./greet.js";
export default {{
  async fetch(request, env) {{
    try {{
      await env.{binding}.get();
    }} catch {{
      const error = await env.PRIMARY_KEY.get();
      return Response.json({{ error }}, {{ status: 500 }});
    }}
    return new Response(greet());
  }},
}};
"""
MID_ROTATION = "      next: 2\n      stage: fallback\n"
STANDIN_PREFIX = "sk_rehearsal_"  # every generated api_key stand-in starts so


def mid_rotation_project(folder: Path, binding: str) -> Path:
    """The adopt project with api_key at v1 -> v2 fallback and an edge worker reading
    `binding`."""
    write_project(folder)
    stack = folder / "Pulumi.dev.yaml"
    text = stack.read_text()
    moved = text.replace("moves this\n", "moves this\n" + MID_ROTATION, 1)
    assert moved != text
    stack.write_text(moved)
    (folder / "workers" / "edge.js").write_text(EDGE_READS.format(binding=binding))
    return folder


def rehearse(folder: Path) -> tuple[Result, dict]:
    result = secretsctl("rehearse", "--stack", "dev", "--cwd", str(folder), "--json")
    for shown in (result.stdout, result.stderr):
        assert STANDIN_PREFIX not in shown and not any(c in shown for c in CIPHERTEXTS)
    return result, json.loads(result.stdout) if result.stdout else {}


def test_a_program_in_code_rehearses_its_next_stage_with_plain_gets(tmp_path: Path) -> None:
    # GIVEN the program of its own, api_key mid-rotation, a worker that reads PRIMARY_KEY
    folder = mid_rotation_project(tmp_path / "shop-edge", "PRIMARY_KEY")
    # WHEN its next stage is rehearsed
    result, report = rehearse(folder)
    # THEN fallback -> swapped under traffic to the user's worker, none failed, no value shown
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [(r["secret"], r["stage"]) for r in report["stages"]] == [
        ("api_key", "fallback"),
        ("api_key", "swapped"),
    ]
    for row in report["stages"]:
        assert row["requests"] > 0 and row["failures"] == 0, row
    assert [d["what"] for d in report["deploys"]] == ["initial deploy", "update shop_edge"]
    assert (
        "worker shop_edge (edge.js) has no traffic profile: it got plain GET / requests only "
        "(a 5xx answer, or none, counts as a failure)"
    ) in report["notes"]
    assert any("stand-ins" in n and "api_key_v2" in n for n in report["notes"])


def test_a_worker_reading_a_binding_it_lacks_fails_the_rehearsal(tmp_path: Path) -> None:
    # GIVEN the same program, but its worker reads a binding the program never binds
    folder = mid_rotation_project(tmp_path / "shop-edge", "MISSING_KEY")
    # WHEN rehearsed
    result, report = rehearse(folder)
    # THEN every plain GET answered 500 and the rehearsal exits 1, naming the stages
    assert result.exit_code == 1, result.stdout + result.stderr
    failing = report["failing_stages"]
    assert {(f["secret"], f["stage"]) for f in failing} == {
        ("api_key", "fallback"),
        ("api_key", "swapped"),
    }
    for row in failing:
        assert set(row["reasons"]) == {"get: http_500"}, row


def test_a_position_fixed_in_code_is_refused_before_anything_runs(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "fixed", fixed=", current=1")
    result, _ = rehearse(folder)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "secrets-store:rotation.api_key: the program fixes this secret's position in code "
        "(VersionedSecret(..., current=1)), so config cannot move it (remove current/next/stage "
        "from the VersionedSecret call to hand the position to config)"
    ]
