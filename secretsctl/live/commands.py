"""`secretsctl init`, `status --live` and `verify --live`: the live account, read-only.

Credentials exactly as Cloudflare's Python library takes them: `CLOUDFLARE_API_TOKEN`,
and `CLOUDFLARE_BASE_URL` when set. Exit codes: 0 ok, 1 drift found or not safe to
advance, 2 invalid config, no token, token refused, API unreachable.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from secretsctl.console import (
    EXIT_FAILED,
    ConfigFileOption,
    CwdOption,
    Format,
    RootOption,
    StackOption,
    exits,
    fail_invalid,
    out,
    project_of,
    stack_project,
)

LiveOption = Annotated[
    bool,
    typer.Option(
        "--live",
        hidden=True,  # the default and only mode: accepted for scripts written when required
        help="Read the live account (the default: these commands have no offline mode).",
    ),
]
StatusFormat = Annotated[
    Format, typer.Option("--format", "-f", help="text for people, json for tools.")
]


@exits
def init(
    stack: StackOption,
    account_id: Annotated[
        str, typer.Option("--account-id", help="The Cloudflare account (32 hex characters).")
    ],
    name_prefix: Annotated[
        str, typer.Option("--name-prefix", help="Only secrets named <prefix><name>_v<N>.")
    ] = "",
    store_name: Annotated[
        str, typer.Option("--store-name", help="The store to adopt when the account has several.")
    ] = "default_secrets_store",
    config_file: ConfigFileOption = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Write the project's Pulumi.STACK.yaml from the live account: store, secrets, imported.

    Adopts the account's store and declares every <prefix><name>_v<N> secret in it, each
    imported by id (`<account_id>/<store_id>/<secret_id>`) rather than created again. KV
    namespaces and scripts are listed as comments. Never overwrites a file. An imported version
    keeps its live value: no value is asked for (Cloudflare never returns one anyway).

    Example: secretsctl init --stack dev --account-id 0123456789abcdef0123456789abcdef
    """
    from secrets_store.grammar import ACCOUNT_ID
    from secretsctl.live.account import Account
    from secretsctl.live.init import write_stack_file
    from secretsctl.offline.stackfile import stack_path

    if not ACCOUNT_ID.fullmatch(account_id):
        raise fail_invalid(
            [f"--account-id: must be 32 lowercase hex characters, got {account_id!r}"]
        )
    path = config_file or stack_path(project_of(cwd, root).root, stack)
    account = Account.from_environment(account_id)
    done = write_stack_file(account, stack, path, name_prefix=name_prefix, store_name=store_name)
    out.print(
        f"Wrote {done.path}: {len(done.declared)} secret(s) declared"
        + (f", {len(done.unmanaged)} listed as not managed" if done.unmanaged else "")
        + f" ({account.total_calls} API calls).",
        markup=False,
    )
    if done.commands:
        out.print("Set each value (Cloudflare never returns one):", markup=False)
        for command in done.commands:
            out.print(f"  {command}", markup=False)
    out.print("Imported versions keep their live values: review each kind:.", markup=False)
    out.print(f"Then: secretsctl plan --stack {stack}, pulumi preview, pulumi up.", markup=False)


@exits
def status(
    stack: StackOption,
    live: LiveOption = True,
    config_file: ConfigFileOption = None,
    format: StatusFormat = Format.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """The plan side by side with the live account, and every drift between them.

    Reads the store list (only when the store is named, not given by id), the store's
    secrets, and each worker's deployed bindings. Drift: version_absent,
    version_pending, unexpected_version, binding_mismatch, script_absent. Values are
    never read (the API never returns one). Exit 0 no drift, 1 drift, 2 invalid input.

    Example: secretsctl status --stack dev --format json
    """
    from secretsctl.live.status import live_status

    result = live_status(stack, config_file, stack_project(cwd, root, config_file))
    document = result.document
    if format is Format.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        render_status(document, result.account.total_calls)
    if not document["ok"]:
        raise typer.Exit(EXIT_FAILED)


@exits
def verify(
    stack: StackOption,
    secrets: Annotated[
        list[str] | None, typer.Argument(help="Secrets to check (default: all of the stack).")
    ] = None,
    live: LiveOption = True,
    config_file: ConfigFileOption = None,
    format: StatusFormat = Format.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Go/no-go before the next rotation stage: is it safe to advance?

    Safe when every version the current stage needs is active and every worker's
    deployed Secrets Store bindings equal the plan's (the last deploy landed
    everywhere). Prints what the next stage will change. Exit 0 only when safe.

    Example: secretsctl verify --stack staging api_key
    """
    from secretsctl.live.status import live_status
    from secretsctl.live.verify import verdict

    result = live_status(stack, config_file, stack_project(cwd, root, config_file))
    unknown = sorted(set(secrets or ()) - set(result.plan["secrets"]))
    if unknown:
        known = ", ".join(sorted(result.plan["secrets"]))
        raise fail_invalid(
            [f"SECRET: not declared in stack {stack!r}, got {unknown} (use {known})"]
        )
    decision = verdict(result.plan, result.document, secrets or ())
    changes = next_stage(result.config, secrets or ())
    if format is Format.json:
        document = {"stack": stack, **decision.as_json(), "next": changes}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        render_verdict(stack, decision.as_json(), changes, result.account.total_calls)
    if not decision.ok:
        raise typer.Exit(EXIT_FAILED)


def next_stage(config: Any, secrets: Any) -> list[dict[str, Any]]:
    """What advancing each chosen (default: mid-rotation) secret one stage would change."""
    from secretsctl.errors import InvalidInput
    from secretsctl.workflow.rotate import rotate

    chosen = list(secrets) or [n for n, p in config.positions.items() if p.next is not None]
    changes = []
    for name in chosen:
        try:
            # reencrypted=True: the preview shows the finish; `rotate` still demands the flag.
            edit = rotate(
                config.stack,
                name,
                config.owner().root,
                reencrypted=True,
                config_file=config.path,
            )
        except InvalidInput as exc:
            changes.append({"secret": name, "blocked": exc.lines})
            continue
        move = edit.moves[0]
        changes.append(
            {
                "secret": name,
                "move": move.describe(),
                "command": f"secretsctl rotate {name} --stack {config.stack}",
                "versions_added": edit.diff["versions_added"],
                "versions_removed": edit.diff["versions_removed"],
                "bindings": [f"{b['worker']}: {b['change']}" for b in edit.diff["bindings"]],
            }
        )
    return changes


# ---- tables ---------------------------------------------------------------------------------


def _table(title: str, headers: list[str]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def render_status(document: dict[str, Any], calls: int) -> None:
    mark = {True: "[green]ok[/]", False: "[red]DRIFT[/]"}
    out.print(
        f"[bold]Live status of stack {document['stack']}[/]  store {document['store_id']}  "
        f"{mark[document['ok']]}"
    )
    secrets = _table("Secrets", ["secret", "version", "cloudflare secret", "plan keeps", "live"])
    for name, entry in document["secrets"].items():
        for index, (version, row) in enumerate(entry["versions"].items()):
            fine = row["expected"] and row["live"] == "active"
            live = row["live"] if fine else f"[red]{row['live']}[/]"
            secrets.add_row(
                name if index == 0 else "",
                f"v{version}",
                row["cloudflare_name"],
                "yes" if row["expected"] else "[red]no[/]",
                live,
            )
    out.print(secrets)
    workers = _table("Worker bindings", ["worker", "script", "binding", "plan", "live"])
    for worker, entry in document["workers"].items():
        rows = entry["bindings"].items() if entry["live"] else [("(script absent)", None)]
        for index, (binding, row) in enumerate(rows):
            if row is None:
                workers.add_row(worker, entry["script_name"], "[red]script absent[/]", "", "")
                continue
            same = row["expected"] == row["live"]
            live = row["live"] or "-"
            workers.add_row(
                worker if index == 0 else "",
                entry["script_name"] if index == 0 else "",
                binding,
                row["expected"] or "-",
                live if same else f"[red]{live}[/]",
            )
    out.print(workers)
    if document["drift"]:
        drift = _table(f"Drift ({len(document['drift'])})", ["kind", "key", "detail"])
        for item in document["drift"]:
            drift.add_row(item["kind"], item["key"], item["detail"])
        out.print(drift)
    else:
        out.print("No drift: the account matches the plan.")
    out.print(f"{calls} API calls. Secret values are never read.")


def render_verdict(
    stack: str, decision: dict[str, Any], changes: list[dict[str, Any]], calls: int
) -> None:
    word = "[green]GO[/]" if decision["ok"] else "[red]NO-GO[/]"
    out.print(
        f"[bold]verify {stack}[/]: {word} for {', '.join(decision['secrets'])} "
        f"({len(decision['workers'])} worker(s) checked, {calls} API calls)"
    )
    for item in decision["blockers"]:
        out.print(f"  [red]blocker[/] {item['kind']} {item['key']}: {item['detail']}")
    for item in decision["warnings"]:
        out.print(f"  [yellow]warning[/] {item['kind']} {item['key']}: {item['detail']}")
    if not changes:
        out.print("Next stage: no rotation under way (start one: secretsctl rotate NAME).")
    for change in changes:
        if "blocked" in change:
            out.print(f"Next stage of {change['secret']} needs first:", markup=False)
            for line in change["blocked"]:
                out.print(f"  {line}", markup=False)
            continue
        out.print(f"Next stage: {change['move']}  ({change['command']})", markup=False)
        for name in change["versions_added"]:
            out.print(f"  + secret {name}", markup=False)
        for name in change["versions_removed"]:
            out.print(f"  - secret {name}", markup=False)
        for line in change["bindings"]:
            out.print(f"  ~ {line}", markup=False)
