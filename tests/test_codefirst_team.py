"""A team's own code-first project, outside this repository: every command judges what its
program registers, as the YAML front end's stacks are judged.

GIVEN a project of its own in a temporary folder: Pulumi.yaml with `main: infra/__main__.py`
      and `stackConfigDir: envs`; three stacks on two accounts (dev and staging share one
      account under different prefixes, prod has its own and no prefix), read from the
      team's own config keys (`shop:account`, `shop:prefix`); a generated signing key bound
      by two Workers under two binding names; an api_key whose value comes from config
WHEN  the team rotates, promotes, finishes, renames, edits a Worker, references another
      project and breaks its program
THEN  each command answers from the registrations: names, accounts and prefixes as the
      program computes them, never from keys only the YAML front end writes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app

SHARED = "a" * 32  # dev and staging
PROD = "b" * 32

PROJECT = "name: shop\nruntime: python\nmain: infra/__main__.py\nstackConfigDir: envs\n"
PROGRAM = """\
\"\"\"The team's program. Pulumi runs it from infra/, the folder of `main:`.\"\"\"
from pathlib import Path

import pulumi
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

assert Path.cwd().name == "infra", f"run from {Path.cwd()}, not from infra/"

shop = pulumi.Config("shop")
account = shop.require("account")
prefix = shop.get("prefix") or ""

store = SecretsStore("store", account_id=account)
signing = VersionedSecret("signing", store=store, kind="signing_key", generate=True,
                          secret_name="signing_key", name_prefix=prefix)
api_key = VersionedSecret("api", store=store, kind="api_key", secret_name="api_key",
                          name_prefix=prefix)
Worker("edge", account_id=account, script_name=f"{prefix}edge", root="..",
       main_module="workers/edge.js",
       bindings={"SIGNING_KEY": SecretBinding(signing), "API_KEY": SecretBinding(api_key)})
Worker("auth", account_id=account, script_name=f"{prefix}auth", root="..",
       main_module="workers/auth.js", bindings={"JWT_KEY": SecretBinding(signing)})
"""
STACKS = {
    "dev": (SHARED, "dev_", None),
    "staging": (SHARED, "stg_", "dev"),
    "prod": (PROD, "", "staging"),
}


def stack_text(stack: str, rotation: str = "") -> str:
    account, prefix, after = STACKS[stack]
    lines = ["config:", f"  shop:account: '{account}'"]
    lines += [f"  shop:prefix: {prefix}"] if prefix else []
    lines += ["  secrets-store:api_key_v1: {secure: AAABAKhzbm90LWRlY3J5cHRhYmxlLWhlcmU=}"]
    lines += [f"  secrets-store:promotion: {{after: {after}}}"] if after else []
    lines += ["  secrets-store:rotation:", f"    signing_key: {rotation}"] if rotation else []
    return "\n".join(lines) + "\n"


def commit(root: Path, message: str) -> None:
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)


@pytest.fixture
def team(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    for folder in ("infra", "envs", "workers"):
        (root / folder).mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(PROJECT)
    (root / "infra" / "__main__.py").write_text(PROGRAM)
    for worker in ("edge", "auth"):
        (root / "workers" / f"{worker}.js").write_text(
            f"export default {{ fetch() {{ return new Response('{worker} v1'); }} }};\n"
        )
    for stack in STACKS:
        (root / "envs" / f"Pulumi.{stack}.yaml").write_text(stack_text(stack))
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    commit(root, "base")
    return root


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--cwd", str(root)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan(root: Path, stack: str) -> dict:
    code, out, err = run(root, "plan", "--stack", stack, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_the_program_runs_in_its_main_folder_with_the_teams_own_names(team: Path) -> None:
    # The program asserts its working directory: run from the project root, plan would fail.
    dev, prod = plan(team, "dev"), plan(team, "prod")
    assert dev["secrets"]["signing_key"]["cloudflare_names"] == ["dev_signing_key_v1"]
    assert prod["secrets"]["signing_key"]["cloudflare_names"] == ["signing_key_v1"]
    # one version under two binding names, in two Workers
    bound = {
        (worker, binding): fields["secret_name"]
        for worker, summary in dev["workers"].items()
        for binding, fields in summary["bindings"].items()
    }
    assert bound[("edge", "SIGNING_KEY")] == bound[("auth", "JWT_KEY")] == "dev_signing_key_v1"
    code, out, _ = run(team, "check")
    assert code == 0 and "3 stacks OK" in out


def test_an_emergency_pr_is_accepted_by_the_gate(team: Path) -> None:
    code, _, err = run(team, "rotate", "signing_key", "--emergency", "--reason", "INC-4: leaked")
    assert code == 0, err
    for stack in STACKS:  # no stack had a rotation entry: each moved from steady at 1
        text = (team / "envs" / f"Pulumi.{stack}.yaml").read_text()
        assert "emergency: {reason: 'INC-4: leaked'" in text, stack
    code, out, err = run(team, "check", "--base", "HEAD")
    assert code == 0, err
    assert "3 stacks OK against HEAD" in out


def test_promote_moves_a_stack_that_has_no_entry_yet(team: Path) -> None:
    (team / "envs" / "Pulumi.dev.yaml").write_text(
        stack_text("dev", "{current: 1, next: 2, stage: fallback}")
    )
    commit(team, "dev starts a rotation")
    code, _, err = run(team, "promote", "--from", "dev", "--to", "staging", "signing_key")
    assert code == 0, err
    staging = plan(team, "staging")["secrets"]["signing_key"]
    assert (staging["current"], staging["next"], staging["stage"]) == (1, 2, "fallback")
    assert staging["cloudflare_names"] == ["stg_signing_key_v1", "stg_signing_key_v2"]
    code, _, err = run(team, "check", "--base", "HEAD")
    assert code == 0, err


def test_a_finish_is_judged_by_names_and_accounts_as_registered(team: Path) -> None:
    # GIVEN dev swapped, while prod (another account, no prefix) binds signing_key_v1
    (team / "envs" / "Pulumi.dev.yaml").write_text(
        stack_text("dev", "{current: 1, next: 2, stage: swapped}")
    )
    commit(team, "dev swapped")
    # WHEN dev finishes: it deletes dev_signing_key_v1 in the shared account
    code, _, err = run(team, "rotate", "signing_key", "--stack", "dev")
    assert code == 0, err
    # THEN prod's signing_key_v1 (account b..., no prefix) is another secret: accepted
    code, _, err = run(team, "check", "--base", "HEAD")
    assert code == 0, err
    assert "deletes secret version" not in err


def test_two_stacks_of_one_account_registering_one_name_are_refused(team: Path) -> None:
    (team / "envs" / "Pulumi.staging.yaml").write_text(
        stack_text("staging").replace("shop:prefix: stg_", "shop:prefix: dev_")
    )
    code, _, err = run(team, "check")
    assert code == 2
    assert (
        "envs/Pulumi.staging.yaml: program: registers the same Cloudflare names as stack 'dev' "
        f"in account '{SHARED}'"
    ) in err


def test_a_renamed_component_is_refused_with_the_alias_that_keeps_it(team: Path) -> None:
    program = team / "infra" / "__main__.py"
    program.write_text(
        program.read_text().replace('VersionedSecret("signing"', 'VersionedSecret("signer"')
    )
    code, _, err = run(team, "check", "--base", "HEAD")
    assert code == 2
    assert "signing_key_v1: created as signer-v1 while signing-v1 still holds it" in err
    assert 'aliases=[pulumi.Alias(name="signing")]' in err


def test_a_bound_secret_given_a_new_secret_name_is_refused(team: Path) -> None:
    # A new secret_name: every Worker would switch to a freshly drawn key with no fallback
    program = team / "infra" / "__main__.py"
    program.write_text(
        program.read_text().replace('secret_name="signing_key"', 'secret_name="signer"')
    )
    code, _, err = run(team, "check", "--base", "HEAD")
    assert code == 2
    assert (
        "envs/Pulumi.prod.yaml: program: removes or renames secret 'signing_key' (VersionedSecret "
        "signing) while worker auth.JWT_KEY binds signing_key_v1 at HEAD"
    ) in err or "worker edge.SIGNING_KEY binds signing_key_v1 at HEAD" in err
    assert 'keep secret_name="signing_key"' in err


def test_a_bound_secret_moved_to_another_account_is_refused(team: Path) -> None:
    # The same names in a new account: a new secret, drawn afresh, with no fallback stage
    path = team / "envs" / "Pulumi.prod.yaml"
    other = "fedcba9876543210fedcba9876543210"
    path.write_text(path.read_text().replace(PROD, other))
    code, _, err = run(team, "check", "--base", "HEAD")
    assert code == 2, err
    assert (
        "envs/Pulumi.prod.yaml: program: moves secret 'signing_key' (VersionedSecret signing) "
        "to another account while worker edge.SIGNING_KEY binds signing_key_v1 at HEAD, got "
        f"account '{other}' here and '{PROD}' at HEAD (a new account is a new secret with no "
        "fallback stage: keep its account_id, and set up a new stack for the new account "
        "instead)"
    ) in err.splitlines()
    assert len(err.splitlines()) == 2  # api_key too; dev and staging unchanged
    # a base account that is still a placeholder was never deployed: setting it moves nothing
    path.write_text(path.read_text().replace(other, "REPLACE_ME_ACCOUNT_ID"))
    commit(team, "prod not set up yet")
    path.write_text(path.read_text().replace("REPLACE_ME_ACCOUNT_ID", other))
    assert run(team, "check", "--base", "HEAD")[0] == 0


def test_a_worker_code_change_shows_as_an_update(team: Path) -> None:
    module = team / "workers" / "auth.js"
    module.write_text(module.read_text().replace("auth v1", "auth v2"))
    code, out, err = run(team, "diff", "--stack", "prod", "--base", "HEAD", "--format", "json")
    assert code == 0, err
    changed = json.loads(out)
    assert [(r["name"], r["fields"]) for r in changed["update"]] == [("auth-script", ["content"])]


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        (
            'VersionedSecret("db", store=store, kind="json", schema="../schemas/db.schema.json",'
            ' values={1: pulumi.Output.secret(\'{"port": "x"}\')})',
            "VersionedSecret db.values[1]: does not satisfy schema '../schemas/db.schema.json': "
            'port: fails type: "integer"',
        ),
        (
            'VersionedSecret("db", store=store, kind="json", schema="../../db.schema.json",'
            ' values={1: "{}"})',
            "VersionedSecret db.schema: lies outside the project",
        ),
        (
            'VersionedSecret("wrap", store=store, kind="encryption_key", values={1: "c2hvcnQ="})',
            "VersionedSecret wrap.values[1]: a encryption_key must be base64 of 32 random bytes",
        ),
        (
            'VersionedSecret("api2", store=store, kind="api_key", secret_name="api_key",'
            ' name_prefix=prefix, values={1: "x"})',
            "api_key_v1",
        ),
        (
            'VersionedSecret("x", store=store, kind="api_key", rotate_evry="30d", values={1: "x"})',
            "rotate_evry",
        ),
    ],
)
def test_the_components_check_what_the_yaml_path_checks(
    team: Path, declaration: str, expected: str
) -> None:
    (team / "schemas").mkdir()
    (team / "schemas" / "db.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"port": {"type": "integer"}}})
    )
    program = team / "infra" / "__main__.py"
    program.write_text(program.read_text() + declaration + "\n")
    code, out, err = run(team, "plan", "--stack", "dev")
    assert code == 2, out
    assert expected in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err


def test_a_schema_file_value_that_fits_plans(team: Path) -> None:
    (team / "schemas").mkdir()
    (team / "schemas" / "db.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"port": {"type": "integer"}}})
    )
    program = team / "infra" / "__main__.py"
    program.write_text(
        program.read_text()
        + 'VersionedSecret("db", store=store, kind="json", schema="../schemas/db.schema.json", '
        "name_prefix=prefix, values={1: pulumi.Output.secret('{\"port\": 5432}')})\n"
    )
    assert plan(team, "dev")["secrets"]["db"]["cloudflare_names"] == ["dev_db_v1"]


def test_an_error_in_the_program_is_exit_2_with_the_users_own_frame(team: Path) -> None:
    program = team / "infra" / "__main__.py"
    program.write_text(program.read_text() + "{}['missing']\n")
    code, _, err = run(team, "plan", "--stack", "dev")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("infra/__main__.py:") or line.startswith("__main__.py:")
    assert "KeyError" in line and "Traceback" not in err


PLATFORM = f"""\
import pulumi
from secrets_store import SecretsStore, VersionedSecret

store = SecretsStore("store", account_id="{PROD}")
key = VersionedSecret("signing", store=store, kind="signing_key", generate=True,
                      secret_name="platform_signing")
pulumi.export("signing_name", key.cloudflare_names[0])
"""
APPS = f"""\
import pulumi
from secrets_store import Worker

platform = pulumi.StackReference("acme/platform/prod")
Worker("edge", account_id="{PROD}", script_name="apps_edge", main_module="edge.js",
       bindings={{"SIGNING_KEY": {{"type": "secrets_store_secret", "store_id": "s",
                                  "secret_name": platform.require_output("signing_name")}}}})
"""


def two_projects(tmp_path: Path) -> Path:
    for name, program in (("platform", PLATFORM), ("apps", APPS)):
        folder = tmp_path / name
        (folder / "stacks").mkdir(parents=True)
        (folder / "Pulumi.yaml").write_text(
            f"name: {name}\nruntime: python\nstackConfigDir: stacks\n"
        )
        (folder / "__main__.py").write_text(program)
        (folder / "stacks" / "Pulumi.prod.yaml").write_text("config: {}\n")
    (tmp_path / "apps" / "edge.js").write_text(
        "export default { fetch: () => new Response('') };\n"
    )
    return tmp_path / "apps"


def test_a_stack_reference_to_a_project_beside_this_one_is_answered_by_its_plan(
    tmp_path: Path,
) -> None:
    apps = two_projects(tmp_path)
    bindings = plan(apps, "prod")["workers"]["edge"]["bindings"]
    assert bindings["SIGNING_KEY"]["secret_name"] == "platform_signing_v1"


def test_a_stack_reference_answered_from_a_file_the_user_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = two_projects(tmp_path)
    outputs = tmp_path / "platform-prod.json"
    outputs.write_text(json.dumps({"acme/platform/prod": {"signing_name": "from_file_v7"}}))
    monkeypatch.setenv("SECRETSCTL_STACK_OUTPUTS", str(outputs))
    bindings = plan(apps, "prod")["workers"]["edge"]["bindings"]
    assert bindings["SIGNING_KEY"]["secret_name"] == "from_file_v7"
    outputs.write_text("not json")
    code, _, err = run(apps, "plan", "--stack", "prod")
    assert code == 2 and err.strip().startswith("SECRETSCTL_STACK_OUTPUTS: cannot read")


def test_a_stack_reference_nobody_can_answer_is_one_line(tmp_path: Path) -> None:
    apps = two_projects(tmp_path)
    (tmp_path / "platform" / "Pulumi.yaml").write_text("name: platform2\nruntime: python\n")
    code, _, err = run(apps, "plan", "--stack", "prod")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "StackReference acme/platform/prod: no project named 'platform' beside this one" in line
    assert "SECRETSCTL_STACK_OUTPUTS" in line and "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("  secrets-store:promotion: later\n", "secrets-store:promotion: must be a mapping"),
        (
            "  secrets-store:promotion: {after: dev, soak: forever}\n",
            "secrets-store:promotion.soak",
        ),
        (
            "  secrets-store:importIds: {signing_key: [1, 2]}\n",
            "secrets-store:importIds.signing_key",
        ),
    ],
)
def test_a_malformed_contract_key_is_one_line_naming_it(
    team: Path, setting: str, expected: str
) -> None:
    path = team / "envs" / "Pulumi.prod.yaml"
    text = path.read_text()
    path.write_text(
        "\n".join(line for line in text.splitlines() if "promotion" not in line) + "\n" + setting
    )
    code, out, err = run(team, "plan", "--stack", "prod")
    assert code == 2, out
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_two_projects_referencing_each_other_end_in_one_line(tmp_path: Path) -> None:
    apps = two_projects(tmp_path)
    platform = tmp_path / "platform" / "__main__.py"
    platform.write_text(
        platform.read_text().replace(
            "import pulumi\n",
            'import pulumi\npulumi.StackReference("acme/apps/prod").require_output("x")\n',
            1,
        )
    )
    code, _, err = run(apps, "plan", "--stack", "prod")
    assert code == 2
    assert "StackReference" in err and "Traceback" not in err


def test_a_fifo_in_the_project_never_blocks_a_command(team: Path) -> None:
    # `check --base` and `diff --base` compare the project's files by content: a FIFO (or a
    # device) among them is never opened, so nothing waits on a writer that never comes.
    import os
    import sys

    os.mkfifo(team / "workers" / "pipe.js")
    secretsctl = str(Path(sys.executable).parent / "secretsctl")
    for args in (["check", "--base", "HEAD"], ["diff", "--stack", "dev", "--base", "HEAD"]):
        done = subprocess.run(
            [secretsctl, *args, "--cwd", str(team)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode in (0, 2), done.stderr


def test_the_base_is_materialized_every_time_git_archive_is_read(team: Path) -> None:
    # tarfile stops reading at the end-of-archive blocks while git still writes the record's
    # padding: closing the pipe early killed git (SIGPIPE), the base then looked like no
    # project, and the gate planned it with the head's program, passing a rename.
    from secretsctl.offline.gitbase import materialized

    missing = 0
    for _ in range(100):
        with materialized(team, "HEAD") as base:
            missing += base is None or not (base / "infra" / "__main__.py").is_file()
    assert missing == 0


def test_a_git_archive_that_dies_is_refused_never_read_as_no_base(
    team: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from secretsctl.errors import InvalidInput
    from secretsctl.offline.gitbase import materialized

    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = archive ] && kill -PIPE $$; done\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    (shim / "git").chmod(0o755)
    with monkeypatch.context() as patched:
        patched.setenv("PATH", f"{shim}:{Path(shutil.which('git') or '').parent}")
        with (
            pytest.raises(InvalidInput, match=r"--base HEAD: git archive of the base failed"),
            materialized(team, "HEAD"),
        ):
            pass
    # a project folder that did not exist at the ref is no project there, as before
    (team / "later").mkdir()
    with materialized(team / "later", "HEAD") as base:
        assert base is None
