"""Plans and diffs for people: rich tables in a terminal, pipe tables in markdown."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from secrets_store.spec import MAX_SHOWN
from secrets_store.topology import TOPOLOGY_FILE


def binding_target(binding: Mapping[str, Any]) -> str:
    """What a binding points at, as a reviewer reads it (never a value)."""
    kind = str(binding.get("type", ""))
    return {
        "secrets_store_secret": str(binding.get("secret_name", "")),
        "plain_text": "(plain text)",
        "secret_text": "(legacy secret_text)",
        "kv_namespace": f"kv namespace {binding.get('namespace_id', '')}",
        "service": f"service {binding.get('service', '')}",
    }.get(kind, kind)


IMPORTED = "(imported: keeps its live value)"


def imported_mark(name: str, imported: Collection[str]) -> str:
    """A Cloudflare name, marked when the version is adopted (its value is never sent)."""
    return f"{name} {IMPORTED}" if name in imported else name


def plan_rows(plan: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    """(secret rows, worker binding rows) shared by every human format."""
    secrets = [
        [
            name,
            s.get("kind", ""),
            s["stage"],
            f"v{s['current']}",
            f"v{s['next']}" if s.get("next") else "-",
            ", ".join(imported_mark(n, s.get("imported", {})) for n in s["cloudflare_names"]),
        ]
        for name, s in plan["secrets"].items()
    ]
    bindings = []
    for worker, w in plan["workers"].items():
        for index, (binding, b) in enumerate(w["bindings"].items()):
            target = binding_target(b)
            # Name the worker once per group: the table reads as one block per script.
            first = index == 0
            bindings.append(
                [worker if first else "", w["script_name"] if first else "", binding, target]
            )
    return secrets, bindings


SECRET_HEADERS = ["secret", "kind", "stage", "current", "next", "cloudflare secrets"]
BINDING_HEADERS = ["worker", "script", "binding", "points at"]


def resource_counts(plan: dict[str, Any]) -> str:
    counts = Counter(r["type"].rsplit(":", 1)[-1] for r in plan["resources"])
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))


def render_plan_text(plan: dict[str, Any], console: Console) -> None:
    secrets, bindings = plan_rows(plan)
    console.print(f"[bold]Plan for stack {plan['stack']}[/]  store {plan['store_id']}")
    for title, headers, rows in (
        ("Secrets", SECRET_HEADERS, secrets),
        ("Worker bindings", BINDING_HEADERS, bindings),
    ):
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(f"Resources: {resource_counts(plan)}. Secret values are never shown.")
    for line in placeholder_lines(plan):
        console.print(f"[yellow]{line}[/]", markup=True, highlight=False)
    for line in override_lines(plan):
        console.print(line, markup=False, highlight=False)


def placeholder_lines(plan: dict[str, Any]) -> list[str]:
    """A warning per key that still holds a shipped placeholder (never a secret)."""
    found = plan.get("placeholders") or []
    if not found:
        return []
    return [
        f"{len(found)} key(s) still hold example placeholders; `pulumi up` refuses them:",
        *(f"  {line}" for line in found),
    ]


def override_lines(plan: dict[str, Any]) -> list[str]:
    """One line per setting the stack adds to or changes in secrets-store.yaml."""
    found = plan.get("overrides") or []
    if not found:
        return []
    return [
        f"{len(found)} setting(s) of this stack override {TOPOLOGY_FILE}:",
        *(
            f"  {o['key']}: {_setting(o['stack'])}"
            + (" (added)" if o["topology"] is None else f" (topology: {_setting(o['topology'])})")
            for o in found
        ),
    ]


def _setting(value: Any) -> str:
    """A plain config setting in one short line (overrides hold no secret values)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _quoted(lines: list[str]) -> list[str]:
    return ["\n".join(f"> {line}" for line in lines)] if lines else []


def render_plan_markdown(plan: dict[str, Any]) -> str:
    secrets, bindings = plan_rows(plan)
    return (
        "\n\n".join(
            [
                f"### Plan for stack `{plan['stack']}`",
                markdown_table(SECRET_HEADERS, secrets),
                markdown_table(BINDING_HEADERS, bindings),
                f"Resources: {resource_counts(plan)}. Secret values are never shown.",
                *_quoted(placeholder_lines(plan)),
                *_quoted(override_lines(plan)),
            ]
        )
        + "\n"
    )


def text_table(title: str | None, headers: list[str], rows: list[list[str]]) -> Table:
    """A compact rich table for a terminal (the text form of a markdown pipe table)."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    return table
