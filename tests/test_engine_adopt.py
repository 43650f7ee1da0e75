"""An account that already holds secrets, adopted under the real engine.

GIVEN an account whose store holds `api_key_v1` and `hmac_key_v3`, set by hand long ago
WHEN  `secretsctl init` writes the stack from the account and `pulumi up` deploys it
THEN  nothing is created again and no live value is written: the same secret ids, the same
      modification times, one value write each (the planting);
AND   a later change of an imported version's `comment` in the stack is applied in place,
      still without sending a value (its `scopes` are managed the same way, but a versioned
      secret may only have [workers]).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from secretsctl.offline.plan import ADOPTED_TYPE
from tests.engine_support import (
    ACCOUNT,
    REPO,
    SECRET_TYPE,
    TOKEN,
    EngineProject,
    engine_project,
)

pytestmark = pytest.mark.engine

LIVE = {"api_key_v1": "live-api-value-Zq81vR", "hmac_key_v3": "live-hmac-value-Hw27kT"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProject]:
    # The YAML front end alone: no shared topology, so the stack is what init wrote.
    with engine_project(tmp_path_factory.mktemp("engine-adopt"), files=("__main__.py",)) as p:
        p.server.plant_secret(ACCOUNT, "api_key_v1", LIVE["api_key_v1"], comment="vendor key")
        p.server.plant_secret(ACCOUNT, "hmac_key_v3", LIVE["hmac_key_v3"])
        p.secretsctl("init", "--stack", "qa", "--account-id", ACCOUNT, live=True)
        p.stack_init("qa")
        yield p


def stack_file(project: EngineProject) -> Path:
    return project.root / "stacks" / "Pulumi.qa.yaml"


def untouched(project: EngineProject) -> bool:
    """Each live value is still the one planted, written once (by the planting)."""
    return all(
        project.server.secret_value_writes(ACCOUNT, name) == 1
        and project.server.state.secret_value_matches(ACCOUNT, name, value)
        for name, value in LIVE.items()
    )


def test_init_then_up_imports_every_version_and_creates_nothing(project: EngineProject) -> None:
    before = project.secrets()
    assert set(before) == set(LIVE)
    project.up("qa")
    after = project.secrets()
    assert {n: (s.id, s.modified) for n, s in after.items()} == {
        n: (s.id, s.modified) for n, s in before.items()
    }, "the same secrets, never modified"
    assert untouched(project)
    state = project.export("qa")["deployment"]["resources"]
    imported = {r["outputs"]["name"]: r["id"] for r in state if r["type"] == ADOPTED_TYPE}
    assert imported == {n: s.id for n, s in before.items()}
    assert not [r for r in state if r["type"] == SECRET_TYPE], "no version went through create"
    project.pulumi("preview", "--expect-no-changes", stack="qa")


def test_a_comment_change_of_an_imported_version_is_applied_without_a_value(
    project: EngineProject,
) -> None:
    yaml = YAML()
    path = stack_file(project)
    document = yaml.load(path.read_text())
    secrets = document["config"]["secrets-store:secrets"]
    secrets["api_key"]["comment"] = "partner key, rotated by secretsctl"
    secrets["hmac_key"]["comment"] = "webhook signatures"
    with path.open("w") as out:
        yaml.dump(document, out)
    preview = project.preview_json("qa")
    ops = {
        s["urn"].rsplit("::", 1)[-1]: s["op"]
        for s in preview["steps"]
        if (s.get("newState") or {}).get("type") == ADOPTED_TYPE and s["op"] != "same"
    }
    assert sorted(ops.values()) == ["update", "update"], ops
    project.up("qa")
    live = project.secrets()
    assert live["api_key_v1"].comment == "partner key, rotated by secretsctl"
    assert live["hmac_key_v3"].comment == "webhook signatures"
    assert {s.id: s.scopes for s in live.values()} == {s.id: ["workers"] for s in live.values()}
    assert untouched(project), "the update sent no value"
    project.pulumi("preview", "--expect-no-changes", stack="qa")


def test_the_pull_request_preview_shows_the_engines_diff_with_values_hidden(
    project: EngineProject,
) -> None:
    """scripts/pr-preview.sh, as the pull-request workflow runs it, with the real engine."""
    canary = "canary-value-Pr7vQ2xZ"
    path = stack_file(project)
    text = path.read_text()
    assert "    api_key: {current: 1}\n" in text
    path.write_text(
        text.replace(
            "    api_key: {current: 1}\n", "    api_key: {current: 1, next: 2, stage: fallback}\n"
        )
    )
    project.config_set("qa", "secrets-store:api_key_v2", canary, secret=True)
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "pr-preview.sh"), "qa"],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    comment = done.stdout
    assert "<code>pulumi preview --diff</code> of <b>qa</b>: passed" in comment
    assert "+ cloudflare:index/secretsStoreSecret:SecretsStoreSecret" in comment, comment
    assert "[secret]" in comment
    for hidden in (canary, TOKEN, *LIVE.values()):
        assert hidden not in comment and hidden not in done.stderr


def test_every_call_was_one_cloudflare_documents(project: EngineProject) -> None:
    assert project.server.unrouted == []
