"""`secretsctl diff`: the offline plan of the base ref's config against the working tree's."""

from __future__ import annotations

import json

import pytest

from tests.workflow_support import CANARY_CIPHERTEXT, Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def diff(repo: Repo, stack: str, fmt: str = "json", base: str = "HEAD"):
    return secretsctl(
        "diff", "--stack", stack, "--base", base, "--format", fmt, "--root", str(repo.root)
    )


def diff_json(repo: Repo, stack: str) -> dict:
    result = diff(repo, stack)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_swap_stage_shows_every_binding_change_per_worker_and_replaces_nothing(repo):
    # GIVEN dev at fallback on the base; WHEN the change swaps it
    repo.sub("dev", r"stage: fallback", "stage: swapped")
    document = diff_json(repo, "dev")
    # THEN each binding of api_key, in every worker, changes; versions stay; nothing replaced
    changes = {(b["worker"], b["change"]) for b in document["bindings"]}
    assert changes == {
        ("api", "PRIMARY_KEY: dev_api_key_v1 → dev_api_key_v2"),
        ("api", "FALLBACK_KEY: dev_api_key_v2 → dev_api_key_v1"),
        ("billing", "BILLING_KEY: dev_api_key_v1 → dev_api_key_v2"),
        ("billing", "BILLING_KEY_FALLBACK: dev_api_key_v2 → dev_api_key_v1"),
        ("audited", "API_KEY: dev_api_key_v1 → dev_api_key_v2"),
        ("audited", "API_KEY_FALLBACK: dev_api_key_v2 → dev_api_key_v1"),
        ("legacy", "API_KEY: dev_api_key_v1 → dev_api_key_v2"),
        ("legacy", "API_KEY_FALLBACK: dev_api_key_v2 → dev_api_key_v1"),
    }
    assert document["versions_added"] == [] and document["versions_removed"] == []
    assert document["replace"] == [] and document["create"] == [] and document["delete"] == []
    assert {u["name"] for u in document["update"]} == {
        "api-script",
        "billing-script",
        "audited-script",
        "legacy-script",
    }
    assert document["secrets"] == [
        {"secret": "api_key", "before": "v1 → v2 fallback", "after": "v1 → v2 swapped"}
    ]


def test_starting_a_rotation_adds_the_new_version(repo):
    repo.add_value("staging", "api_key_v2")
    repo.commit("value for v2")
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: fallback")
    document = diff_json(repo, "staging")
    assert document["versions_added"] == ["stg_api_key_v2"]
    assert [c["name"] for c in document["create"]] == ["api_key-v2"]
    assert {
        "worker": "api",
        "binding": "FALLBACK_KEY",
        "before": "(none)",
        "after": "stg_api_key_v2",
        "change": "FALLBACK_KEY: (none) → stg_api_key_v2",
    } in document["bindings"]


def test_finishing_a_rotation_removes_the_old_version(repo):
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("swapped")
    repo.set_api_key("dev", "current: 2")
    document = diff_json(repo, "dev")
    assert document["versions_removed"] == ["dev_api_key_v1"]
    assert [d["name"] for d in document["delete"]] == ["api_key-v1"]
    assert document["replace"] == []


def test_a_replaced_resource_is_reported_loudly(repo):
    # GIVEN a rename of every Cloudflare name (namePrefix): same URNs, new names for
    # 7 secret versions and 8 scripts
    repo.sub("dev", r"namePrefix: dev_", "namePrefix: dev2_")
    result = diff(repo, "dev", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "**15 resource(s) would be REPLACED**" in result.stdout
    assert "A normal rotation replaces nothing" in result.stdout
    assert "| WorkersScript | `api-script` | scriptName |" in result.stdout
    assert "| SecretsStoreSecret | `api_key-v1` | name |" in result.stdout
    assert "No resource is replaced" not in result.stdout


def test_markdown_of_a_normal_stage_says_nothing_is_replaced(repo):
    repo.sub("dev", r"stage: fallback", "stage: swapped")
    result = diff(repo, "dev", "markdown")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("### Rotation diff for stack `dev` (against `HEAD`)")
    assert "**No resource is replaced.**" in result.stdout
    assert "| `api` | `PRIMARY_KEY: dev_api_key_v1 → dev_api_key_v2` |" in result.stdout


def test_a_stack_missing_at_the_base_is_new_and_entirely_created(repo):
    repo.path("qa").write_text(repo.read("staging").replace("stg_", "qa_"))
    document = diff_json(repo, "qa")
    assert document["new_stack"] is True
    assert document["delete"] == [] and document["update"] == [] and document["replace"] == []
    assert "qa_api_key_v1" in document["versions_added"]


def test_diff_never_shows_secret_values_or_ciphertexts(repo):
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAy:\S+", f"secure: {CANARY_CIPHERTEXT}")
    repo.commit("canary")
    repo.sub("dev", r"stage: fallback", "stage: swapped")
    for fmt in ("json", "markdown"):
        result = diff(repo, "dev", fmt)
        assert result.exit_code == 0, result.stderr
        assert CANARY_CIPHERTEXT not in result.output and "Q0FOQVJZ" not in result.output


def test_invalid_working_tree_config_is_exit_2_naming_the_key(repo):
    repo.sub("dev", r"stage: fallback", "stage: sideways")
    result = diff(repo, "dev")
    assert result.exit_code == 2
    assert "secrets-store:secrets.api_key.stage: unknown stage, got 'sideways'" in result.stderr


def test_unknown_base_ref_is_exit_2(repo):
    result = diff(repo, "dev", base="nope")
    assert result.exit_code == 2
    assert "--base: no such git commit, got 'nope'" in result.stderr
