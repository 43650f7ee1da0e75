"""docs/cli.md, generated from `secretsctl`'s own commands (their help and options).

Usage: .venv/bin/python scripts/cli_reference.py [--check]
  (no flag) rewrites docs/cli.md; --check exits 1 when the file is not what it would write
  (tests/test_docs.py runs that, so the page never drifts from `--help`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli.md"


def commands() -> Iterator[tuple[str, Any]]:
    """(full command, click command) of every leaf command, in the order `--help` lists them."""
    import typer.main

    from secretsctl.cli import app

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), "secretsctl")


def _cell(text: str) -> str:
    return _escaped(" ".join(text.split())).replace("|", "\\|")


def _escaped(text: str) -> str:
    """Help text as markdown shows it literally (`Pulumi.<stack>.yaml` is no HTML tag)."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render() -> str:
    lines = [
        "# CLI reference",
        "",
        "For looking up a command or a flag: every `secretsctl` command with its options, "
        "generated from the commands themselves (`scripts/cli_reference.py`; "
        "`secretsctl <command> --help` prints the same).",
        "",
    ]
    for path, command in commands():
        lines += [f"## `{path}`", ""]
        help_text = (command.help or "").strip()
        if help_text:
            lines += [_escaped(help_text), ""]
        arguments = [p for p in command.params if not getattr(p, "opts", [""])[0].startswith("-")]
        options = [p for p in command.params if p not in arguments]
        usage = " ".join(
            [
                path,
                *(
                    str(p.name).upper() + ("..." if getattr(p, "nargs", 1) == -1 else "")
                    for p in arguments
                ),
                "[OPTIONS]",
            ]
        )
        lines += [f"Usage: `{usage}`", ""]
        if options:
            lines += ["| option | what it does | default |", "|---|---|---|"]
            for option in options:
                names = ", ".join(f"`{o}`" for o in [*option.opts, *option.secondary_opts])
                default = option.default
                shown = "" if default in (None, False, (), []) else f"`{_cell(str(default))}`"
                if hasattr(default, "value"):
                    shown = f"`{default.value}`"
                lines.append(f"| {names} | {_cell(option.help or '')} | {shown} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print("docs/cli.md: out of date (run scripts/cli_reference.py)", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
