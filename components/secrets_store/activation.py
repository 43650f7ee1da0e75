"""Waits until Cloudflare reports a new secret `active`, so no Worker binds it while `pending`.

Cloudflare creates a Secrets Store secret `pending` and activates it a little later;
a Worker upload that binds a pending secret fails with error 10182. A rotation's
`fallback` stage creates a version and binds it in the same deploy, so every binding
takes the secret's name from a `SecretActivation`, whose outputs resolve only once
the secret is `active`.

The wait runs in a Pulumi dynamic provider through Cloudflare's official Python
library (`cloudflare` on PyPI). It calls Cloudflare with the credentials the Cloudflare
resources next to it use, with the settings `pulumi_cloudflare.Provider` takes
(`api_token`; `api_key` + `email`; `api_user_service_key`; `base_url`), from the first of:

1. the resource's own secret input `api_token`;
2. the Cloudflare provider it is given: `provider=`, `providers=` (a map or a list), or
   the one its parent component was given (`providers={"cloudflare": p}` on a
   `VersionedSecret` reaches its waits). Unset settings fall back to the environment,
   as the provider's do;
3. the stack's config (`cloudflare:apiToken`, `cloudflare:apiKey` + `cloudflare:email`,
   `cloudflare:apiUserServiceKey`, `cloudflare:baseUrl`), which the engine hands to the
   provider and which is never stored in this resource's state;
4. the environment (`CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_API_KEY` + `CLOUDFLARE_EMAIL`,
   `CLOUDFLARE_API_USER_SERVICE_KEY`, `CLOUDFLARE_BASE_URL`).

Credentials from 1 or 2 are resource inputs: always Pulumi secrets (stored encrypted;
the engine also marks the outputs of the same name secret, as it does for every
provider that does not accept secrets) and never written into a message. A program with
one default provider registers none of them. Only names, ids and statuses are read: the
API never returns a secret value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
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

DEFAULT_TIMEOUT_SECONDS = 120
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0
CLOUDFLARE_PACKAGE = "cloudflare"
EXPLICIT_PROVIDER = "explicit_provider"
"""Input set (plain `True`) when the credentials come from an explicit provider."""


class ActivationError(Exception):
    """A secret that did not become active in time, or cannot be read. Never holds a value."""


@dataclass(frozen=True)
class Credentials:
    """What `pulumi_cloudflare.Provider` takes to reach the API; field names are its args."""

    api_token: str | None = None
    api_key: str | None = None
    email: str | None = None
    api_user_service_key: str | None = None
    base_url: str | None = None

    SECRET = ("api_token", "api_key", "api_user_service_key")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Credentials:
        """The credential fields found in `values` (a resource's inputs); empty means unset."""
        return cls(
            **{name: str(values[name]) if values.get(name) else None for name in cls.names()}
        )

    @classmethod
    def from_config(cls, config: Any) -> Credentials:
        """The stack's `cloudflare:*` settings, as the default Cloudflare provider reads them."""
        keys = {
            "api_token": "apiToken",
            "api_key": "apiKey",
            "email": "email",
            "api_user_service_key": "apiUserServiceKey",
            "base_url": "baseUrl",
        }
        return cls.of({name: config.get(f"cloudflare:{key}") for name, key in keys.items()})

    @classmethod
    def from_environment(cls) -> Credentials:
        env = os.environ.get
        return cls(
            env("CLOUDFLARE_API_TOKEN") or None,
            env("CLOUDFLARE_API_KEY") or None,
            env("CLOUDFLARE_EMAIL") or None,
            env("CLOUDFLARE_API_USER_SERVICE_KEY") or None,
            env("CLOUDFLARE_BASE_URL") or None,
        )

    @property
    def authenticates(self) -> bool:
        return bool(self.api_token or self.api_key or self.api_user_service_key)

    def or_else(self, fallback: Credentials) -> Credentials:
        """These credentials, else the fallback's; a base URL falls back on its own."""
        chosen = self if self.authenticates else fallback
        return Credentials(
            chosen.api_token,
            chosen.api_key,
            chosen.email,
            chosen.api_user_service_key,
            self.base_url or fallback.base_url,
        )


class ActivationProvider(ResourceProvider):
    """Create = wait for `active` (one read when it already is); nothing else calls the API."""

    # Nothing secret is captured in the provider itself: no need to store it as a secret.
    serialize_as_secret_always = False

    def __init__(self) -> None:
        super().__init__()
        self._configured = Credentials()

    def configure(self, req: ConfigureRequest) -> None:
        self._configured = Credentials.from_config(req.config)

    def create(self, props: dict[str, Any]) -> CreateResult:
        status = wait_until_active(
            self._client(props),
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
        # New credentials (a rotated token) update the state, so a refresh reads with them.
        watched = ("name", EXPLICIT_PROVIDER, *Credentials.names())
        changed = replaces or [k for k in watched if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "status": olds.get("status", "active")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # `pulumi refresh`: a secret deleted out of band drops this resource too, so the next
        # `pulumi up` creates the version again and waits for it before binding it.
        secret = _read(
            self._client(props),
            account_id=str(props["account_id"]),
            store_id=str(props["store_id"]),
            secret_id=id_,
        )
        if secret is None or secret.status == "deleted":
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "status": secret.status})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Deleting the wait deletes nothing in Cloudflare (the secret resource does that)."""

    def credentials(self, props: Mapping[str, Any]) -> Credentials:
        """The resource's own credentials (its input, or its explicit provider's), else the
        stack's config; the environment fills in what they leave unset."""
        own = Credentials.of(props)
        if not props.get(EXPLICIT_PROVIDER) and not own.authenticates:
            own = own.or_else(self._configured)  # the stack config is the default provider's
        return own.or_else(Credentials.from_environment())

    def _client(self, props: Mapping[str, Any]) -> Any:
        return client_for(self.credentials(props))


def client_for(credentials: Credentials) -> Any:
    """Cloudflare's client authenticated exactly one way, as the provider is (it takes only
    one of api_token, api_key + email, api_user_service_key)."""
    import cloudflare  # only at deploy time: offline plans never load the client

    creds = credentials
    if not creds.authenticates:
        raise ActivationError(
            "cloudflare:apiToken: no API credentials, got none from the Cloudflare provider, "
            "the stack config or the environment (run `pulumi config set --secret "
            "cloudflare:apiToken <token>`, or give the provider api_token)"
        )
    if not creds.api_token and creds.api_key and not creds.email:
        raise ActivationError(
            "cloudflare:email: required with apiKey, got no email (set the provider's email, "
            "`cloudflare:email` or CLOUDFLARE_EMAIL, or use an API token)"
        )
    client = cloudflare.Cloudflare(
        api_token=creds.api_token or None,
        api_key=None if creds.api_token else creds.api_key,
        api_email=None if creds.api_token else creds.email,
        user_service_key=None if creds.api_token or creds.api_key else creds.api_user_service_key,
        base_url=creds.base_url,
    )
    # The client fills every unset scheme from the environment: keep only the chosen one.
    if creds.api_token:
        client.api_key = client.api_email = client.user_service_key = None
    elif creds.api_key:
        client.api_token = client.user_service_key = None
    else:
        client.api_token = client.api_key = client.api_email = None
    return client


def cloudflare_provider(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The Cloudflare provider a resource with `opts` is given, as the SDK resolves one for a
    Cloudflare resource: `provider=`, then `providers=`, then its parent's (public API only)."""
    if opts is None:
        return None
    if opts.provider is not None and opts.provider.package == CLOUDFLARE_PACKAGE:
        return opts.provider
    if isinstance(opts.providers, Mapping):
        if (mapped := opts.providers.get(CLOUDFLARE_PACKAGE)) is not None:
            return mapped
    elif opts.providers:
        for listed in opts.providers:
            if listed.package == CLOUDFLARE_PACKAGE:
                return listed
    if opts.parent is not None:
        return opts.parent.get_provider(f"{CLOUDFLARE_PACKAGE}:index:SecretsStoreSecret")
    return None


def credential_inputs(
    provider: pulumi.ProviderResource | None, api_token: pulumi.Input[str] | None
) -> dict[str, Any]:
    """The credential inputs a `SecretActivation` registers: none for the default provider;
    the explicit provider's settings; `api_token` over both. Secret settings are secrets."""
    inputs: dict[str, Any] = {}
    if provider is not None:
        inputs[EXPLICIT_PROVIDER] = True
        for name in Credentials.names():
            value = getattr(provider, name, None)  # the provider's outputs are its settings
            if value is not None:
                inputs[name] = value
    if api_token is not None:
        inputs["api_token"] = api_token
        for other in ("api_key", "email", "api_user_service_key"):
            inputs.pop(other, None)
    for name in Credentials.SECRET:
        if name in inputs:
            inputs[name] = pulumi.Output.secret(inputs[name])
    return inputs


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
            return "active"
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
        secret = client.secrets_store.stores.secrets.get(
            secret_id, account_id=account_id, store_id=store_id
        )
    except cloudflare.NotFoundError:
        return None
    except (cloudflare.AuthenticationError, cloudflare.PermissionDeniedError) as refused:
        # One line naming the account, never the credentials the call carried.
        raise ActivationError(
            f"secret {secret_id} in account {account_id}: Cloudflare refused the credentials "
            f"(HTTP {refused.status_code}), got no status to wait on (give this account's "
            "provider, or its api_token, to the resource)"
        ) from None
    if secret is not None and not all(hasattr(secret, k) for k in ("status", "name")):
        # An answer that is no secret (a proxy's page, a changed API): one line, never its body.
        raise ActivationError(
            f"secret {secret_id} in account {account_id}: Cloudflare answered something that "
            f"is not a secret, got a {type(secret).__name__} (check the API address, "
            "cloudflare:baseUrl, and run `pulumi up` again)"
        )
    return secret


class SecretActivation(Resource, module="secrets-store", name="SecretActivation"):
    """One secret version, once Cloudflare reports it `active`. Its `name` feeds the bindings.

    It reads with the Cloudflare provider it is given (`provider=`, `providers=`, or its
    parent's), or with `api_token` (a secret input) when set; see the module docstring.
    The dynamic provider that runs the wait is always this package's own.
    """

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
        api_token: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "account_id": account_id,
            "store_id": store_id,
            "secret_id": secret_id,
            "name": name,
            "timeout_seconds": timeout_seconds,
            "status": None,
            **credential_inputs(cloudflare_provider(opts), api_token),
        }
        # The SDK's public path: it serializes the provider for each resource. Each of those
        # calls also wraps pickle's `_batch_setitems` once more for good (pulumi 3.272), so a
        # process fails after ~950 of them; one `pulumi up` runs at most 200 (100 secrets,
        # two live versions each). Offline runs, many per process, serialize once per
        # provider (`sdk_internals.lean_sdk`).
        super().__init__(ActivationProvider(), resource_name, props, opts)
