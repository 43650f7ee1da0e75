"""`secretsctl migrate` and the topology-once form: lossless, idempotent, comments kept,
overrides shown by `plan`, and one legacy notice per command run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from secretsctl.offline.plan import plan_stack
from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config, stack_path
from tests.workflow_support import secretsctl

FIXTURES = Path(__file__).parent / "fixtures" / "stacks"
STACKS = ("dev", "staging", "prod")


def project(tmp_path: Path) -> Path:
    """A project holding copies of today's three stack files (legacy form, no topology)."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root / "stacks")
    shutil.copy(SOURCE_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    return root


def plans(root: Path) -> dict[str, dict[str, Any]]:
    return {
        s: plan_stack(s, config=load_stack_config(s, stack_path(root, s))).document for s in STACKS
    }


def secure_lines(text: str) -> list[str]:
    return re.findall(r"^\s+secure: .*$", text, flags=re.M)


def test_migrate_keeps_every_plan_resource_for_resource_and_a_second_run_changes_nothing(
    tmp_path,
):
    root = project(tmp_path)
    before = {s: stack_path(root, s).read_text() for s in STACKS}
    planned = plans(root)

    result = secretsctl("migrate", "--cwd", str(root))
    assert result.exit_code == 0, result.output
    assert "created secrets-store.yaml" in result.stdout
    assert "Note:" not in result.stderr  # migrate itself is what the notice points at

    after = {s: stack_path(root, s).read_text() for s in STACKS}
    migrated = plans(root)
    for stack in STACKS:
        # THEN each stack deploys exactly what it did (the stack's own values are stand-ins
        # offline, so nothing generated differs either)
        assert migrated[stack]["resources"] == planned[stack]["resources"], stack
        assert migrated[stack]["secrets"] == planned[stack]["secrets"], stack
        # AND its secure values are byte-identical, its header comment kept
        assert secure_lines(after[stack]) == secure_lines(before[stack])
        assert after[stack].splitlines()[0] == before[stack].splitlines()[0]
        # AND it holds no topology any more: positions are in rotation, modules shared
        config = load_stack_config(stack, stack_path(root, stack))
        assert config.legacy_form is None
        assert "module:" not in after[stack]
        assert "secrets-store:rotation:" in after[stack]
    # Comments on settings that stay, and on positions that move, survive
    assert "# steady: dev is one stage ahead, as it should be" in after["staging"]
    assert "# prod may never be ahead of staging's rotation" in after["prod"]
    topology = (root / "secrets-store.yaml").read_text()
    assert '# seed "Secret Rotation" + "JSON Secret Parsing"' in topology
    assert "module: workers/api.js" in topology and "current:" not in topology
    # What differs stays in the stack, as an explicit override
    assert "CACHE: REPLACE_ME_PROD_KV_NAMESPACE_ID" in after["prod"]
    assert "rotateEvery: 180d" in after["staging"]

    again = secretsctl("migrate", "--cwd", str(root))
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.stdout
    assert {s: stack_path(root, s).read_text() for s in STACKS} == after
    assert (root / "secrets-store.yaml").read_text() == topology


def test_dry_run_shows_the_rewrite_and_writes_nothing(tmp_path):
    root = project(tmp_path)
    before = {s: stack_path(root, s).read_text() for s in STACKS}
    result = secretsctl("migrate", "--cwd", str(root), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+++ " + str(root / "secrets-store.yaml") in result.stdout
    assert "+  secrets-store:rotation:" in result.stdout
    assert "4 file(s) would change" in result.stdout
    assert not (root / "secrets-store.yaml").exists()
    assert {s: stack_path(root, s).read_text() for s in STACKS} == before


def test_shapes_the_topology_cannot_express_are_refused_naming_the_keys(tmp_path):
    root = project(tmp_path)
    path = stack_path(root, "staging")
    text = path.read_text()
    # staging binds BILLING_KEY with the long form, dev and prod with the short one
    path.write_text(text.replace("BILLING_KEY: api_key", "BILLING_KEY: {secret: api_key}", 1))
    result = secretsctl("migrate", "--cwd", str(root))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.dev.yaml: secrets-store:workers.billing.secrets.BILLING_KEY: is not a "
        "mapping here but a mapping in stacks/Pulumi.staging.yaml, got different shapes "
        "(write it the same way in every stack, for example the short binding `api_key` as "
        "`{secret: api_key}`, then run migrate again)"
    ]
    assert not (root / "secrets-store.yaml").exists()


def test_plan_shows_each_override_in_every_format(tmp_path):
    root = project(tmp_path)
    assert secretsctl("migrate", "--cwd", str(root)).exit_code == 0
    prod = ("--cwd", str(root), "-s", "prod")
    document = json.loads(secretsctl("plan", *prod, "-f", "json").stdout)
    overrides = {o["key"]: o for o in document["overrides"]}
    assert overrides["secrets-store:secrets.db_config.rotateEvery"] == {
        "key": "secrets-store:secrets.db_config.rotateEvery",
        "topology": None,
        "stack": "180d",
    }
    # A piece every stack sets differently is the stack's own, whole
    assert overrides["secrets-store:workers.vault.kv"]["stack"] == {
        "CACHE": "REPLACE_ME_PROD_KV_NAMESPACE_ID"
    }
    text = secretsctl("plan", *prod).stdout
    assert f"{len(overrides)} setting(s) of this stack override secrets-store.yaml:" in text
    assert "  secrets-store:secrets.db_config.rotateEvery: 180d (added)" in text
    markdown = secretsctl("plan", *prod, "-f", "markdown").stdout
    assert ">   secrets-store:secrets.db_config.rotateEvery: 180d (added)" in markdown


def test_a_stack_may_override_a_topology_setting_and_the_program_deploys_it(tmp_path):
    root = project(tmp_path)
    assert secretsctl("migrate", "--cwd", str(root)).exit_code == 0
    path = stack_path(root, "staging")
    path.write_text(
        path.read_text().replace(
            "  secrets-store:workers:\n",
            "  secrets-store:workers:\n    api:\n      vars:\n        UPSTREAM_URL: https://staging.example.com\n",
        )
    )
    document = plan_stack("staging", config=load_stack_config("staging", path)).document
    (api,) = [r for r in document["resources"] if r["name"] == "api-script"]
    bindings = {b["name"]: b for b in api["inputs"]["bindings"]}
    assert bindings["UPSTREAM_URL"]["text"] == "https://staging.example.com"
    assert bindings["PRIMARY_KEY"]["type"] == "secrets_store_secret"  # the rest is shared
    assert {
        "key": "secrets-store:workers.api.vars",
        "topology": None,
        "stack": {"UPSTREAM_URL": "https://staging.example.com"},
    } in document["overrides"]


def test_a_malformed_topology_is_refused_in_one_line_naming_the_file_and_key(tmp_path):
    root = project(tmp_path)
    assert secretsctl("migrate", "--cwd", str(root)).exit_code == 0
    topology = root / "secrets-store.yaml"
    topology.write_text(
        topology.read_text().replace("    kind: api_key\n", "    kind: api_key\n    current: 2\n")
    )
    result = secretsctl("plan", "--cwd", str(root), "-s", "dev")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "secrets-store.yaml: secrets.api_key.current: is a rotation position, got it in the "
        "topology (positions are per stack: set secrets-store:rotation.api_key.current in each "
        "stack file)"
    ]
    topology.write_bytes(b"secrets: {a: \xff}\n")
    result = secretsctl("plan", "--cwd", str(root), "-s", "dev")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "secrets-store.yaml: not UTF-8 text" in result.stderr
    topology.write_text("secrets: &a [*a]\n")
    result = secretsctl("plan", "--cwd", str(root), "-s", "dev")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_a_position_in_rotation_and_another_inside_secrets_is_refused_naming_both(tmp_path):
    root = project(tmp_path)
    path = stack_path(root, "dev")
    path.write_text(path.read_text() + "  secrets-store:rotation:\n    api_key: {current: 3}\n")
    result = secretsctl("plan", "--cwd", str(root), "-s", "dev")
    assert result.exit_code == 2
    assert (
        "secrets-store:rotation.api_key.current: disagrees with secrets.api_key.current, got 3 "
        "here and 1 there (keep the position in rotation only: remove "
        "secrets.api_key.current)" in result.stderr
    )


def test_a_legacy_stack_prints_one_notice_per_command_run(tmp_path):
    root = project(tmp_path)
    result = secretsctl("check", "--root", str(root))
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "legacy form" in line]
    assert len(notes) == 1  # three legacy stacks, dozens of secrets: one line
    assert "`secretsctl migrate`" in notes[0]
    # A command refusing its input keeps stderr to its problems, one line each
    path = stack_path(root, "dev")
    path.write_text(path.read_text().replace("kind: api_key", "kind: bogus", 1))
    refused = secretsctl("plan", "--cwd", str(root), "-s", "dev")
    assert refused.exit_code == 2 and "legacy form" not in refused.stderr
    # And after migrate, no notice at all
    path.write_text(path.read_text().replace("kind: bogus", "kind: api_key", 1))
    assert secretsctl("migrate", "--cwd", str(root)).exit_code == 0
    assert "legacy form" not in secretsctl("check", "--root", str(root)).stderr
