"""The account's Secrets Store, adopted or created."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from secrets_store.spec import StoreSpec


class SecretsStore(pulumi.ComponentResource):
    """The account's one Secrets Store (Cloudflare allows one per account).

    Behavior:
    - `store.id` set: adopt that store. No Cloudflare resource is created, so
      `pulumi destroy` never deletes it.
    - `store.id` empty: create a `cloudflare.SecretsStore`, protected and kept on
      destroy: deleting it would take every secret of the account with it.
    - Changing `store.name` of a created store replaces nothing here: protection
      makes Pulumi refuse the replacement until someone lifts it on purpose.

    Example:
        store = SecretsStore("store", "0123...", StoreSpec(name="default_secrets_store"))
        pulumi.export("store_id", store.store_id)

    API: https://developers.cloudflare.com/api/resources/secrets_store/subresources/stores/
    """

    store_id: pulumi.Output[str]
    """Id of the store every secret and binding uses."""
    adopted: bool
    """True when the store was adopted by id (no resource managed)."""

    def __init__(
        self,
        name: str,
        account_id: pulumi.Input[str],
        spec: StoreSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("secrets-store:index:Store", name, None, opts)
        self.adopted = spec.adopted
        if spec.adopted:
            self.store_id = pulumi.Output.from_input(spec.id)
        else:
            store = cloudflare.SecretsStore(
                f"{name}-store",
                account_id=account_id,
                name=spec.name,
                # It holds every secret of the account: never delete or replace it by accident.
                opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
            )
            self.store_id = store.id
        self.register_outputs({"store_id": self.store_id, "adopted": self.adopted})
