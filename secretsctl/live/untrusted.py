"""Text from the Cloudflare API made safe to show: the one way live output prints API strings.

Any string an API answer holds (a name, a status, a title, a comment) may carry terminal
escapes (ANSI `ESC[...`), other C0/C1 controls, line breaks, bidi overrides that reorder
what a reviewer reads (U+202E), or rich markup (`[/]`, `[bold red]`) that would restyle
or break the table it lands in. `printable` shows each such character as a visible
escape and cuts long text; `markup` also escapes rich markup, for text printed with
markup on (tables, coloured lines). JSON output needs neither: `json.dumps` escapes
every non-ASCII and control character.
"""

from __future__ import annotations

import unicodedata

from rich.markup import escape

SHOWN_CHARACTERS = 200
"""API text longer than this is cut: a 5,000-character name helps nobody read a table."""

# Cc: C0, DEL and C1 controls (ESC starts every terminal escape); Cf: format characters,
# bidi overrides and isolates among them; Zl/Zp: line and paragraph separators; Cs: lone
# surrogates (JSON can carry them, a terminal cannot print them).
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _visible(char: str) -> str:
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` as one line of plain text with every control and format character shown as
    an escape (`\\x1b`, `\\u202e`), cut to `limit` characters; for text printed without
    markup (error lines)."""
    text = value if isinstance(value, str) else repr(value)
    cut = len(text) > limit
    shown = "".join(_visible(c) for c in text[:limit])
    return f"{shown}… ({len(text):,} characters)" if cut else shown


def markup(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """`printable(value)` with rich markup escaped, for text printed with markup on."""
    return escape(printable(value, limit))
