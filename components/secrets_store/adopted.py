"""A version adopted from Cloudflare (`secretsctl init`): managed without ever sending a value.

The Cloudflare provider cannot take over an existing Secrets Store secret and keep its value.
`value` is a required, write-only input of `SecretsStoreSecret`: an `import_` that ignores it
fails the provider's check under the engine (`Missing required property 'value'`: the
engine takes an ignored input from the imported state, which never holds a value), and one
that does not ignore it is imported and then updated with the program's value, overwriting
the live one. The mock runtime hid both.

An `AdoptedSecretVersion` takes the version over by id through Cloudflare's API instead:
- create: read the secret (it must exist in this store under this name), wait until it is
  `active`, and PATCH only `scopes` and `comment`, only when the stack says otherwise;
- update: PATCH `scopes` and `comment`; a new name, id, store or account is a replacement
  (another secret: adopt that one);
- delete: delete the secret, as the provider deletes a version it created (a rotation's
  finish retires it; `pulumi destroy` removes it);
- read (`pulumi refresh`): scopes, comment and status; gone when deleted out of band.
No request ever carries a value. Credentials: exactly as `SecretActivation` (its own
`api_token`, the Cloudflare provider it is given, the stack's `cloudflare:*`, the
environment).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from secrets_store.activation import (
    DEFAULT_TIMEOUT_SECONDS,
    ActivationError,
    ActivationProvider,
    Credentials,
    _read,
    cloudflare_provider,
    credential_inputs,
    wait_until_active,
)

IDENTITY = ("account_id", "store_id", "secret_id", "name")
"""Inputs that name another secret when they change: a replacement."""
MANAGED = ("scopes", "comment")
"""What Pulumi manages of an adopted version (in place); never its value."""


class AdoptionError(ActivationError):
    """An adopted version that is not in Cloudflare as the stack says. Never holds a value."""


def import_id(account_id: str, store_id: str, secret_id: str) -> str:
    """The provider's import id of a secret: `<account_id>/<store_id>/<secret_id>`."""
    return f"{account_id}/{store_id}/{secret_id}"


def split_import_id(text: str) -> tuple[str, str, str]:
    """(account_id, store_id, secret_id) of an import id; ValueError when it is not one."""
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not <account_id>/<store_id>/<secret_id>: {text!r}")
    return parts[0], parts[1], parts[2]


class AdoptionProvider(ActivationProvider):
    """The adoption's create, update, read and delete; credentials as `ActivationProvider`."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        where = _where(props)
        secret = _read(client, **_ids(props))
        if secret is None or secret.status == "deleted":
            raise AdoptionError(
                f"{where}: Cloudflare has no such secret, got "
                f"{'a deleted one' if secret else 'nothing'} (it was deleted since "
                "`secretsctl init`: run `secretsctl init` again, or drop its importIds entry to "
                "create the version with a value from config)"
            )
        if secret.name != props["name"]:
            raise AdoptionError(
                f"{where}: Cloudflare names this secret {secret.name!r}, the stack "
                f"{props['name']!r} (importIds points at another secret: fix the id, or run "
                "`secretsctl init` again)"
            )
        status = wait_until_active(
            client,
            **_ids(props),
            name=str(props["name"]),
            timeout=float(props.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        )
        _edit(client, props, _differences(secret, props))
        return CreateResult(id_=str(props["secret_id"]), outs={**props, "status": status})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in IDENTITY if olds.get(k) != news.get(k)]
        watched = (*MANAGED, *Credentials.names())
        changed = replaces or [k for k in watched if _norm(olds.get(k)) != _norm(news.get(k))]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        fields = [k for k in MANAGED if _norm(olds.get(k)) != _norm(news.get(k))]
        _edit(self._client(news), news, fields)
        return UpdateResult(outs={**news, "status": olds.get("status", "active")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        secret = _read(self._client(props), **{**_ids(props), "secret_id": id_})
        if secret is None or secret.status == "deleted":
            return ReadResult(id_="", outs={})
        live = {"scopes": list(secret.scopes or []), "comment": secret.comment or ""}
        return ReadResult(id_=id_, outs={**props, **live, "status": secret.status})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import cloudflare

        ids = _ids(props)
        with contextlib.suppress(cloudflare.NotFoundError):  # already gone: what delete wants
            self._client(props).secrets_store.stores.secrets.delete(
                ids["secret_id"], account_id=ids["account_id"], store_id=ids["store_id"]
            )


def _ids(props: dict[str, Any]) -> dict[str, str]:
    return {k: str(props[k]) for k in ("account_id", "store_id", "secret_id")}


def _where(props: dict[str, Any]) -> str:
    return f"adopted secret {props['name']} (id {props['secret_id']}, store {props['store_id']})"


def _norm(value: Any) -> Any:
    """Scopes compare as a set (Cloudflare keeps no order); an unset comment is empty."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return sorted(str(v) for v in value)
    return value or ""


def _differences(secret: Any, props: dict[str, Any]) -> list[str]:
    live = {"scopes": list(secret.scopes or []), "comment": secret.comment or ""}
    return [k for k in MANAGED if _norm(live[k]) != _norm(props.get(k))]


def _edit(client: Any, props: dict[str, Any], fields: list[str]) -> None:
    """PATCH the named metadata fields; nothing at all when none differ. Never a value."""
    if not fields:
        return
    body: dict[str, Any] = {}
    if "scopes" in fields:
        body["scopes"] = list(props.get("scopes") or [])
    if "comment" in fields:
        body["comment"] = str(props.get("comment") or "")
    ids = _ids(props)
    client.secrets_store.stores.secrets.edit(
        ids["secret_id"], account_id=ids["account_id"], store_id=ids["store_id"], **body
    )


class AdoptedSecretVersion(Resource, module="secrets-store", name="AdoptedSecretVersion"):
    """One secret version taken over by id: its `scopes` and `comment` managed, its value
    never sent. `name` resolves once the secret is active: bind it."""

    name: pulumi.Output[str]
    """The Cloudflare secret name, resolved only once the secret is active."""
    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        import_id: str,
        name: pulumi.Input[str],
        scopes: pulumi.Input[Sequence[pulumi.Input[str]]],
        comment: pulumi.Input[str] | None = None,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        api_token: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        account_id, store_id, secret_id = split_import_id(import_id)
        props: dict[str, Any] = {
            "account_id": account_id,
            "store_id": store_id,
            "secret_id": secret_id,
            "name": name,
            "scopes": scopes,
            "comment": comment if comment is not None else "",
            "timeout_seconds": timeout_seconds,
            "status": None,
            **credential_inputs(cloudflare_provider(opts), api_token),
        }
        super().__init__(AdoptionProvider(), resource_name, props, opts)
