"""The README and docs/ stay true: short enough to read, every page saying who it is for,
every link between them resolving, and every `secretsctl` command they show existing with
the flags they give it.

GIVEN README.md and every page under docs/
WHEN  a command, a flag, a page or a heading is renamed or removed
THEN  the page that still shows the old one fails here, naming the page and the line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m) for m in re.findall(r"(?m)^#{1,6} (.+)$", text)}


def known_commands() -> dict[str, set[str]]:
    """`secretsctl <command>` -> the options it takes (and --help)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import cli_reference
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return {
        path: {o for p in command.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}
        for path, command in cli_reference.commands()
    }


def shown_commands(page: Path) -> Iterator[tuple[int, str]]:
    """(line number, text after `secretsctl`) of every command the page shows: in code
    blocks, and in inline code that starts with `secretsctl `."""
    text = page.read_text()
    for number, line in enumerate(text.splitlines(), 1):
        for span in CODE_SPAN.findall(line):
            if span.startswith("secretsctl "):
                yield number, span
    for block in FENCE.finditer(text):
        first = text[: block.start(1)].count("\n") + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            code = line.split(" #", 1)[0]
            for found in re.finditer(r"(?:^|[\s/])secretsctl (.+)", code):
                yield first + offset, "secretsctl " + found.group(1)


def test_the_readme_reads_in_five_minutes() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md: {len(lines)} lines (at most 250: move a topic to docs/)"


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_every_page_opens_saying_who_it_is_for(page: Path) -> None:
    lines = page.read_text().splitlines()
    assert lines[0].startswith("# "), f"{page.name}: starts with its title"
    assert lines[2].startswith("For "), f"{page.name}:3: opens with 'For <whom>: ...'"


def test_every_link_between_the_pages_resolves() -> None:
    broken = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # https:, mailto:
                file, _, anchor = target.partition("#")
                path = (page.parent / file).resolve() if file else page
                if not path.exists():
                    broken.append(f"{page.relative_to(ROOT)}:{number}: {target}: no such file")
                elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                    broken.append(f"{page.relative_to(ROOT)}:{number}: {target}: no such heading")
    assert broken == []


def test_every_command_shown_exists_with_its_flags() -> None:
    commands = known_commands()
    by_length = sorted(commands, key=len, reverse=True)
    wrong, seen = [], 0
    for page in PAGES:
        for number, shown in shown_commands(page):
            words = re.split(r"\s*(?:&&|\|\||[|;>]|\$\()\s*", shown)[0].split()
            text = " ".join(words)
            command = next((c for c in by_length if text == c or text.startswith(c + " ")), None)
            where = f"{page.relative_to(ROOT)}:{number}: `{shown}`"
            if command is None:
                if len(words) > 1 and not words[1].startswith(("-", "<", "[")):
                    wrong.append(f"{where}: no command {words[1]!r}")
                continue
            seen += 1
            flags = {w.split("=")[0].strip("[]") for w in words if w.lstrip("[").startswith("--")}
            unknown = sorted(f for f in flags if f not in commands[command])
            if unknown:
                wrong.append(f"{where}: {command} has no {', '.join(unknown)}")
    assert wrong == []
    assert seen >= 40, f"only {seen} commands found in the pages: the parser is broken"


def test_the_cli_reference_is_generated_from_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
