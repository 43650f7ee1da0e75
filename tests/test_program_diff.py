"""`diff --base` and `check --base` judge the program, not only the stack files: the base is
planned with the project as committed at the base ref (its program and Workers' modules).

GIVEN a code-first project committed in git
WHEN  a change renames a VersionedSecret component, or edits a Worker's module
THEN  diff shows what the engine would do (new URNs: creates and deletes; a module: an update),
      check refuses the rename (Cloudflare would refuse one name twice, 1003) naming the alias
      that keeps the old URNs, and passes once the alias is there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from secretsctl.cli import app
from tests.conftest import ACCOUNT

PROGRAM = f'''\
import pulumi
from secrets_store import SecretsStore, VersionedSecret, Worker, SecretBinding

store = SecretsStore("store", account_id="{ACCOUNT}")
key = VersionedSecret("signing", store=store, kind="signing_key", generate=True,
                      secret_name="signing_key")
Worker("edge", account_id="{ACCOUNT}", script_name="edge", main_module="workers/edge.js",
       bindings={{"SIGNING_KEY": SecretBinding(key)}})
'''


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "stacks").mkdir(parents=True)
    (root / "workers").mkdir()
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        f"config:\n  secrets-store:accountId: {ACCOUNT}\n"
    )
    (root / "workers" / "edge.js").write_text(
        "export default { fetch() { return new Response('v1'); } };\n"
    )
    (root / "__main__.py").write_text(PROGRAM)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return root


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--cwd", str(root)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def diff(root: Path) -> dict:
    code, out, err = run(root, "diff", "--stack", "dev", "--base", "HEAD", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_a_renamed_component_is_new_urns_refused_by_check_until_aliased(tmp_path: Path) -> None:
    root = repo(tmp_path)
    assert diff(root)["create"] == [] and diff(root)["delete"] == []
    program = root / "__main__.py"
    program.write_text(
        program.read_text().replace('VersionedSecret("signing"', 'VersionedSecret("signer"')
    )
    changed = diff(root)
    assert {r["name"] for r in changed["create"]} >= {"signer-v1"}
    assert {r["name"] for r in changed["delete"]} >= {"signing-v1"}
    assert [c["secret_name"] for c in changed["name_conflicts"]] == ["signing_key_v1"]
    code, _, err = run(root, "check", "--base", "HEAD")
    assert code == 2
    assert "signing_key_v1: created as signer-v1 while signing-v1 still holds it" in err
    assert 'aliases=[pulumi.Alias(name="signing")]' in err
    # WHEN the alias the line names is added, the engine keeps the state: nothing changes
    program.write_text(
        program.read_text().replace(
            'secret_name="signing_key")',
            'secret_name="signing_key",\n'
            '    opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="signing")]))',
        )
    )
    aliased = diff(root)
    assert (aliased["create"], aliased["delete"], aliased["name_conflicts"]) == ([], [], [])
    code, _, err = run(root, "check", "--base", "HEAD")
    assert code == 0, err


def test_a_changed_worker_module_is_an_update_of_its_script(tmp_path: Path) -> None:
    root = repo(tmp_path)
    module = root / "workers" / "edge.js"
    module.write_text(module.read_text().replace("'v1'", "'v2'"))
    changed = diff(root)
    assert [(r["name"], r["fields"]) for r in changed["update"]] == [("edge-script", ["content"])]


def test_moving_the_stack_folder_is_compared_with_the_files_where_they_were(
    tmp_path: Path,
) -> None:
    # GIVEN a committed stack whose generated key is bound; WHEN a change moves stackConfigDir
    # and, in the same change, the secret's kind: the base is read from the old folder
    root = repo(tmp_path)
    subprocess.run(["git", "-C", str(root), "mv", "stacks", "envs"], check=True)
    pulumi_yaml = root / "Pulumi.yaml"
    pulumi_yaml.write_text(
        pulumi_yaml.read_text().replace("stackConfigDir: stacks", "stackConfigDir: envs")
    )
    program = root / "__main__.py"
    program.write_text(
        program.read_text().replace('VersionedSecret("signing"', 'VersionedSecret("signer"')
    )
    code, out, err = run(root, "check", "--base", "HEAD")
    assert code == 2, out
    assert "envs/Pulumi.dev.yaml: program: signing_key_v1: created as signer-v1" in err


def test_a_gate_with_nothing_to_check_fails(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    code, out, err = run(root, "check")
    assert code == 2 and "stacks OK" not in out
    assert "stackConfigDir: no stack file (Pulumi.<stack>.yaml) in stacks" in err


EMERGENCY_PROGRAM = """\
import pulumi
from secrets_store import SecretsStore, VersionedSecret

config = pulumi.Config("secrets-store")
store = SecretsStore("store", account_id=config.require("accountId"))
VersionedSecret("signing", store=store, kind="signing_key", generate=True,
                secret_name="signing_key", name_prefix=f"{pulumi.get_stack()}_")
"""


def test_a_code_first_projects_emergency_pr_passes_the_gate(tmp_path: Path) -> None:
    # GIVEN three stacks of a program that declares its secret in code (no secrets-store:secrets)
    root = repo(tmp_path)
    (root / "__main__.py").write_text(EMERGENCY_PROGRAM)
    for number, stack in enumerate(("dev", "staging", "prod")):
        account = f"{number}" * 32
        (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            f"config:\n  secrets-store:accountId: '{account}'\n"
            "  secrets-store:rotation:\n    signing_key: {current: 1}\n"
        )
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "three stacks"], check=True)
    # WHEN the leaked key is rotated on the emergency path, every stack in one change
    code, out, err = run(root, "rotate", "signing_key", "--emergency", "--reason", "INC-7: leak")
    assert code == 0, err
    for stack in ("dev", "staging", "prod"):
        assert "emergency:" in (root / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    # THEN the gate reads the records where rotate wrote them, and passes
    code, out, err = run(root, "check", "--base", "HEAD")
    assert code == 0, err
    assert "3 stacks OK against HEAD" in out


def test_promotion_of_a_program_that_exports_no_rotation_reads_what_it_registers(
    tmp_path: Path,
) -> None:
    # GIVEN staging after dev, and a program that declares its secret in code, exporting nothing
    root = repo(tmp_path)
    (root / "__main__.py").write_text(EMERGENCY_PROGRAM)
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        f"config:\n  secrets-store:accountId: '{'1' * 32}'\n"
        "  secrets-store:rotation:\n    signing_key: {current: 1, next: 2, stage: fallback}\n"
    )
    staging = root / "stacks" / "Pulumi.staging.yaml"
    staging.write_text(
        f"config:\n  secrets-store:accountId: '{'2' * 32}'\n"
        "  secrets-store:promotion: {after: dev}\n"
    )
    # THEN a stack behind (no rotation entry: steady at 1) plans, naming no missing output
    code, _, err = run(root, "plan", "--stack", "staging", "--format", "json")
    assert code == 0, err
    # AND one ahead of dev's registered position is refused, by that position
    staging.write_text(
        staging.read_text()
        + "  secrets-store:rotation:\n    signing_key: {current: 1, next: 2, stage: swapped}\n"
    )
    code, _, err = run(root, "plan", "--stack", "staging")
    assert code == 2
    assert "is ahead of stack 'dev'" in err and "no `rotation` output" not in err


def code_first_pair(tmp_path: Path) -> Path:
    """dev mid-rotation, staging after dev with no rotation entry yet (steady at 1)."""
    root = repo(tmp_path)
    (root / "__main__.py").write_text(EMERGENCY_PROGRAM)
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        f"config:\n  secrets-store:accountId: '{'1' * 32}'\n"
        "  secrets-store:rotation:\n    signing_key: {current: 1, next: 2, stage: fallback}\n"
    )
    (root / "stacks" / "Pulumi.staging.yaml").write_text(
        f"config:\n  secrets-store:accountId: '{'2' * 32}'\n"
        "  secrets-store:promotion: {after: dev}\n"
    )
    return root


def test_the_emergency_moves_a_stack_whose_secret_has_no_rotation_entry_yet(tmp_path: Path) -> None:
    # A leaked key is live in staging too: its stack file has no entry, the program has it.
    root = code_first_pair(tmp_path)
    code, _, err = run(root, "rotate", "signing_key", "--emergency", "--reason", "INC-9: leak")
    assert code == 0, err
    staging = (root / "stacks" / "Pulumi.staging.yaml").read_text()
    assert "current: 2" in staging and "emergency: {reason: 'INC-9: leak'" in staging


def test_promote_takes_a_secret_the_program_declares_with_no_rotation_entry(tmp_path: Path) -> None:
    root = code_first_pair(tmp_path)
    code, _, err = run(root, "promote", "--from", "dev", "--to", "staging", "signing_key")
    assert code == 0, err
    staging = (root / "stacks" / "Pulumi.staging.yaml").read_text()
    assert "current: 1\n      next: 2\n      stage: fallback" in staging
