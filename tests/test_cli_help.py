"""`--help` teaches: every command is listed, flags show no `<bool>`, examples use `secretsctl`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from secretsctl.cli import app

runner = CliRunner()
COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]


def test_every_command_is_listed_in_the_top_level_help():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_no_type_and_examples_use_the_installed_command(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "python -m secretsctl" not in result.output
    assert "Example: secretsctl" in result.output


def test_help_paragraphs_flow_to_the_terminal_instead_of_the_sources_line_breaks():
    # The docstring breaks "... the command to set\nit is printed ...": on a terminal the
    # paragraph reads as one, wrapped to its width.
    result = runner.invoke(app, ["rotate", "--help"], env={"COLUMNS": "200"})
    assert "the command to set it is printed and nothing is edited" in result.output


def test_reflowed_joins_paragraph_lines_and_keeps_list_items():
    from secretsctl.console import reflowed

    doc = """First line.

    A paragraph that
    goes on here.

    - one item
      that continues
    - two
    """
    assert reflowed(doc) == (
        "First line.\n\nA paragraph that goes on here.\n\n- one item that continues\n- two"
    )
