"""A reviewer's diff of two offline plans: the base ref's config against the working tree's.

Shows rotation positions, secret versions added and removed, every binding change
per worker (`PRIMARY_KEY: api_key_v1 → api_key_v2`) and resources created,
updated, deleted or replaced. A normal rotation replaces nothing; a replacement
is shown first and loudly. Plans carry no secret values (`[secret]`), so neither
does the diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from secrets_store.errors import SpecError
from secrets_store.rotation import Position
from secretsctl.errors import InvalidInput
from secretsctl.offline.gitbase import base_loader, materialized, verify_ref
from secretsctl.offline.plan import ADOPTED_TYPE, SCRIPT_TYPE, SECRET_TYPE, plan_stack
from secretsctl.offline.references import Loader, directory_loader, run_options
from secretsctl.offline.stackfile import StackConfig, load_stack_config, stack_path
from secretsctl.workflow.render import binding_target, imported_mark, markdown_table, text_table

STORE_TYPE = "cloudflare:index/secretsStore:SecretsStore"
# Inputs Cloudflare cannot change in place: a change deletes and recreates the resource.
REPLACE_FIELDS: dict[str, tuple[str, ...]] = {
    SECRET_TYPE: ("name", "storeId", "accountId"),
    SCRIPT_TYPE: ("scriptName", "accountId"),
    STORE_TYPE: ("accountId", "name"),
    ADOPTED_TYPE: ("name", "store_id", "account_id", "secret_id"),
}
COMPARED: dict[str, tuple[str, ...]] = {
    # An adopted version's provider (secrets_store.adopted) diffs these alone: its pickled
    # code, status and credentials change nothing in Cloudflare.
    ADOPTED_TYPE: ("name", "store_id", "account_id", "secret_id", "scopes", "comment"),
}
NONE = "(none)"


def plan_config(config: StackConfig, load: Loader) -> dict[str, Any]:
    """The offline plan of one stack config, its StackReference answered through `load`."""
    return plan_stack(config.stack, config=config, **run_options(config, load)).document


def stack_diff(
    stack: str, root: Path, base: str, config_file: Path | None = None
) -> dict[str, Any]:
    """The diff of stack `stack` between git ref `base` and the working tree under `root`
    (its file: `config_file`, default the project's).

    Raises `SpecError` (either side invalid), `StackFileError`, `GitRefError`.
    """
    verify_ref(root, base)
    head_config = load_stack_config(stack, config_file or stack_path(root, stack))
    head = plan_config(head_config, directory_loader(head_config.path.parent))
    # The base as it was: its stack file, and its program (a renamed component, a changed
    # Worker module are changes the engine would make, whatever the stack file says).
    files = {stack: config_file} if config_file else None
    note = None
    with materialized(head_config.owner().root, base) as base_root:
        load_base = base_loader(root, base, files, program_root=base_root)
        base_config = load_base(stack)
        try:
            before = plan_config(base_config, load_base) if base_config else None
        except (SpecError, InvalidInput) as exc:
            # The base's own program does not run here: its config, with this program.
            note = f"the base's program did not run ({str(exc).splitlines()[0][:200]}): " + (
                "its stack file is planned with this program"
            )
            load_base = base_loader(root, base, files)
            base_config = load_base(stack)
            before = plan_config(base_config, load_base) if base_config else None
    return {"base": base, **diff_plans(before, head), **({"note": note} if note else {})}


def diff_plans(base: Mapping[str, Any] | None, head: Mapping[str, Any]) -> dict[str, Any]:
    """What deploying `head` over `base` changes (`base` None: a new stack)."""
    base = base or {"resources": [], "secrets": {}, "workers": {}}
    base = {**base, "resources": _aliased(base["resources"], head["resources"])}
    return {
        "stack": head["stack"],
        "new_stack": not base["resources"],
        "secrets": _secret_changes(base["secrets"], head["secrets"]),
        "versions_added": sorted(_names(head) - _names(base)),
        "versions_removed": sorted(_names(base) - _names(head)),
        "versions_imported": _imported_versions(head),
        "bindings": _binding_changes(base["workers"], head["workers"]),
        **_resource_changes(base["resources"], head["resources"]),
        "name_conflicts": _name_conflicts(base["resources"], head["resources"]),
    }


def _aliased(
    base: list[Mapping[str, Any]], head: list[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The base's resources under the URNs head answers to: a head resource whose aliases
    name a base URN is that resource, moved (the engine keeps its state), not a new one."""
    moved = {alias: r["urn"] for r in head for alias in r.get("aliases", ())}
    return [{**r, "urn": moved[r["urn"]]} if r["urn"] in moved else r for r in base]


def _name_conflicts(
    base: list[Mapping[str, Any]], head: list[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Cloudflare secret names created under a new resource while their old resource is
    deleted in the same deploy: a renamed component (new URNs). The engine creates before it
    deletes, and Cloudflare refuses the second secret of one name (1003); a generated
    value would also be drawn again."""

    def by_urn(resources: list[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
        return {
            r["urn"]: (str(r["inputs"].get("name")), r["name"])
            for r in resources
            if r["type"] in (SECRET_TYPE, ADOPTED_TYPE)
        }

    old, new = by_urn(base), by_urn(head)
    deleted = {old[u][0]: old[u][1] for u in set(old) - set(new)}
    return [
        {"secret_name": name, "old": deleted[name], "new": resource}
        for urn, (name, resource) in sorted(new.items())
        if urn not in old and name in deleted
    ]


def name_conflict_line(conflict: Mapping[str, str]) -> str:
    """One line for a name conflict: what Cloudflare would answer, and the fix."""
    old, new = conflict["old"], conflict["new"]
    component = old.rsplit("-v", 1)[0]
    return (
        f"{conflict['secret_name']}: created as {new} while {old} still holds it, got a "
        "renamed component (its resources get new URNs: the engine creates before it deletes "
        "and Cloudflare refuses a second secret of one name, 1003; a generated value would be "
        "drawn again). Keep the old URNs with an alias: "
        f'opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="{component}")])'
    )


def _describe(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return NONE
    return Position(entry["current"], entry["stage"], entry.get("next")).describe()


def _secret_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[dict[str, str]]:
    changes = []
    for name in sorted(set(base) | set(head)):
        before, after = _describe(base.get(name)), _describe(head.get(name))
        if before != after:
            changes.append({"secret": name, "before": before, "after": after})
    return changes


def _names(plan: Mapping[str, Any]) -> set[str]:
    return {n for s in plan["secrets"].values() for n in s["cloudflare_names"]}


def _target(binding: Mapping[str, Any] | None) -> str:
    """What a binding points at, as a reviewer reads it (never a value)."""
    return NONE if binding is None else binding_target(binding)


def _binding_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[dict[str, str]]:
    changes = []
    for worker in sorted(set(base) | set(head)):
        old = (base.get(worker) or {}).get("bindings", {})
        new = (head.get(worker) or {}).get("bindings", {})
        for name in sorted(set(old) | set(new)):
            before, after = _target(old.get(name)), _target(new.get(name))
            if before != after:
                changes.append(
                    {
                        "worker": worker,
                        "binding": name,
                        "before": before,
                        "after": after,
                        "change": f"{name}: {before} → {after}",
                    }
                )
    return changes


def _resource_changes(
    base: list[Mapping[str, Any]], head: list[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """Cloudflare/random resources (and adopted versions) created, deleted, updated in place
    or replaced, by URN."""
    old = {r["urn"]: r for r in base if _changes_cloudflare(r["type"])}
    new = {r["urn"]: r for r in head if _changes_cloudflare(r["type"])}
    update, replace = [], []
    for urn in sorted(set(old) & set(new)):
        # An input the resource ignores (an imported version's value) is never sent: the
        # engine keeps it as it is in state, so it is no change.
        ignored = set(new[urn].get("ignore_changes", ()))
        compared = COMPARED.get(new[urn]["type"])
        before = _compared(old[urn]["inputs"], ignored, compared)
        after = _compared(new[urn]["inputs"], ignored, compared)
        if before == after:
            continue
        fields = [
            f for f in REPLACE_FIELDS.get(new[urn]["type"], ()) if before.get(f) != after.get(f)
        ]
        row = {"type": new[urn]["type"], "name": new[urn]["name"], "urn": urn}
        if fields:
            replace.append({**row, "fields": fields})
        else:
            update.append(
                {
                    **row,
                    "fields": sorted(
                        k for k in set(before) | set(after) if before.get(k) != after.get(k)
                    ),
                }
            )
    added = sorted(set(new) - set(old))
    return {
        "create": [_row(new[u]) for u in added if not new[u].get("imported")],
        "import": [_row(new[u]) for u in added if new[u].get("imported")],
        "delete": [_row(old[u]) for u in sorted(set(old) - set(new))],
        "update": update,
        "replace": replace,
    }


def _changes_cloudflare(type_: str) -> bool:
    """A resource whose create, update or delete is a call to Cloudflare (or draws a key)."""
    return type_ == ADOPTED_TYPE or (":index/" in type_ and "secrets-store:" not in type_)


def _compared(
    inputs: Mapping[str, Any], ignored: set[str], compared: tuple[str, ...] | None
) -> dict[str, Any]:
    return {
        k: v for k, v in inputs.items() if k not in ignored and (compared is None or k in compared)
    }


def _row(resource: Mapping[str, Any]) -> dict[str, str]:
    row = {"type": resource["type"], "name": resource["name"], "urn": resource["urn"]}
    if resource.get("imported"):
        row["imported"] = resource["imported"]
    return row


def _imported_versions(head: Mapping[str, Any]) -> list[str]:
    """Cloudflare names of the versions head adopts (import), each keeping its live value."""
    return sorted(n for s in head["secrets"].values() for n in s.get("imported", {}))


def _counts(diff: Mapping[str, Any]) -> str:
    operations = ("create", "import", "update", "delete", "replace")
    return ", ".join(f"{len(diff.get(op, ()))} to {op}" for op in operations)


def _short(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def render_diff_markdown(diff: Mapping[str, Any]) -> str:
    """The diff as a pull-request comment."""
    title = f"### Rotation diff for stack `{diff['stack']}`"
    if diff.get("base"):
        title += f" (against `{diff['base']}`)"
    parts = [title]
    if diff.get("note"):
        parts.append(f"> [!NOTE]\n> {diff['note']}")
    if diff.get("name_conflicts"):
        lines = "\n".join(f"> - `{name_conflict_line(c)}`" for c in diff["name_conflicts"])
        parts.append(f"> [!CAUTION]\n> **Cloudflare would refuse this deploy:**\n{lines}")
    if diff["replace"]:
        rows = [
            [_short(r["type"]), f"`{r['name']}`", ", ".join(r["fields"])] for r in diff["replace"]
        ]
        parts.append(
            f"> [!CAUTION]\n> **{len(rows)} resource(s) would be REPLACED** (deleted and "
            "created again). A normal rotation replaces nothing: check that this is intended."
        )
        parts.append(markdown_table(["resource", "name", "changed input"], rows))
    else:
        parts.append("**No resource is replaced.**")
    if diff["new_stack"]:
        parts.append("New stack: everything below is created.")
    if diff["secrets"]:
        rows = [[f"`{s['secret']}`", s["before"], s["after"]] for s in diff["secrets"]]
        parts.append(markdown_table(["secret", "before", "after"], rows))
    imported = set(diff.get("versions_imported", ()))
    added = ", ".join(f"`{imported_mark(n, imported)}`" for n in diff["versions_added"]) or "none"
    removed = ", ".join(f"`{n}`" for n in diff["versions_removed"]) or "none"
    parts.append(f"Secret versions added: {added}  \nSecret versions removed: {removed}")
    if diff["bindings"]:
        rows = [[f"`{b['worker']}`", f"`{b['change']}`"] for b in diff["bindings"]]
        parts.append(markdown_table(["worker", "binding change"], rows))
    else:
        parts.append("No binding changes.")
    counts = _counts(diff)
    parts.append(f"Resources: {counts}. Secret values are never shown.")
    return "\n\n".join(parts) + "\n"


def render_diff_text(diff: Mapping[str, Any], console: Console) -> None:
    """The diff for a terminal: the same content as the markdown, as rich tables."""
    against = f" (against {escape(diff['base'])})" if diff.get("base") else ""
    console.print(f"[bold]Rotation diff for stack {escape(diff['stack'])}[/]{against}")
    if diff.get("note"):
        console.print(f"Note: {escape(diff['note'])}")
    for conflict in diff.get("name_conflicts", ()):
        line = escape(name_conflict_line(conflict))
        console.print(f"[bold red]Cloudflare would refuse this deploy:[/] {line}")
    if diff["replace"]:
        console.print(
            f"[bold red]CAUTION: {len(diff['replace'])} resource(s) would be REPLACED[/] "
            "(deleted and created again). A normal rotation replaces nothing: check that this "
            "is intended."
        )
        rows = [[_short(r["type"]), r["name"], ", ".join(r["fields"])] for r in diff["replace"]]
        console.print(text_table(None, ["resource", "name", "changed input"], rows))
    else:
        console.print("No resource is replaced.")
    if diff["new_stack"]:
        console.print("New stack: everything below is created.")
    if diff["secrets"]:
        rows = [[s["secret"], s["before"], s["after"]] for s in diff["secrets"]]
        console.print(text_table("Secrets", ["secret", "before", "after"], rows))
    imported = set(diff.get("versions_imported", ()))
    added = ", ".join(imported_mark(n, imported) for n in diff["versions_added"]) or "none"
    removed = ", ".join(diff["versions_removed"]) or "none"
    console.print(
        f"Secret versions added: {added}\nSecret versions removed: {removed}", markup=False
    )
    if diff["bindings"]:
        rows, last = [], None
        for b in diff["bindings"]:
            rows.append(
                [b["worker"] if b["worker"] != last else "", b["binding"], b["before"], b["after"]]
            )
            last = b["worker"]
        console.print(text_table("Binding changes", ["worker", "binding", "before", "after"], rows))
    else:
        console.print("No binding changes.")
    counts = _counts(diff)
    console.print(f"Resources: {counts}. Secret values are never shown.", markup=False)
