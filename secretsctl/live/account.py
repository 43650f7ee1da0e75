"""Reads of the live Cloudflare account, through Cloudflare's official Python library.

The only module that talks to Cloudflare. Credentials and endpoint exactly as the
library takes them: `CLOUDFLARE_API_TOKEN`, and `CLOUDFLARE_BASE_URL` when set. It
reads names, ids, statuses and bindings only: the API never returns a secret value,
and nothing here would print one.

Lists are read page by page with `per_page` at its maximum and stop at the last page,
so a store with fewer than 100 secrets costs one request (the library's auto-paging
would ask for one empty page more).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from secretsctl.errors import InvalidInput

PER_PAGE = 100


class AccountError(InvalidInput):
    """No token, a refused token, an unreachable API: the run cannot read the account."""


@dataclass(frozen=True)
class LiveSecret:
    id: str
    name: str
    status: str
    """pending | active | deleted, as Cloudflare reports it."""
    scopes: tuple[str, ...] = ()
    comment: str | None = None


@dataclass(frozen=True)
class LiveBinding:
    name: str
    type: str
    secret_name: str | None = None
    store_id: str | None = None
    target: str | None = None
    """What a non-secret binding points at (namespace id, service), for tables."""


@dataclass
class Account:
    """A read-only view of one account, counting every API call it makes."""

    account_id: str
    client: Any
    calls: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_environment(cls, account_id: str) -> Account:
        token = os.environ.get("CLOUDFLARE_API_TOKEN")
        if not token:
            raise AccountError(
                "CLOUDFLARE_API_TOKEN: not set, got nothing (export a token with Secrets Store "
                "Read and Workers Scripts Read: export CLOUDFLARE_API_TOKEN=<token>)"
            )
        import cloudflare

        # No retries: a go/no-go must answer promptly, and every call is counted.
        client = cloudflare.Cloudflare(
            api_token=token, base_url=os.environ.get("CLOUDFLARE_BASE_URL"), max_retries=0
        )
        return cls(account_id, client)

    # ---- reads ---------------------------------------------------------------------------

    def stores(self) -> list[dict[str, str]]:
        """Every Secrets Store of the account: `{id, name}`."""
        pages = self._pages(
            "GET /accounts/{account_id}/secrets_store/stores",
            lambda page: self.client.secrets_store.stores.list(
                account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [{"id": str(s.id), "name": str(s.name)} for s in pages]

    def secrets(self, store_id: str) -> list[LiveSecret]:
        """Every secret of a store (names, ids and statuses; never values)."""
        pages = self._pages(
            "GET /accounts/{account_id}/secrets_store/stores/{store_id}/secrets",
            lambda page: self.client.secrets_store.stores.secrets.list(
                store_id, account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [
            LiveSecret(
                str(s.id),
                str(s.name),
                str(s.status),
                tuple(getattr(s, "scopes", None) or ()),
                getattr(s, "comment", None) or None,
            )
            for s in pages
        ]

    def script_bindings(self, script_name: str) -> list[LiveBinding] | None:
        """A script's bindings as deployed; None when the script does not exist (404)."""
        key = "GET /accounts/{account_id}/workers/scripts/{script_name}/settings"
        settings = self._call(
            key,
            lambda: self.client.workers.scripts.script_and_version_settings.get(
                script_name, account_id=self.account_id
            ),
            missing_ok=True,
        )
        if settings is None:
            return None
        out = []
        for binding in getattr(settings, "bindings", None) or []:
            data = binding.model_dump() if hasattr(binding, "model_dump") else dict(binding)
            target = data.get("namespace_id") or data.get("service") or None
            out.append(
                LiveBinding(
                    name=str(data.get("name")),
                    type=str(data.get("type")),
                    secret_name=data.get("secret_name"),
                    store_id=data.get("store_id"),
                    target=target,
                )
            )
        return out

    def scripts(self) -> list[str]:
        """Names of the account's Worker scripts."""
        result = self._call(
            "GET /accounts/{account_id}/workers/scripts",
            lambda: self.client.workers.scripts.list(account_id=self.account_id),
        )
        return sorted(str(getattr(s, "id", "")) for s in result)

    def kv_namespaces(self) -> list[dict[str, str]]:
        """The account's KV namespaces: `{id, title}`."""
        pages = self._pages(
            "GET /accounts/{account_id}/storage/kv/namespaces",
            lambda page: self.client.kv.namespaces.list(
                account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [{"id": str(n.id), "title": str(n.title)} for n in pages]

    # ---- plumbing ------------------------------------------------------------------------

    def _pages(self, key: str, fetch: Callable[[int], Any]) -> Iterator[Any]:
        page = 1
        while True:
            answer = self._call(key, lambda page=page: fetch(page))  # type: ignore[misc]
            items = list(getattr(answer, "result", None) or [])
            yield from items
            info = getattr(answer, "result_info", None)
            total = getattr(info, "total_pages", None) if info is not None else None
            last = page >= total if isinstance(total, int) else len(items) < PER_PAGE
            if last or not items:
                return
            page += 1

    def _call(self, key: str, request: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        """One request; a 404 is None when `missing_ok`, every failure one line (exit 2)."""
        import cloudflare

        self.calls[key] += 1
        try:
            return request()
        except cloudflare.AuthenticationError:
            raise AccountError(
                "CLOUDFLARE_API_TOKEN: refused by Cloudflare (401), got an invalid or expired "
                "token (create one with Secrets Store Read and Workers Scripts Read)"
            ) from None
        except cloudflare.PermissionDeniedError:
            raise AccountError(
                f"CLOUDFLARE_API_TOKEN: may not read account {self.account_id} (403), got a "
                "token without access (grant it Secrets Store Read and Workers Scripts Read on "
                "this account, or check secrets-store:accountId)"
            ) from None
        except cloudflare.APIConnectionError:
            where = os.environ.get("CLOUDFLARE_BASE_URL") or "api.cloudflare.com"
            raise AccountError(
                f"CLOUDFLARE_BASE_URL: cannot reach {where}, got no answer (check the network, "
                "or unset CLOUDFLARE_BASE_URL to use api.cloudflare.com)"
            ) from None
        except cloudflare.NotFoundError:
            if missing_ok:
                return None
            raise AccountError(
                f"Cloudflare API: {key} answered 404, got no such resource in account "
                f"{self.account_id} (check secrets-store:accountId and store.id)"
            ) from None
        except cloudflare.RateLimitError:
            raise AccountError(
                f"Cloudflare API: {key} answered 429, got rate limited (wait a minute and "
                "run it again; nothing was changed)"
            ) from None
        except cloudflare.APIStatusError as exc:
            raise AccountError(
                f"Cloudflare API: {key} failed with HTTP {exc.status_code}, got "
                f"{_codes(exc)} (retry, or check the account id and token)"
            ) from None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def _codes(exc: Any) -> str:
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return (
            ", ".join(f"error {e.get('code')}" for e in errors if isinstance(e, dict)) or "an error"
        )
    return "an error"
