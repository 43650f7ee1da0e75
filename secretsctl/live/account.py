"""Reads of the live Cloudflare account, through Cloudflare's official Python library.

The only module that talks to Cloudflare. Credentials and endpoint exactly as the
library takes them: `CLOUDFLARE_API_TOKEN`, and `CLOUDFLARE_BASE_URL` when set. It
reads names, ids, statuses and bindings only: the API never returns a secret value,
and nothing here would print one.

Every answer is treated as untrusted input:

- Its body is read through the library's streaming response, at most
  `MAX_ANSWER_BYTES`, and checked against the shape this module reads (strict types:
  a name is a string, a list is a list). Anything else, not JSON, HTML, `null`, a
  number too long to read, an item of the wrong type, is one line naming the endpoint
  and what was wrong (exit 2).
- Lists are read page by page with `per_page` at its maximum and stop at the last page
  (a store with fewer than 100 secrets costs one request), and at most `MAX_PAGES`
  pages: more is refused, saying how far the read got.
- The whole command shares one `Deadline`. Each request runs on a worker thread the
  command waits for only until the deadline, so a body that drips one byte at a time
  (every byte restarts an HTTP read timeout) cannot hold the command past it; the
  library's own timeout is set to what remains, so an abandoned request ends too.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from secrets_store.grammar import STORE_ID
from secretsctl.errors import InvalidInput
from secretsctl.live.deadline import Deadline
from secretsctl.live.untrusted import printable

PER_PAGE = 100
MAX_PAGES = 50
"""5,000 items of a list: 50 times Cloudflare's 100 secrets per account (its beta limit)."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""One answer's body at most (a full page of 100 secrets is about 30 KB)."""
MAX_COUNT = 10**12
"""Page numbers and counts beyond this are not an answer Cloudflare gives."""

T = TypeVar("T")


class AccountError(InvalidInput):
    """No token, a refused token, an unreachable API, a malformed answer, no time left:
    the run cannot read the account."""


# ---- the shape of the answers, as far as this module reads them -------------------------


class _Item(BaseModel):
    # strict: an id that is a number, or a list where a string belongs, is a malformed
    # answer, not something to coerce; unknown fields are ignored.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _PageInfo(_Item):
    page: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    per_page: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    total_pages: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    total_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)


class _Answer(_Item, Generic[T]):
    """Cloudflare's v4 envelope around every answer."""

    success: Literal[True]
    result: T
    result_info: _PageInfo | None = None


class _Store(_Item):
    id: str
    name: str

    @field_validator("id")
    @classmethod
    def _store_id(cls, value: str) -> str:
        # It becomes part of the next request's URL: a newline or a `/` must not get there.
        if not STORE_ID.fullmatch(value):
            raise ValueError("not a store id (32 lowercase hex characters)")
        return value


class _Secret(_Item):
    id: str
    name: str
    status: str | None = None
    scopes: list[str] | None = None
    comment: str | None = None


class _Binding(_Item):
    name: str
    type: str
    secret_name: str | None = None
    store_id: str | None = None
    namespace_id: str | None = None
    service: str | None = None


class _Settings(_Item):
    bindings: list[_Binding] | None = None


class _Script(_Item):
    id: str


class _Namespace(_Item):
    id: str
    title: str


# ---- what the commands get ----------------------------------------------------------------


@dataclass(frozen=True)
class LiveSecret:
    id: str
    name: str
    status: str | None
    """pending | active | deleted as Cloudflare documents it; anything else (or null) is
    shown as seen and counts as not active."""
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
    deadline: Deadline = field(default_factory=Deadline.starting_now)
    calls: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_environment(cls, account_id: str, deadline: Deadline | None = None) -> Account:
        token = os.environ.get("CLOUDFLARE_API_TOKEN")
        if not token:
            raise AccountError(
                "CLOUDFLARE_API_TOKEN: not set, got nothing (export a token with Secrets Store "
                "Read and Workers Scripts Read: export CLOUDFLARE_API_TOKEN=<token>)"
            )
        import cloudflare
        import httpx

        deadline = deadline or Deadline.starting_now()
        base_url = os.environ.get("CLOUDFLARE_BASE_URL") or None
        try:
            # No retries: a go/no-go must answer promptly, a retry would spend the deadline
            # again on the same failure, and every call is counted.
            client = cloudflare.Cloudflare(
                api_token=token, base_url=base_url, max_retries=0, timeout=deadline.seconds
            )
        except httpx.InvalidURL:
            raise AccountError(
                f"CLOUDFLARE_BASE_URL: not a URL, got {_shown_url(repr(base_url))} (for "
                "example https://api.cloudflare.com/client/v4, or unset it)"
            ) from None
        return cls(account_id, client, deadline)

    # ---- reads ---------------------------------------------------------------------------

    def stores(self) -> list[dict[str, str]]:
        """Every Secrets Store of the account: `{id, name}`."""
        stores = self._pages(
            "GET /accounts/{account_id}/secrets_store/stores",
            _Store,
            lambda client, page: client.secrets_store.stores.with_streaming_response.list(
                account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [{"id": s.id, "name": s.name} for s in stores]

    def secrets(self, store_id: str) -> list[LiveSecret]:
        """Every secret of a store (names, ids and statuses; never values)."""
        secrets = self._pages(
            "GET /accounts/{account_id}/secrets_store/stores/{store_id}/secrets",
            _Secret,
            lambda client, page: client.secrets_store.stores.secrets.with_streaming_response.list(
                store_id, account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [
            LiveSecret(s.id, s.name, s.status, tuple(s.scopes or ()), s.comment or None)
            for s in secrets
        ]

    def script_bindings(self, script_name: str) -> list[LiveBinding] | None:
        """A script's bindings as deployed; None when the script does not exist (404)."""
        settings = self._read(
            "GET /accounts/{account_id}/workers/scripts/{script_name}/settings",
            _Settings,
            lambda client: (
                client.workers.scripts.script_and_version_settings.with_streaming_response.get(
                    script_name, account_id=self.account_id
                )
            ),
            missing_ok=True,
        )
        if settings is None:
            return None
        return [
            LiveBinding(b.name, b.type, b.secret_name, b.store_id, b.namespace_id or b.service)
            for b in settings.result.bindings or []
        ]

    def scripts(self) -> list[str]:
        """Names of the account's Worker scripts."""
        answer = self._read(
            "GET /accounts/{account_id}/workers/scripts",
            list[_Script],
            lambda client: client.workers.scripts.with_streaming_response.list(
                account_id=self.account_id
            ),
        )
        assert answer is not None  # not missing_ok
        return sorted(s.id for s in answer.result)

    def kv_namespaces(self) -> list[dict[str, str]]:
        """The account's KV namespaces: `{id, title}`."""
        namespaces = self._pages(
            "GET /accounts/{account_id}/storage/kv/namespaces",
            _Namespace,
            lambda client, page: client.kv.namespaces.with_streaming_response.list(
                account_id=self.account_id, page=page, per_page=PER_PAGE
            ),
        )
        return [{"id": n.id, "title": n.title} for n in namespaces]

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    # ---- plumbing ------------------------------------------------------------------------

    def _pages(
        self,
        key: str,
        item: type[T],
        request: Callable[[Any, int], AbstractContextManager[Any]],
    ) -> list[T]:
        """Every item of a paged list, at most `MAX_PAGES` pages."""
        items: list[T] = []
        for page in range(1, MAX_PAGES + 1):
            answer = self._read(key, list[item], lambda c, p=page: request(c, p))  # type: ignore[valid-type,misc]
            assert answer is not None  # not missing_ok
            items += answer.result
            info = answer.result_info
            total = info.total_pages if info is not None else None
            if total is not None and total > MAX_PAGES:
                raise AccountError(
                    f"Cloudflare API: {key} has more pages than {MAX_PAGES} of {PER_PAGE}, got "
                    f"total_pages {total:,} after reading {page} page(s) (a list this long is "
                    "not an account Cloudflare serves: check CLOUDFLARE_BASE_URL)"
                )
            last = page >= total if total is not None else len(answer.result) < PER_PAGE
            if last or not answer.result:
                return items
        raise AccountError(
            f"Cloudflare API: {key} has more pages than {MAX_PAGES} of {PER_PAGE}, got a full "
            f"page {MAX_PAGES} and more to come after reading {len(items):,} item(s) (a list "
            "this long is not an account Cloudflare serves: check CLOUDFLARE_BASE_URL)"
        )

    def _read(
        self,
        key: str,
        shape: Any,
        request: Callable[[Any], AbstractContextManager[Any]],
        *,
        missing_ok: bool = False,
    ) -> _Answer[Any] | None:
        """One request, its answer checked against `shape`; None for a 404 when `missing_ok`.
        Every failure is one line (exit 2).

        The request, the reading of its body and the checking of it run on a worker thread
        the command waits for only until the deadline: a body that drips one byte at a time
        restarts the HTTP read timeout on every byte, and a huge one takes long to check."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise self._late(key)
        self.calls[key] += 1
        client = self.client.with_options(timeout=remaining)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with request(client) as response:
                    body = self._body(key, response)
                outcome["answer"] = _adapter(shape).validate_json(body)
            except BaseException as exc:  # handed to the waiting thread, which maps it
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"cloudflare {key}", daemon=True)
        worker.start()
        worker.join(max(0.0, self.deadline.remaining()))
        if worker.is_alive():
            raise self._late(key)  # the daemon thread ends with its own timeout, or the process
        if "answer" in outcome:
            return outcome["answer"]
        error = outcome["error"]
        if isinstance(error, ValidationError):
            raise AccountError(
                f"Cloudflare API: {key} answered a malformed body, got {_first_problem(error)} "
                "(is CLOUDFLARE_BASE_URL Cloudflare's API? Nothing was read or changed)"
            )
        self._refuse(key, error, missing_ok=missing_ok)
        return None

    def _body(self, key: str, response: Any) -> bytes:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise AccountError(
                    f"Cloudflare API: {key} answered a malformed body, got more than "
                    f"{MAX_ANSWER_BYTES:,} bytes (is CLOUDFLARE_BASE_URL Cloudflare's API? "
                    "Nothing was read or changed)"
                )
            if self.deadline.remaining() <= 0:
                raise self._late(key)
        return bytes(body)

    def _late(self, key: str) -> AccountError:
        return AccountError(
            f"--deadline: {self.deadline.seconds:g} s passed before {key} answered, got "
            f"{self.total_calls} API call(s) started (check the network and "
            "CLOUDFLARE_BASE_URL, or allow more time: --deadline SECONDS)"
        )

    def _refuse(self, key: str, error: BaseException, *, missing_ok: bool) -> None:
        """Raises the one line for `error`; returns only for a 404 when `missing_ok`."""
        import cloudflare

        if isinstance(error, AccountError):
            raise error
        if isinstance(error, cloudflare.AuthenticationError):
            raise AccountError(
                "CLOUDFLARE_API_TOKEN: refused by Cloudflare (401), got an invalid or expired "
                "token (create one with Secrets Store Read and Workers Scripts Read)"
            )
        if isinstance(error, cloudflare.PermissionDeniedError):
            raise AccountError(
                f"CLOUDFLARE_API_TOKEN: may not read account {self.account_id} (403), got a "
                "token without access (grant it Secrets Store Read and Workers Scripts Read on "
                "this account, or check secrets-store:accountId)"
            )
        if isinstance(error, cloudflare.APITimeoutError):
            raise self._late(key)
        if isinstance(error, cloudflare.APIConnectionError):
            where = _shown_url(os.environ.get("CLOUDFLARE_BASE_URL") or "api.cloudflare.com")
            raise AccountError(
                f"CLOUDFLARE_BASE_URL: cannot reach {where}, got no answer (check the network, "
                "or unset CLOUDFLARE_BASE_URL to use api.cloudflare.com)"
            )
        if isinstance(error, cloudflare.NotFoundError):
            if missing_ok:
                return
            raise AccountError(
                f"Cloudflare API: {key} answered 404, got no such resource in account "
                f"{self.account_id} (check secrets-store:accountId and store.id)"
            )
        if isinstance(error, cloudflare.RateLimitError):
            raise AccountError(
                f"Cloudflare API: {key} answered 429, got rate limited (wait a minute and "
                "run it again; nothing was changed)"
            )
        if isinstance(error, cloudflare.APIStatusError):
            raise AccountError(
                f"Cloudflare API: {key} failed with HTTP {error.status_code}, got "
                f"{_codes(error)} (retry, or check the account id and token)"
            )
        if isinstance(error, Exception):
            # Whatever else a hostile answer makes the library or httpx raise (a broken
            # chunked encoding, a redirect loop): one line, never a traceback.
            raise AccountError(
                f"Cloudflare API: {key} could not be read, got {type(error).__name__} (is "
                "CLOUDFLARE_BASE_URL Cloudflare's API? Nothing was read or changed)"
            )
        raise error  # KeyboardInterrupt, SystemExit: not ours to turn into a line


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(shape: Any) -> TypeAdapter[Any]:
    if shape not in _adapters:
        _adapters[shape] = TypeAdapter(_Answer[shape])  # type: ignore[valid-type]
    return _adapters[shape]


def _first_problem(exc: ValidationError) -> str:
    """The first problem of a malformed answer: where, what, and the type found (never the
    value: it is the API's text, and may be anything)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    found = "" if first["type"] == "json_invalid" else f", found {type(first['input']).__name__}"
    more = f" (and {len(errors) - 1:,} more)" if len(errors) > 1 else ""
    return f"{where.lstrip('.') or 'the body'}: {first['msg'].lower()}{found}{more}"


def _shown_url(url: str) -> str:
    """A base URL for an error line: any `user:password@` in it is never shown."""
    return printable(re.sub(r"//[^/@]*@", "//…@", url), 120)


def _codes(exc: Any) -> str:
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        codes = [e.get("code") for e in errors[:5] if isinstance(e, dict)]
        return ", ".join(f"error {printable(c, 20)}" for c in codes) or "an error"
    return "an error"
