"""The account's Secrets Store: looked up and adopted (the default), adopted by id, or created."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict, Unpack, overload

import pulumi
import pulumi_cloudflare as cloudflare

from secrets_store.errors import Problem, SpecError

TYPE = "secrets-store:index:SecretsStore"
LEGACY_TYPE = "secrets-store:index:Store"
DEFAULT_STORE_NAME = "default_secrets_store"
"""The store Cloudflare creates when anyone opens Secrets Store in the dashboard."""


class StoreNotFoundError(SpecError, pulumi.RunError):
    """No store of the account has the configured name. A RunError: Pulumi shows no traceback."""


class SecretsStoreArgs(TypedDict):
    """Which store every secret and binding of the program uses."""

    account_id: pulumi.Input[str]
    """The Cloudflare account id (32 hex characters)."""
    store_id: NotRequired[pulumi.Input[str]]
    """Adopt the store with this id. Nothing is created, and nothing is ever deleted."""
    store_name: NotRequired[str]
    """The store's name: looked up and adopted, or created with `create`.
    Default `default_secrets_store`."""
    create: NotRequired[bool]
    """Create the store instead of adopting one (protected, kept on destroy). Cloudflare allows
    one store per account, so this fails with error 1003 when the account already has one.
    Default false."""


class SecretsStore(pulumi.ComponentResource):
    """The account's one Secrets Store (Cloudflare allows one per account).

    Behavior:
    - Default (no `store_id`, no `create`): the store named `store_name` (default
      `default_secrets_store`, which the dashboard creates) is looked up with the
      provider's `get_secrets_stores` data source and adopted. Nothing is created or
      deleted. When no store has that name, the program stops before any Cloudflare
      resource is sent, naming both fixes.
    - `store_id`: adopt that store as is, with no lookup.
    - `create=True`: create a `cloudflare.SecretsStore`, protected and kept on destroy:
      deleting it would take every secret of the account with it. A second store fails
      with Cloudflare error 1003, so use this only on an account that has none.

    Example:
        store = SecretsStore("store", account_id=ACCOUNT)                 # adopt the default
        store = SecretsStore("store", account_id=ACCOUNT, store_id=ID)    # adopt by id
        pulumi.export("store_id", store.store_id)

    API: https://developers.cloudflare.com/api/resources/secrets_store/subresources/stores/
    """

    store_id: pulumi.Output[str]
    """Id of the store every secret and binding uses."""
    adopted: pulumi.Output[bool]
    """True when the store is adopted (looked up or given by id): no store resource is managed."""
    account_id: pulumi.Output[str]
    """The account the store belongs to: the default `account_id` of a `VersionedSecret`
    given `store=`."""

    @overload
    def __init__(
        self,
        name: str,
        args: SecretsStoreArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        stack_file_terms: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        stack_file_terms: bool = False,
        **kwargs: Unpack[SecretsStoreArgs],
    ) -> None: ...

    def __init__(
        self,
        name: str,
        args: SecretsStoreArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        stack_file_terms: bool = False,
        **kwargs: Any,
    ) -> None:
        """`stack_file_terms`: word a failed lookup in `secrets-store:store.*` keys (the
        stack-file front end's); by default it names this component's arguments."""
        # Releases before 0.3 named this type `Store`: the alias keeps a created store's URN.
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE)])
        super().__init__(TYPE, name, None, pulumi.ResourceOptions.merge(opts, renamed))
        settings: dict[str, Any] = {**(args or {}), **kwargs}
        account_id = settings["account_id"]
        store_name: str = settings.get("store_name") or DEFAULT_STORE_NAME
        store_id = settings.get("store_id")
        if settings.get("create"):
            store = cloudflare.SecretsStore(
                f"{name}-store",
                account_id=account_id,
                name=store_name,
                # It holds every secret of the account: never delete or replace it by accident.
                opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
            )
            self.store_id = store.id
            self.adopted = pulumi.Output.from_input(False)
        elif store_id:
            self.store_id = pulumi.Output.from_input(store_id)
            self.adopted = pulumi.Output.from_input(True)
        else:
            stores = cloudflare.get_secrets_stores_output(
                account_id=account_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            where = None if stack_file_terms else f"SecretsStore {name}"
            self.store_id = pulumi.Output.all(stores.results, account_id).apply(
                lambda found: store_by_name(found[0], store_name, str(found[1]), where)
            )
            self.adopted = pulumi.Output.from_input(True)
        self.account_id = pulumi.Output.from_input(account_id)
        self.register_outputs(
            {"store_id": self.store_id, "adopted": self.adopted, "account_id": self.account_id}
        )


def store_by_name(
    results: Sequence[Any], name: str, account_id: str, component: str | None = None
) -> str:
    """The id of the store called `name` among the data source's results. A refusal is
    worded for `component` (`SecretsStore <name>`: its arguments) or, when None, for the
    stack file (`secrets-store:store.*` keys)."""
    for result in results or ():
        found = result.get("name") if isinstance(result, dict) else getattr(result, "name", None)
        if found == name:
            store_id = result.get("id") if isinstance(result, dict) else result.id
            return str(store_id)
    names = sorted(
        str(r.get("name") if isinstance(r, dict) else getattr(r, "name", "")) for r in results or ()
    )
    have = f"the account has {', '.join(names)}" if names else "the account has no store yet"
    if component is None:
        key = "secrets-store:store.name"
        fixes = "set store.id to adopt a store by id, or set store.create: true to create"
    else:
        key = f"{component}.store_name"
        fixes = "pass store_id=<id> to adopt a store by id, or create=True to create"
    raise StoreNotFoundError(
        [
            Problem(
                key,
                f"no Secrets Store named {name!r} in account {account_id}, got none ({have}; "
                f"{fixes} {name!r}; opening Secrets Store in the dashboard creates "
                f"{DEFAULT_STORE_NAME})",
            )
        ]
    )
