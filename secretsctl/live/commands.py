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
from secretsctl.live.deadline import DEFAULT_DEADLINE_SECONDS, Deadline
from secretsctl.live.untrusted import markup

LiveOption = Annotated[
    bool,
    typer.Option(
        "--live",
        hidden=True,  # the default and only mode: accepted for scripts written when required
        help="Read the live account (the default: these commands have no offline mode).",
    ),
]
DeadlineOption = Annotated[
    float,
    typer.Option(
        "--deadline",
        min=0.1,
        max=3600,
        metavar="SECONDS",
        help="Give up after this many seconds, counted from the start of the command: "
        "every API call shares it, and a slow or dripping answer ends in one line (exit 2).",
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
    deadline: DeadlineOption = DEFAULT_DEADLINE_SECONDS,
) -> None:
    """Write the project's Pulumi.STACK.yaml from the live account: store, secrets, imported.

    Adopts the account's store and declares every <prefix><name>_v<N> secret in it, each
    imported by id (`<account_id>/<store_id>/<secret_id>`) rather than created again. KV
    namespaces and scripts are listed as comments. Never overwrites a file. An imported version
    keeps its live value: no value is asked for (Cloudflare never returns one anyway).
    Writes at most 100 secrets (Cloudflare's limit per account) and 100 entries of each
    list, and says so when it leaves some out; refuses names Cloudflare would not give.

    Example: secretsctl init --stack dev --account-id 0123456789abcdef0123456789abcdef
    """
    from secrets_store.grammar import ACCOUNT_ID
    from secretsctl.live.account import Account
    from secretsctl.live.init import write_stack_file
    from secretsctl.offline.project import declares_in_code
    from secretsctl.offline.stackfile import project_topology, stack_path

    if not ACCOUNT_ID.fullmatch(account_id):
        raise fail_invalid(
            [f"--account-id: must be 32 lowercase hex characters, got {account_id!r}"]
        )
    clock = Deadline.starting_now(deadline)
    project = project_of(cwd, root)
    path = config_file or stack_path(project.root, stack)
    topology = project_topology(path)
    account = Account.from_environment(account_id, clock)
    done = write_stack_file(
        account,
        stack,
        path,
        name_prefix=name_prefix,
        store_name=store_name,
        shared=topology.data if topology else None,
        code_first=topology is None and declares_in_code(project),
    )
    out.print(
        f"Wrote {done.path}: {len(done.declared)} secret(s) declared"
        + (f", {len(done.unmanaged)} listed as not managed" if done.unmanaged else "")
        + f" ({account.total_calls} API calls).",
        markup=False,
    )
    for note in done.notes:
        out.print(f"Note: {note}", markup=False)
    if done.commands:
        out.print("Set each value (Cloudflare never returns one):", markup=False)
        for command in done.commands:
            out.print(f"  {command}", markup=False)
    out.print(
        "Imported versions keep their live values; review each kind: before the first deploy.",
        markup=False,
    )
    out.print(f"Then: secretsctl plan --stack {stack}, pulumi preview, pulumi up.", markup=False)


@exits
def status(
    stack: StackOption,
    live: LiveOption = True,
    config_file: ConfigFileOption = None,
    format: StatusFormat = Format.text,
    cwd: CwdOption = None,
    root: RootOption = None,
    deadline: DeadlineOption = DEFAULT_DEADLINE_SECONDS,
) -> None:
    """The plan side by side with the live account, and every drift between them.

    Reads the store list (only when the store is named, not given by id), the store's
    secrets, and each worker's deployed bindings. Drift: version_absent,
    version_pending, version_inactive, unexpected_version, binding_mismatch,
    script_absent. Values are
    never read (the API never returns one). Exit 0 no drift, 1 drift, 2 invalid input.

    Example: secretsctl status --stack dev --format json
    """
    from secretsctl.live.status import live_status

    clock = Deadline.starting_now(deadline)
    result = live_status(stack, config_file, stack_project(cwd, root, config_file), clock)
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
    deadline: DeadlineOption = DEFAULT_DEADLINE_SECONDS,
) -> None:
    """Go/no-go before the next rotation stage: is it safe to advance?

    Safe when every version the current stage needs is active and every worker's
    deployed Secrets Store bindings equal the plan's (the last deploy landed
    everywhere). Prints what the next stage will change. Exit 0 only when safe.

    Example: secretsctl verify --stack staging api_key
    """
    from secretsctl.live.status import live_status
    from secretsctl.live.verify import verdict

    clock = Deadline.starting_now(deadline)
    result = live_status(stack, config_file, stack_project(cwd, root, config_file), clock)
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
    # Every value from the document may hold the API's text: each goes through `markup`.
    mark = {True: "[green]ok[/]", False: "[red]DRIFT[/]"}
    out.print(
        f"[bold]Live status of stack {markup(document['stack'])}[/]  store "
        f"{markup(document['store_id'])}  {mark[document['ok']]}"
    )
    secrets = _table("Secrets", ["secret", "version", "cloudflare secret", "plan keeps", "live"])
    for name, entry in document["secrets"].items():
        for index, (version, row) in enumerate(entry["versions"].items()):
            fine = row["expected"] and row["live"] == "active"
            live = _status(row["live"])
            secrets.add_row(
                markup(name) if index == 0 else "",
                f"v{markup(version)}",
                markup(row["cloudflare_name"]),
                "yes" if row["expected"] else "[red]no[/]",
                live if fine else f"[red]{live}[/]",
            )
    out.print(secrets)
    workers = _table("Worker bindings", ["worker", "script", "binding", "plan", "live"])
    for worker, entry in document["workers"].items():
        if not entry["live"]:
            workers.add_row(
                markup(worker), markup(entry["script_name"]), "[red]script absent[/]", "", ""
            )
            continue
        for index, (binding, row) in enumerate(entry["bindings"].items()):
            live = markup(row["live"] or "-")
            workers.add_row(
                markup(worker) if index == 0 else "",
                markup(entry["script_name"]) if index == 0 else "",
                markup(binding),
                markup(row["expected"] or "-"),
                live if row["expected"] == row["live"] else f"[red]{live}[/]",
            )
    out.print(workers)
    if document["drift"]:
        drift = _table(f"Drift ({len(document['drift'])})", ["kind", "key", "detail"])
        for item in document["drift"]:
            drift.add_row(markup(item["kind"]), markup(item["key"]), _detail(item))
        out.print(drift)
    else:
        out.print("No drift: the account matches the plan.")
    out.print(f"{calls} API calls. Secret values are never read.")


def _status(live: str | None) -> str:
    """A status as the API gave it (null shown as such)."""
    return "null" if live is None else markup(live)


def _detail(item: dict[str, str]) -> str:
    # Details are ours, quoting API text; long enough to keep the advice after a long name.
    return markup(item["detail"], limit=1000)


def render_verdict(
    stack: str, decision: dict[str, Any], changes: list[dict[str, Any]], calls: int
) -> None:
    word = "[green]GO[/]" if decision["ok"] else "[red]NO-GO[/]"
    out.print(
        f"[bold]verify {markup(stack)}[/]: {word} for "
        f"{markup(', '.join(decision['secrets']), limit=1000)} "
        f"({len(decision['workers'])} worker(s) checked, {calls} API calls)"
    )
    for label, items in (("[red]blocker[/]", "blockers"), ("[yellow]warning[/]", "warnings")):
        for item in decision[items]:
            out.print(f"  {label} {markup(item['kind'])} {markup(item['key'])}: {_detail(item)}")
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
