"""`secretsctl init`: a new, commented stack file written from what the live account holds.

It adopts the account's store and declares every `{prefix}{name}_v{N}` secret already in
it, each existing version imported by its Pulumi import id rather than created again.
The account's KV namespaces and Worker scripts are listed as comments, ready to bind.
Cloudflare never returns a secret value, so the file holds none: the commands that set
them are returned for the caller to print.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from secrets_store.grammar import VERSIONED_NAME
from secrets_store.spec import NAMESPACE, ROTATABLE_SCOPES
from secretsctl.errors import InvalidInput
from secretsctl.live.account import Account, LiveSecret


@dataclass(frozen=True)
class Initialized:
    path: Path
    commands: list[str]
    """`pulumi config set --secret ...` for every value the stack still needs: none, as every
    declared version is imported with its live value (values are never read)."""
    declared: list[str]
    unmanaged: list[str]


def write_stack_file(
    account: Account,
    stack: str,
    path: Path,
    *,
    name_prefix: str = "",
    store_name: str = "default_secrets_store",
) -> Initialized:
    """Write `path` for `stack` from the account; refuses when the file exists."""
    if path.exists():
        raise InvalidInput(
            f"{path}: already exists, got a stack file for {stack!r} (init never overwrites: "
            "pick another --stack, or move the file away first)"
        )
    stores = account.stores()
    store = next((s for s in stores if s["name"] == store_name), None)
    if store is None and len(stores) == 1:
        store = stores[0]
    secrets = account.secrets(store["id"]) if store else []
    namespaces = account.kv_namespaces()
    scripts = account.scripts()

    groups: dict[str, dict[int, LiveSecret]] = defaultdict(dict)
    unmanaged: list[str] = []
    for secret in sorted(secrets, key=lambda s: s.name):
        match = VERSIONED_NAME.fullmatch(secret.name.removeprefix(name_prefix))
        if not secret.name.startswith(name_prefix) or not match or secret.status == "deleted":
            unmanaged.append(secret.name)
            continue
        if set(secret.scopes) - set(ROTATABLE_SCOPES):
            unmanaged.append(f"{secret.name} (scopes {', '.join(secret.scopes)}: read by name)")
            continue
        groups[match["secret"]][int(match["version"])] = secret

    lines = [
        f"# Stack `{stack}`: written by `secretsctl init` from account {account.account_id}",
        f"# on {date.today().isoformat()}. Review every `kind:` (init cannot know what a value is)",
        "# and set each value (the commands were printed; Cloudflare never returns a value).",
        "# Existing versions are imported (importIds), not created again: remove an importIds",
        "# entry after the first `pulumi up` has imported it.",
        "config:",
        f"  {NAMESPACE}:accountId: {account.account_id}",
        f'  {NAMESPACE}:namePrefix: "{name_prefix}"',
        f"  {NAMESPACE}:store:",
    ]
    if store is None:
        lines += [
            f"    name: {store_name}",
            "    create: true                          # the account has no store yet",
        ]
    else:
        lines += [
            f"    id: {store['id']}   # adopted: never created or deleted by Pulumi",
            f"    name: {store['name']}",
        ]
    commands: list[str] = []
    declared: list[str] = []
    if groups:
        lines.append(f"  {NAMESPACE}:secrets:")
    for name, versions in sorted(groups.items()):
        current = max(versions)
        live = versions[current]
        declared.append(name)
        lines += [
            f"    {name}:",
            "      kind: opaque                        # api_key | encryption_key | "
            "signing_key | json | opaque",
            f"      scopes: [{', '.join(sorted(live.scopes)) or 'workers'}]",
            f"      current: {current}",
        ]
        if live.comment:
            lines.append(f"      comment: {_quoted(live.comment)}")
        lines += [
            "      importIds:",
            f"        {current}: {account.account_id}/{store['id'] if store else ''}/{live.id}",
        ]
        for other in sorted(v for v in versions if v != current):
            lines.append(
                f"      # also in the store: {versions[other].name} ({versions[other].status}),"
                " not declared: delete it once no worker binds it"
            )
        # No value to ask for: the imported version keeps its live one (never sent).
    lines += [
        f"  {NAMESPACE}:workers: {{}}                  # declare workers here (see README)",
    ]
    if unmanaged:
        lines.append(
            "# Secrets in the store this stack does not manage (not {prefix}<name>_v<N>, or"
            " read by name: scopes other than workers):"
        )
        lines += [f"#   {name}" for name in unmanaged]
    lines.append("# KV namespaces in this account (bind one: workers.<name>.kv.<BINDING>: <id>):")
    lines += [f"#   {n['id']}  {n['title']}" for n in namespaces] or ["#   (none)"]
    lines.append("# Worker scripts in this account:")
    lines += [f"#   {s}" for s in scripts] or ["#   (none)"]
    path.parent.mkdir(parents=True, exist_ok=True)
    # "x": never overwrite, even if the file appeared since the check above.
    with path.open("x", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return Initialized(path, commands, declared, unmanaged)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
