"""A leaked key: `rotate --emergency --reason` across dev, staging and prod in one change,
and `check --base` accepting that change only with the reason recorded.

Each test works on a temporary git repository holding copies of the example stacks
(tests/workflow_support.py): the base commit is what was deployed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from secretsctl.offline.stackfile import load_stack_config
from tests.workflow_support import Repo, git, secretsctl

pytestmark = pytest.mark.usefixtures("remembered_runs")

STACKS = ("dev", "staging", "prod")
REASON = "INC-42: key pasted in a CI log"


def positions(repo: Repo, secret: str) -> dict[str, str]:
    return {s: load_stack_config(s, repo.path(s)).positions[secret].describe() for s in STACKS}


def emergency(repo: Repo, secret: str, *args: str, reason: str = REASON):
    return secretsctl(
        "rotate", secret, "--emergency", "--reason", reason, "--root", str(repo.root), *args
    )


def check(repo: Repo):
    return secretsctl("check", "--base", "HEAD", "--root", str(repo.root))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    # GIVEN the example stacks, with staging's and prod's new api_key value already set
    # (the vendor issued it: `pulumi config set --secret` in each stack)
    repo = Repo(tmp_path / "repo")
    for stack in ("staging", "prod"):
        repo.add_value(stack, "api_key_v2")
    repo.commit("new api_key values set")
    return repo


def test_three_kinds_rotate_in_every_stack_in_one_change_that_check_accepts(repo):
    for secret in ("api_key", "jwt_key", "vault_key"):
        result = emergency(repo, secret)
        assert result.exit_code == 0, result.output
    # api_key and signing_key: straight to the new version; encryption_key: swapped
    assert positions(repo, "api_key") == dict.fromkeys(STACKS, "v2 steady")
    assert positions(repo, "jwt_key") == dict.fromkeys(STACKS, "v2 steady")
    assert positions(repo, "vault_key") == dict.fromkeys(STACKS, "v1 → v2 swapped")
    for stack in STACKS:
        config = load_stack_config(stack, repo.path(stack))
        for secret in ("api_key", "jwt_key", "vault_key"):
            record = config.secrets[secret].emergency
            assert record is not None and record.reason == REASON, (stack, secret)
            assert record.at is not None
    # one change (one PR): the gate accepts it, with multi-stage jumps in every stack
    result = check(repo)
    assert result.exit_code == 0, result.output
    assert "3 stacks OK against HEAD" in result.stdout


def test_the_same_change_without_the_reason_is_refused(repo):
    for secret in ("api_key", "jwt_key", "vault_key"):
        assert emergency(repo, secret).exit_code == 0
    for stack in STACKS:
        repo.write(stack, re.sub(r"^ +emergency: .*\n", "", repo.read(stack), flags=re.M))
    result = check(repo)
    assert result.exit_code == 2
    refused = result.stderr
    for stack in STACKS:
        assert f"Pulumi.{stack}.yaml: secrets-store:secrets.jwt_key: moved 3 stages" in refused
        assert f"Pulumi.{stack}.yaml: secrets-store:secrets.vault_key: moved 2 stages" in refused
    assert "--emergency --reason" in refused


def test_a_routine_move_may_not_keep_the_bases_emergency_record(repo):
    assert emergency(repo, "jwt_key").exit_code == 0
    repo.commit("emergency merged")
    # WHEN dev starts its next rotation by hand and keeps the emergency line
    repo.set_position("dev", "jwt_key", "current: 2\nnext: 4\nstage: swapped")
    result = check(repo)
    assert result.exit_code == 2
    assert "secrets.jwt_key.emergency: keeps the emergency record of HEAD" in result.stderr
    assert "secrets.jwt_key: moved 2 stages" in result.stderr


def test_an_encryption_key_is_never_deleted_before_its_values_are_reencrypted(repo):
    assert emergency(repo, "vault_key").exit_code == 0
    repo.commit("emergency merged: vault_key swapped everywhere")
    # Running the emergency again without --reencrypted moves nothing and says what to do
    again = emergency(repo, "vault_key")
    assert again.exit_code == 0, again.output
    assert "dev: vault_key is already at the emergency's position (v1 → v2 swapped)" in (
        again.stdout
    )
    assert check(repo).exit_code == 0
    # A hand-made finish with a fresh emergency record but no re-encryption: refused
    for stack in STACKS:
        repo.set_position(stack, "vault_key", "current: 2")
        repo.sub(stack, r"(    vault_key:\n(?:      .*\n)*?)      emergency: .*\n", r"\1")
        record = "emergency: {reason: 'by hand', at: 2030-01-01T00:00Z}"
        repo.add_setting(stack, "vault_key", record)
    result = check(repo)
    assert result.exit_code == 2
    assert "secrets.vault_key.reencrypted: deletes encryption_key version vault_key_v1" in (
        result.stderr
    )
    # With --reencrypted (every value re-encrypted), the emergency finishes it: accepted
    git(repo.root, "checkout", "-q", "--", "stacks")
    # (its own reason, as the README's finish: a record equal to the base's, same reason in
    # the same second, would read as the old one kept)
    done = emergency(repo, "vault_key", "--reencrypted", reason=f"{REASON}: finish")
    assert done.exit_code == 0, done.output
    assert positions(repo, "vault_key") == dict.fromkeys(STACKS, "v2 steady")
    assert "      reencrypted: 2\n" in repo.read("prod")
    assert check(repo).exit_code == 0, check(repo).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--emergency",), "needs both --emergency and --reason, got --emergency alone"),
        (("--reason", "x"), "needs both --emergency and --reason, got --reason alone"),
        (("--emergency", "--reason", "two\nlines"), "--reason: must be one line"),
        (("--emergency", "--reason", "   "), "--reason: must be one line of 1 to 500"),
        (("--emergency", "--reason", "x", "--stack", "nope"), "--stack: no stack file for 'nope'"),
    ],
)
def test_refusals_name_the_option_and_write_nothing(repo, args, message):
    before = {s: repo.read(s) for s in STACKS}
    result = secretsctl("rotate", "jwt_key", *args, "--root", str(repo.root))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert {s: repo.read(s) for s in STACKS} == before


def test_one_stack_in_an_emergency_may_get_ahead_of_the_stack_it_follows(repo):
    # prod alone (the leaked key is prod's): ahead of staging, accepted with the record
    result = emergency(repo, "jwt_key", "--stack", "prod")
    assert result.exit_code == 0, result.output
    assert positions(repo, "jwt_key") == {
        "dev": "v1 steady",
        "staging": "v1 steady",
        "prod": "v2 steady",
    }
    assert check(repo).exit_code == 0, check(repo).output


def test_a_config_secret_without_its_new_value_is_refused_with_the_commands(tmp_path):
    repo = Repo(tmp_path / "repo")
    result = emergency(repo, "api_key")
    assert result.exit_code == 2
    assert "pulumi config set --secret --stack staging secrets-store:api_key_v2" in result.stderr
    assert "pulumi config set --secret --stack prod secrets-store:api_key_v2" in result.stderr
    assert "dev" not in repo.read("dev").split("emergency")[0][-1:]  # nothing written
    assert "emergency:" not in repo.read("dev")


def test_due_history_and_the_timeline_show_the_emergency(repo, tmp_path):
    for secret in ("jwt_key", "vault_key"):
        assert emergency(repo, secret).exit_code == 0
    repo.commit("emergency merged")
    root = ("--root", str(repo.root))
    # due: the encryption_key the emergency left swapped is listed at once, with the reason
    due = secretsctl("due", "--format", "json", *root)
    assert due.exit_code == 1, due.output  # something found
    stuck = {(i["stack"], i["secret"]): i for i in json.loads(due.stdout)["stuck"]}
    assert stuck[("prod", "vault_key")]["emergency"] == REASON
    assert stuck[("prod", "vault_key")]["action"] == (
        "secretsctl rotate vault_key --emergency --reencrypted --reason "
        "'INC-42: key pasted in a CI log'"
    )
    text = secretsctl("due", *root)
    assert "EMERGENCY" in text.stdout  # the reason follows (the table wraps it)
    # history: the span the emergency started carries its reason; the picture outlines it
    svg = tmp_path / "timeline.svg"
    history = secretsctl("history", "--format", "json", "--svg", str(svg), *root)
    assert history.exit_code == 0, history.output
    spans = json.loads(history.stdout)["stacks"]["prod"]["jwt_key"]
    assert [(s["position"], s["emergency"]) for s in spans] == [
        ("v1 steady", None),
        ("v2 steady", REASON),
    ]
    picture = svg.read_text()
    assert 'class="span steady emergency"' in picture
    assert "EMERGENCY: INC-42" in picture


# -- the new form: positions and their records in secrets-store:rotation --------------------


def test_the_new_form_takes_an_emergency_and_its_finish_in_rotation(tmp_path: Path) -> None:
    # GIVEN a project in the new form: the example topology and example stacks, deployed
    from tests.workflow_support import PROJECT_ROOT

    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(
        "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
    )
    (root / "secrets-store.yaml").write_text((PROJECT_ROOT / "secrets-store.yaml").read_text())
    for stack in STACKS:
        source = PROJECT_ROOT / "examples" / "stacks" / f"Pulumi.{stack}.yaml"
        (root / "stacks" / source.name).write_text(source.read_text())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "deployed")

    def run(*args: str):
        return secretsctl(*args, "--cwd", str(root))

    # WHEN vault_key takes the emergency path, then its finish once values are re-encrypted
    moved = run("rotate", "vault_key", "--emergency", "--reason", REASON)
    assert moved.exit_code == 0, moved.output
    text = (root / "stacks" / "Pulumi.prod.yaml").read_text()
    assert re.search(r"    vault_key:\n(      .*\n)*      emergency: \{reason: '?INC-42", text)
    accepted = run("check", "--base", "HEAD")
    assert accepted.exit_code == 0, accepted.output
    git(root, "commit", "-q", "-am", "emergency merged")
    done = run("rotate", "vault_key", "--emergency", "--reencrypted", "--reason", f"{REASON}: done")
    assert done.exit_code == 0, done.output
    # THEN the records live beside the position in rotation, every stack plans, and the
    # gate reads the re-encryption from there
    assert "      reencrypted: 2\n" in (root / "stacks" / "Pulumi.prod.yaml").read_text()
    for stack in STACKS:
        planned = run("plan", "--stack", stack)
        assert planned.exit_code == 0, planned.output
    finished = run("check", "--base", "HEAD")
    assert finished.exit_code == 0, finished.output
