"""`status --live`: read exactly what the comparison needs, then compare (see `drift`).

Calls, in order: the store list only when the stack names its store instead of giving
its id; the store's secrets (all pages); one settings read per worker. For the shipped
dev stack that is 2 + one per worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secrets_store.spec import is_placeholder
from secretsctl.errors import InvalidInput
from secretsctl.live.account import Account
from secretsctl.live.drift import Snapshot, compare
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.project import Project
from secretsctl.offline.stackfile import StackConfig, read_stack


@dataclass(frozen=True)
class LiveStatus:
    config: StackConfig
    plan: dict[str, Any]
    document: dict[str, Any]
    account: Account


def live_status(
    stack: str, config_file: Path | None = None, project: Project | None = None
) -> LiveStatus:
    """The stack's plan side by side with its account. Raises InvalidInput/SpecError (exit 2)."""
    config = read_stack(stack, config_file, project)
    plan = plan_stack(stack, config=config).document  # invalid config: SpecError, exit 2
    account_id = config.account_id or planned_account(plan)
    if not account_id or is_placeholder(account_id):
        raise InvalidInput(
            f"secrets-store:accountId: not a real account id, got {account_id!r} (run "
            f"`pulumi config set --stack {stack} secrets-store:accountId <32-hex id>`)"
        )
    account = Account.from_environment(account_id)
    store_id = _store_id(config, account)
    secrets = account.secrets(store_id)
    scripts = {
        summary["script_name"]: account.script_bindings(summary["script_name"])
        for summary in plan["workers"].values()
    }
    document = compare(stack, plan, Snapshot(store_id, secrets, scripts))
    return LiveStatus(config, plan, document, account)


def planned_account(plan: dict[str, Any]) -> str | None:
    """The account a program that sets it in code registers its resources in."""
    for resource in plan["resources"]:
        account = resource["inputs"].get("accountId")
        if isinstance(account, str) and account:
            return account
    return None


def _store_id(config: StackConfig, account: Account) -> str:
    store = config.namespace.get("store")
    store = store if isinstance(store, dict) else {}
    given = store.get("id")
    if isinstance(given, str) and given and not is_placeholder(given):
        return given
    name = store.get("name") or "default_secrets_store"
    stores = account.stores()
    for found in stores:
        if found["name"] == name:
            return found["id"]
    have = ", ".join(s["name"] for s in stores) or "no store"
    raise InvalidInput(
        f"secrets-store:store.name: no store named {name!r} in account {account.account_id}, "
        f"got {have} (set store.name or store.id; `pulumi up` would refuse the same)"
    )
