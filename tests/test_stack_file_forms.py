"""Every stack file Pulumi accepts is edited, or refused in one line: flow style, JSON as
YAML, comments in odd places. `rotate` keeps every other byte, or exits 2 with a message
and leaves the file as it was; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app
from tests.conftest import ACCOUNT

FORMS = {
    "flow": (
        '{config: {secrets-store:accountId: "ACCOUNT", secrets-store:secrets: {api_key: '
        "{kind: api_key, source: generate}}, "
        "secrets-store:rotation: {api_key: {current: 1}}}}\n"
    ).replace("ACCOUNT", ACCOUNT),
    "json": json.dumps(
        {
            "config": {
                "secrets-store:accountId": ACCOUNT,
                "secrets-store:secrets": {"api_key": {"kind": "api_key", "source": "generate"}},
                "secrets-store:rotation": {"api_key": {"current": 1}},
            }
        },
        indent=2,
    )
    + "\n",
    "odd comments": (
        "config: # the stack\n"
        f"  secrets-store:accountId: {ACCOUNT} # account\n"
        "  secrets-store:secrets:\n"
        "    api_key: {kind: api_key, source: generate} # flow inside block\n"
        "  secrets-store:rotation: # positions\n"
        "    # before the entry\n"
        "    api_key:\n"
        "      current: 1 # steady\n"
        "# the end\n"
    ),
}


def run(root: Path, *args: str, stdout_only: bool = False) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--cwd", str(root)], catch_exceptions=False)
    return result.exit_code, result.stdout if stdout_only else result.stdout + result.stderr


@pytest.mark.parametrize("form", list(FORMS))
def test_rotate_edits_or_refuses_in_one_line_and_never_half_writes(
    tmp_path: Path, form: str
) -> None:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    path = root / "stacks" / "Pulumi.dev.yaml"
    path.write_text(FORMS[form])
    code, output = run(root, "rotate", "api_key", "--stack", "dev")
    assert "Traceback" not in output and "AssertionError" not in output, output
    if code == 2:
        assert path.read_text() == FORMS[form], "a refusal leaves the file as it was"
        assert "secrets-store:rotation:" in output
        return
    assert code == 0, output
    text = path.read_text()
    # Edited: the rest kept, and the file still reads as the next stage.
    check, listing = run(root, "plan", "--stack", "dev", "--format", "json", stdout_only=True)
    assert check == 0, listing
    assert json.loads(listing)["secrets"]["api_key"]["stage"] == "fallback"
    if form == "odd comments":
        for line in FORMS[form].splitlines():
            if "current: 1" not in line:
                assert line in text.splitlines(), line


def test_a_folded_secure_value_is_refused_naming_its_line_and_key_never_its_content(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    cipher = "v1:AAAAAAAAAAAAAAAA:CanaryCiphertextQ7zZ"
    text = (
        "config:\n"
        f"  secrets-store:accountId: {ACCOUNT}\n"
        "  secrets-store:secrets:\n"
        "    api_key: {kind: api_key}\n"
        "  secrets-store:rotation:\n"
        "    api_key: {current: 1}\n"
        "  secrets-store:api_key_v1:\n"
        "    secure:\n"
        f"      {cipher}\n"
        "  secrets-store:api_key_v2:\n"
        f"    secure: {cipher}\n"
    )
    path = root / "stacks" / "Pulumi.dev.yaml"
    path.write_text(text)
    code, output = run(root, "rotate", "api_key", "--stack", "dev")
    assert code == 2, output
    assert "line 8 (in secrets-store:api_key_v1)" in output
    assert cipher not in output and "Traceback" not in output
    assert path.read_text() == text


FIRST_RELEASE = (
    "config:\n"
    f"  secrets-store:accountId: {ACCOUNT}\n"
    "  secrets-store:secrets:\n"
    "    api_key: {kind: api_key, source: generate, current: 1, next: 2, stage: fallback}\n"
    "    hmac_key: {kind: signing_key, source: generate}\n"
    "  secrets-store:rotation:\n"
    "    hmac_key: {current: 3}\n"
)


def test_the_first_release_form_is_read_as_todays_once_and_remembers_where_it_is_written(
    tmp_path: Path,
) -> None:
    """One form inside: a position inside `secrets.<S>` is read as `rotation.<S>` where the
    file is decoded; the program is still given the file as `pulumi up` gives it, and where
    the file writes each position is kept for `rotate`'s edit and for messages."""
    from secrets_store.rotation import Position
    from secretsctl.offline.stackfile import load_stack_config
    from secretsctl.rehearse.stages import at_positions

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(FIRST_RELEASE)
    config = load_stack_config("dev", path, topology=None)
    assert config.own_namespace["secrets"]["api_key"] == {"kind": "api_key", "source": "generate"}
    assert config.own_namespace["rotation"] == {
        "api_key": {"current": 1, "next": 2, "stage": "fallback"},
        "hmac_key": {"current": 3},
    }
    assert config.positions["api_key"] == Position(1, "fallback", 2)
    assert json.loads(config.config["secrets-store:secrets"])["api_key"]["stage"] == "fallback"
    assert config.position_key("api_key") == "secrets-store:secrets.api_key"
    assert config.position_key("hmac_key") == "secrets-store:rotation.hmac_key"
    assert config.legacy_form is not None and "api_key" in config.legacy_form
    # a changed copy is in today's form and keeps the provenance
    moved = at_positions(config, {"api_key": Position(1, "swapped", 2)})
    assert moved.positions["api_key"] == Position(1, "swapped", 2)
    assert "current" not in json.loads(moved.config["secrets-store:secrets"])["api_key"]
    assert moved.position_key("api_key") == "secrets-store:secrets.api_key"


def test_a_problem_in_a_moved_position_names_the_key_the_file_writes(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        FIRST_RELEASE.replace("stage: fallback", "stage: sideways")
    )
    code, said = run(root, "plan", "--stack", "dev")
    assert code == 2
    assert "secrets-store:secrets.api_key.stage:" in said
    assert "secrets-store:rotation.api_key" not in said
