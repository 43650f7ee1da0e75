"""Every path a project's Pulumi.yaml names stays in the project: `main:` and
`stackConfigDir` resolve inside it after following symlinks, `main:` is a Python program,
or the command refuses in one line naming the key, before anything runs or is edited.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app
from tests.conftest import ACCOUNT

CANARY = "canary-Ran-As-Python-7Qz"
STACK_FILE = f"""config:
  secrets-store:accountId: {ACCOUNT}
  secrets-store:secrets:
    api_key: {{kind: api_key, source: generate}}
"""


def project(tmp_path: Path, extra: str) -> Path:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(f"name: shop\nruntime: python\n{extra}")
    (root / "stacks" / "Pulumi.dev.yaml").write_text(STACK_FILE)
    return root


def secretsctl(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--cwd", str(root)], catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def refused(code: int, output: str, key: str) -> None:
    assert code == 2, output
    assert f"{key}:" in output and "Traceback" not in output, output
    assert CANARY not in output, "a file that is no program was run or shown"
    assert len(output.strip().splitlines()) <= 2, output


def test_main_pointing_at_a_text_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    root = project(tmp_path, "main: notes.txt\nstackConfigDir: stacks\n")
    (root / "notes.txt").write_text(f"print({CANARY!r})\nraise SystemExit(3)\n")
    refused(*secretsctl(root, "plan", "--stack", "dev"), "main")


@pytest.mark.parametrize("target", ["/proc/self/environ", "outside"])
def test_main_through_a_symlink_out_of_the_project_is_refused(tmp_path: Path, target: str) -> None:
    root = project(tmp_path, "main: infra/__main__.py\nstackConfigDir: stacks\n")
    (root / "infra").mkdir()
    outside = tmp_path / "elsewhere.py"
    outside.write_text(f"print({CANARY!r})\n")
    (root / "infra" / "__main__.py").symlink_to(outside if target == "outside" else target)
    code, output = secretsctl(root, "plan", "--stack", "dev")
    refused(code, output, "main")
    assert "must stay inside the project" in output


@pytest.mark.parametrize(
    "main", ["/proc/self/environ", "../elsewhere.py", "a" * 5000 + ".py", "infra/" * 900 + "m.py"]
)
def test_main_absolute_outside_or_too_long_is_refused_in_one_line(
    tmp_path: Path, main: str
) -> None:
    root = project(tmp_path, f"main: {main}\nstackConfigDir: stacks\n")
    (tmp_path / "elsewhere.py").write_text(f"print({CANARY!r})\n")
    refused(*secretsctl(root, "plan", "--stack", "dev"), "main")


@pytest.mark.parametrize("folder", ["../elsewhere", "/tmp", "link"])
def test_a_stack_folder_outside_the_project_is_refused_and_nothing_is_edited(
    tmp_path: Path, folder: str
) -> None:
    root = project(tmp_path, f"stackConfigDir: {folder}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Pulumi.dev.yaml").write_text(STACK_FILE)
    (root / "link").symlink_to(elsewhere)
    before = (elsewhere / "Pulumi.dev.yaml").read_bytes()
    for command in (["plan", "--stack", "dev"], ["rotate", "api_key", "--stack", "dev"]):
        refused(*secretsctl(root, *command), "stackConfigDir")
    assert (elsewhere / "Pulumi.dev.yaml").read_bytes() == before


def test_paths_inside_the_project_still_work(tmp_path: Path) -> None:
    root = project(tmp_path, "main: infra/__main__.py\nstackConfigDir: stacks\n")
    (root / "infra").mkdir()
    program = Path(__file__).resolve().parent.parent / "__main__.py"
    (root / "infra" / "__main__.py").write_text(
        program.read_text().replace(
            "Path(__file__).resolve().parent", "Path(__file__).resolve().parent.parent"
        )
    )
    code, output = secretsctl(root, "plan", "--stack", "dev")
    assert code == 0, output
