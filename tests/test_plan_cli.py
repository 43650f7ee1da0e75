"""`secretsctl plan`: the README's offline plan contract, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from secretsctl import console
from tests.conftest import CANARY
from tests.workflow_support import bytecode_settings
from tests.workflow_support import secretsctl as in_process

ROOT = Path(__file__).resolve().parent.parent


def example(stack: str) -> str:
    """The shipped example stack file (examples/stacks/: stacks/ is the user's own)."""
    return str(ROOT / "examples" / "stacks" / f"Pulumi.{stack}.yaml")


def secretsctl(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m secretsctl` in a fresh process with a bare environment, as a user runs it
    (the JSON contract and the exit-2 path). The other tests run the same CLI in-process."""
    return subprocess.run(
        [sys.executable, "-m", "secretsctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **bytecode_settings()},
    )


@pytest.fixture(scope="module")
def dev_plan() -> dict:
    result = secretsctl(
        "plan", "--stack", "dev", "--config-file", example("dev"), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_plan_follows_the_design_contract(dev_plan):
    assert dev_plan["stack"] == "dev"
    assert set(dev_plan) >= {"stack", "resources", "secrets", "workers"}
    assert dev_plan["secrets"]["api_key"] == {
        "kind": "api_key",
        "current": 1,
        "next": 2,
        "stage": "fallback",
        "cloudflare_names": ["dev_api_key_v1", "dev_api_key_v2"],
    }
    primary = dev_plan["workers"]["api"]["bindings"]["PRIMARY_KEY"]
    assert primary == {
        "type": "secrets_store_secret",
        "secret_name": "dev_api_key_v1",
        "store_id": dev_plan["store_id"],
    }
    assert dev_plan["workers"]["billing"]["script_name"] == "dev_billing"
    for resource in dev_plan["resources"]:
        assert {"type", "name", "parent", "inputs"} <= set(resource)


def test_every_secret_value_in_the_plan_is_shown_as_secret(dev_plan):
    secrets = [
        r
        for r in dev_plan["resources"]
        if r["type"] == "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
    ]
    # api_key v1 and v2 (mid-rotation), db_config, vault_key, hmac_key, jwt_key, login_clients
    assert len(secrets) == 7
    assert {r["inputs"]["value"] for r in secrets} == {"[secret]"}


def test_text_and_markdown_show_the_same_positions_and_bindings(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console.out, "width", 200)  # as wide as the fresh processes' COLUMNS
    text = in_process("plan", "--stack", "dev", "--config-file", example("dev"), "--format", "text")
    markdown = in_process(
        "plan", "--stack", "dev", "--config-file", example("dev"), "--format", "markdown"
    )
    assert text.exit_code == markdown.exit_code == 0
    for output in (text.stdout, markdown.stdout):
        assert "dev_api_key_v1, dev_api_key_v2" in output
        assert "BILLING_KEY_FALLBACK" in output
    assert "| api_key | api_key | fallback | v1 | v2 | dev_api_key_v1, dev_api_key_v2 |" in (
        markdown.stdout
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_example_stack_plans(stack: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    result = in_process(
        "plan", "--stack", stack, "--config-file", example(stack), "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["stack"] == stack


def test_invalid_config_exits_2_with_one_line_per_problem_and_no_stdout(tmp_path):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        (ROOT / "tests/fixtures/stacks/Pulumi.dev.yaml")
        .read_text()
        .replace("kind: api_key", "kind: password")
        .replace("scopes: [workers]", "scopes: [workers, bogus]")
        # A value pasted in plain text instead of `pulumi config set --secret`:
        + f"  secrets-store:db_config_v2: {CANARY}\n"
    )
    result = secretsctl("plan", "--stack", "dev", "--config-file", str(stack_file))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "secrets-store:secrets.api_key.kind: unknown kind, got 'password' (use one of api_key, "
        "encryption_key, signing_key, json, opaque)",
        "secrets-store:secrets.api_key.scopes: 'bogus' is not a scope (use workers)",
        "secrets-store:db_config_v2: is stored as plain text in the stack file, got an "
        "unencrypted value (run `pulumi config set --secret --stack dev db_config_v2 <value>` to "
        "store it as a secret)",
    ]
    assert CANARY not in result.stderr


def test_a_missing_stack_file_exits_2_and_says_how_to_fix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    result = in_process("plan", "--stack", "nope")
    assert result.exit_code == 2
    assert (
        "Pulumi.nope.yaml: no such stack file (create it, or pass --config-file)" in result.stderr
    )
    assert result.stdout == ""


def test_help_teaches_the_command():
    result = in_process("plan", "--help")
    assert result.exit_code == 0
    assert "--format" in result.stdout and "mock runtime" in result.stdout
