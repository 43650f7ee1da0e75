"""Waits until Cloudflare reports a new secret `active`, so no Worker binds it while `pending`.

Cloudflare creates a Secrets Store secret `pending` and activates it a little later;
a Worker upload that binds a pending secret fails with error 10182. A rotation's
`fallback` stage creates a version and binds it in the same deploy, so every binding
takes the secret's name from a `SecretActivation`, whose outputs resolve only once
the secret is `active`.

The wait runs in a Pulumi dynamic provider through Cloudflare's official Python
library (`cloudflare` on PyPI). Credentials as the Cloudflare provider takes them:
the stack's `cloudflare:apiToken` (handed to the provider by the engine, never
stored in this resource's state), else `CLOUDFLARE_API_TOKEN`; the endpoint is
`CLOUDFLARE_BASE_URL` when set. Only names, ids and statuses are read: the API never
returns a secret value.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pulumi
from pulumi.dynamic import (
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from secrets_store.sdk_internals import DYNAMIC_PROVIDER_KEY, serialized_dynamic_provider

DEFAULT_TIMEOUT_SECONDS = 120
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0


class ActivationError(Exception):
    """A secret that did not become active in time, or cannot be read. Never holds a value."""


class ActivationProvider(ResourceProvider):
    """Create = wait for `active` (one read when it already is); nothing else calls the API."""

    # Nothing secret is captured in the provider itself: no need to store it as a secret.
    serialize_as_secret_always = False

    def __init__(self) -> None:
        super().__init__()
        self._token: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get("cloudflare:apiToken")
        self._token = str(token) if token else None

    def create(self, props: dict[str, Any]) -> CreateResult:
        status = wait_until_active(
            self._client(),
            account_id=str(props["account_id"]),
            store_id=str(props["store_id"]),
            secret_id=str(props["secret_id"]),
            name=str(props["name"]),
            timeout=float(props.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        )
        return CreateResult(id_=str(props["secret_id"]), outs={**props, "status": status})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new secret (new id) must be waited for again; anything else changes nothing.
        replaces = [
            k for k in ("secret_id", "store_id", "account_id") if olds.get(k) != news.get(k)
        ]
        changed = replaces or [k for k in ("name",) if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "status": olds.get("status", "active")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # `pulumi refresh`: a secret deleted out of band drops this resource too, so the next
        # `pulumi up` creates the version again and waits for it before binding it.
        secret = _read(
            self._client(),
            account_id=str(props["account_id"]),
            store_id=str(props["store_id"]),
            secret_id=id_,
        )
        if secret is None or secret.status == "deleted":
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "status": secret.status})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Deleting the wait deletes nothing in Cloudflare (the secret resource does that)."""

    def _client(self) -> Any:
        import cloudflare  # only at deploy time: offline plans never load the client

        token = self._token or os.environ.get("CLOUDFLARE_API_TOKEN")
        if not token:
            raise ActivationError(
                "cloudflare:apiToken: no API token, got neither the config key nor "
                "CLOUDFLARE_API_TOKEN (run `pulumi config set --secret cloudflare:apiToken "
                "<token>`)"
            )
        return cloudflare.Cloudflare(
            api_token=token, base_url=os.environ.get("CLOUDFLARE_BASE_URL")
        )


def wait_until_active(
    client: Any,
    *,
    account_id: str,
    store_id: str,
    secret_id: str,
    name: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    sleep: Any = time.sleep,
    clock: Any = time.monotonic,
) -> str:
    """Poll the secret until it is `active` (backing off 0.5 s to 5 s), or raise after `timeout`."""
    deadline = clock() + timeout
    delay = FIRST_DELAY_SECONDS
    while True:
        secret = _read(client, account_id=account_id, store_id=store_id, secret_id=secret_id)
        status = getattr(secret, "status", None)
        if status == "active":
            return status
        if secret is None or status == "deleted":
            raise ActivationError(
                f"secret {name} (id {secret_id}) in store {store_id}: Cloudflare reports it "
                f"{status or 'absent'}, got no active secret to bind (run `pulumi refresh`, then "
                "`pulumi up` to create it again)"
            )
        remaining = deadline - clock()
        if remaining <= 0:
            raise ActivationError(
                f"secret {name} (id {secret_id}) in store {store_id}: still {status} after "
                f"{timeout:.0f} s, got no active secret to bind (nothing is lost: the secret "
                "exists; run `pulumi up` again, or raise activeTimeoutSeconds)"
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_DELAY_SECONDS)


def _read(client: Any, *, account_id: str, store_id: str, secret_id: str) -> Any:
    """The secret's metadata, or None when Cloudflare has no such secret (404)."""
    import cloudflare

    try:
        return client.secrets_store.stores.secrets.get(
            secret_id, account_id=account_id, store_id=store_id
        )
    except cloudflare.NotFoundError:
        return None


_SERIALIZED: dict[type[ResourceProvider], tuple[str, bool]] = {}
_SERIALIZED_LOCK = threading.Lock()


def serialized_provider(provider_class: type[ResourceProvider]) -> tuple[str, bool]:
    """A fresh `provider_class()` serialized as `pulumi.dynamic.Resource` would, once per class.

    Every `SecretActivation` sends the same `__provider` (a new provider holds no state
    until the engine calls `configure`), so computing it once per process changes no
    input and no URN; the SDK's own path re-serializes per resource and degrades with
    each call (see `sdk_internals.serialized_dynamic_provider`).
    """
    with _SERIALIZED_LOCK:
        if provider_class not in _SERIALIZED:
            _SERIALIZED[provider_class] = serialized_dynamic_provider(provider_class())
        return _SERIALIZED[provider_class]


class SecretActivation(Resource, module="secrets-store", name="SecretActivation"):
    """One secret version, once Cloudflare reports it `active`. Its `name` feeds the bindings."""

    name: pulumi.Output[str]
    """The Cloudflare secret name, resolved only once the secret is active."""
    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        account_id: pulumi.Input[str],
        store_id: pulumi.Input[str],
        secret_id: pulumi.Input[str],
        name: pulumi.Input[str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "account_id": account_id,
            "store_id": store_id,
            "secret_id": secret_id,
            "name": name,
            "timeout_seconds": timeout_seconds,
            "status": None,
        }
        # What `pulumi.dynamic.Resource.__init__` does, with the provider serialized once
        # per process instead of once per resource (same `__provider` input, same type).
        serialized, captured_secrets = serialized_provider(ActivationProvider)
        always = getattr(ActivationProvider, "serialize_as_secret_always", True)
        props[DYNAMIC_PROVIDER_KEY] = (
            pulumi.Output.secret(serialized) if always or captured_secrets else serialized
        )
        pulumi.CustomResource.__init__(
            self, f"pulumi-python:{self._resource_type_name}", resource_name, props, opts
        )
