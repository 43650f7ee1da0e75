"""The rules and the data of the local Cloudflare API, with no HTTP in sight.

Each rule mirrors what Cloudflare documents (or, where it documents nothing, what its API
was seen to answer), so a tool tested here meets the same refusals it meets live:

- Accounts: a request for an account this server does not know answers 403, code 10000
  "Authentication error", as Cloudflare does for an account the token cannot reach.
- Secrets Store: one store per account; a second create fails with code 1003
  `maximum_stores_exceeded` (HTTP 400, as wrangler and alchemy users report:
  cloudflare/workers-sdk#10052, alchemy-run/alchemy-async#377). The dashboard
  creates `default_secrets_store` for an account; `seed_account` does the same. A store that
  holds secrets is deleted only with `force=true`, else 409 `store_not_empty` (as the
  official library documents).
- Secrets: a name has no spaces (this server takes letters, digits, `_` and `-`, 1-255
  characters); a value is at most 65,536 bytes ("Maximum 64 KiB (65,536 bytes)" in the
  API schema); scopes come from the SDK's list (`access`, `ai_gateway`, `containers`,
  `dex`, `websearch`, `workers`); at most 100
  secrets per account ("up to 100 secrets per account" in the open beta); a name is unique
  within its store. A new secret is `pending` while it propagates, then `active`: here for
  `pending_seconds` read from an injectable clock. A PATCH changes value, scopes and comment
  in place and leaves the status alone. DELETE answers 202 Accepted (the schema's
  `secrets-store-secret-delete-by-id` response; the library's `delete()` returns the
  result as a plain object) with the secret, now `deleted`: the status enum of every
  secret the library parses is `pending | active | deleted`. A deleted secret stays listed
  (and readable by id) as `deleted` for `deleted_seconds`, then is gone (404, 7003).
  Values are write-only: Cloudflare never returns one, and this server keeps only a SHA-256
  digest (to compare and duplicate), never the value.
- Secrets Store error codes, as Cloudflare answers them: 1001 for a request it refuses
  (`secret_value_too_long [code: 1001]`, cloudflare/workers-sdk#9707); 1003 both for a
  second store and for a secret name the store already holds (what a first deploy meets
  when a `<name>_v<N>` secret exists that no `importIds` entry adopts); 7003 "Could not
  route to <path>, perhaps your object identifier is invalid?" for a store or secret id
  that names nothing (HTTP 404). Where Cloudflare documents no code (bad scopes, a body
  that is not what the schema says, the 100-secret limit, a non-empty store) this server
  keeps codes of its own (1004, 1006, 1009, 1010), marked below.
- Workers scripts: uploads are refused when a binding points at nothing, with Cloudflare's
  codes: `secrets_store_secret` to a missing or still-pending secret 10182, `kv_namespace`
  to a missing namespace 10041, `service` to a missing script 10143; a secret the binding
  may not use (no `workers` scope) 10021, as does a `secret_text`/`plain_text` binding with
  no text. A missing script is 404, code 10007. `secret_text` bindings are stored without
  their text and returned without it, as Cloudflare does.
- KV namespaces: titles are unique per account (code 10014); a missing namespace is 10013.

Not thread-safe by itself: `server.LocalCloudflare` serialises every request and admin call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Json = dict[str, Any]
Clock = Callable[[], float]
Status = Literal["pending", "active"]  # what the admin methods set
LiveStatus = Literal["pending", "active", "deleted"]  # what the API reports

DEFAULT_STORE_NAME = "default_secrets_store"
MAX_SECRETS_PER_ACCOUNT = 100
MAX_VALUE_BYTES = 65_536
SCOPES = ("access", "ai_gateway", "containers", "dex", "websearch", "workers")
"""Every scope the official SDK declares for a secret (its `scopes` Literal)."""
SECRET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
DELETED_SECONDS = 30.0  # how long a deleted secret stays listed; Cloudflare gives no figure
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the manual clock's default start

# Cloudflare's codes, and (marked "ours") this server's where Cloudflare documents none,
# in one table so callers can match on them.
AUTH_ERROR = 10000
INVALID_REQUEST = 1001  # a refused name or value (secret_value_too_long is 1001 live)
ALREADY_EXISTS = 1003  # a second store (maximum_stores_exceeded), or a name already taken
NOT_ROUTABLE = 7003  # a store or secret id that names nothing: "Could not route to ..."
SECRET_LIMIT = 1004  # ours: the live code for the 100-secret limit is not documented
INVALID_SCOPES = 1006  # ours
STORE_NOT_EMPTY = 1009  # ours (the library documents `force`, not the refusal's code)
INVALID_BODY = 1010  # ours
SCRIPT_NOT_FOUND = 10007
KV_NOT_FOUND = 10013
KV_DUPLICATE_TITLE = 10014
SCRIPT_INVALID = 10021
KV_BINDING_NOT_FOUND = 10041
SERVICE_BINDING_NOT_FOUND = (
    10143  # this project's contract; one public probe of the live API saw 10144
)
SECRETS_STORE_BINDING_NOT_FOUND = 10182


class CloudflareError(Exception):
    """A refusal as the v4 API sends it: HTTP status plus one `{code, message}` error.

    Messages name the rule and the offending name or size, never a secret value.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} [{code}] {message}")
        self.status, self.code, self.message = status, code, message


def bad_request(code: int, message: str) -> CloudflareError:
    return CloudflareError(400, code, message)


def not_routable(path: str) -> CloudflareError:
    """Cloudflare's answer for an id in the path that names nothing (code 7003)."""
    return CloudflareError(
        404, NOT_ROUTABLE, f"Could not route to {path}, perhaps your object identifier is invalid?"
    )


class ManualClock:
    """A clock that moves only when told to, so tests see `pending` turn `active` at once."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def system_clock() -> float:
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass
class Secret:
    id: str
    store_id: str
    name: str
    value_digest: bytes = field(repr=False)
    scopes: list[str]
    comment: str
    created: float
    modified: float
    active_at: float | None  # None: pending until set_secret_status says otherwise
    deleted_at: float | None = None  # set by DELETE: listed as `deleted` for a while
    value_writes: int = 1
    """Times a value was written (1 at creation, +1 per PATCH carrying one): tests can tell
    that a deploy left a value alone without the value ever being kept."""

    def status(self, now: float) -> LiveStatus:
        if self.deleted_at is not None:
            return "deleted"
        return "active" if self.active_at is not None and now >= self.active_at else "pending"

    def view(self, now: float) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status(now),
            "store_id": self.store_id,
            "scopes": list(self.scopes),
            "comment": self.comment,
            "created": iso(self.created),
            "modified": iso(self.modified),
        }


@dataclass
class Store:
    id: str
    name: str
    account_id: str
    created: float
    secrets: dict[str, Secret] = field(default_factory=dict)  # by secret id

    def view(self) -> Json:
        created = iso(self.created)
        return {
            "id": self.id,
            "name": self.name,
            "account_id": self.account_id,
            "created": created,
            "modified": created,
        }

    def by_name(self, name: str) -> Secret | None:
        """The secret that holds `name`; a deleted one holds nothing (it only lingers)."""
        return next(
            (s for s in self.secrets.values() if s.name == name and s.deleted_at is None), None
        )

    def expire(self, before: float) -> None:
        """Forget secrets deleted before `before` (they have lingered long enough)."""
        for secret_id in [
            i
            for i, s in self.secrets.items()
            if s.deleted_at is not None and s.deleted_at <= before
        ]:
            del self.secrets[secret_id]


@dataclass
class Module:
    content_type: str
    content: bytes = field(repr=False)


@dataclass
class Script:
    name: str
    main_module: str
    modules: dict[str, Module]
    bindings: list[Json]  # as uploaded, secret_text bindings stripped of their text
    compatibility_date: str | None
    compatibility_flags: list[str]
    created: float
    modified: float
    tag: str = field(default_factory=new_id)
    settings: Json = field(default_factory=lambda: {"logpush": False, "tags": []})

    def view(self) -> Json:
        return {
            "id": self.name,
            "tag": self.tag,
            "etag": hashlib.sha256(self.tag.encode()).hexdigest(),
            "created_on": iso(self.created),
            "modified_on": iso(self.modified),
            "has_modules": True,
            "has_assets": False,
            "handlers": ["fetch"],
            "compatibility_date": self.compatibility_date,
            "compatibility_flags": list(self.compatibility_flags),
            "usage_model": "standard",
            "logpush": bool(self.settings.get("logpush", False)),
            "tags": list(self.settings.get("tags") or []),
            "tail_consumers": list(self.settings.get("tail_consumers") or []),
            "last_deployed_from": "api",
        }

    def settings_view(self) -> Json:
        return {
            "bindings": [dict(b) for b in self.bindings],
            "compatibility_date": self.compatibility_date,
            "compatibility_flags": list(self.compatibility_flags),
            "usage_model": "standard",
            **self.script_settings_view(),
        }

    def script_settings_view(self) -> Json:
        view: Json = {
            "logpush": bool(self.settings.get("logpush", False)),
            "tags": list(self.settings.get("tags") or []),
            "tail_consumers": list(self.settings.get("tail_consumers") or []),
        }
        if self.settings.get("observability") is not None:
            view["observability"] = self.settings["observability"]
        return view


@dataclass
class Account:
    id: str
    stores: dict[str, Store] = field(default_factory=dict)
    scripts: dict[str, Script] = field(default_factory=dict)
    kv: dict[str, str] = field(default_factory=dict)  # namespace id -> title

    def secret_count(self) -> int:
        """Secrets that count against the quota (not the deleted ones: Cloudflare says nothing
        on that, and a deleted secret no longer holds its name either)."""
        return sum(
            1
            for store in self.stores.values()
            for s in store.secrets.values()
            if s.deleted_at is None
        )


def _sorted(items: list[Json], order: str, direction: str, default: str) -> list[Json]:
    key = order if items and order in items[0] else default
    # sorted() is stable: equal keys keep insertion order (creation order)
    return sorted(items, key=lambda v: str(v.get(key) or ""), reverse=direction == "desc")


class State:
    """Every account, store, secret, script and KV namespace, and the rules that guard them.

    Behavior:
    - HTTP-facing methods take the request's parsed body and return JSON-able views, or
      raise CloudflareError; they never return or keep a secret value.
    - Admin methods (`seed_*`, `plant_secret`, `remove_secret`, `set_secret_status`,
      `redeploy_script`, `advance`) change state behind the API's back, as the dashboard
      or another engineer would, and skip the API's checks.

    Example:
        state = State(pending_seconds=5, clock=ManualClock())
        store_id = state.seed_account("0" * 32)
    """

    def __init__(
        self,
        *,
        pending_seconds: float = 0.0,
        deleted_seconds: float = DELETED_SECONDS,
        clock: Clock | None = None,
        keep_values: bool = False,
    ) -> None:
        self.pending_seconds = pending_seconds
        self.deleted_seconds = deleted_seconds
        self.clock: Clock = clock or ManualClock()
        self.accounts: dict[str, Account] = {}
        # The engine rehearsal only: values kept in this process's memory, by secret id, so
        # that workerd can be given what the account holds. Never in an answer or a log.
        self._values: dict[str, str] | None = {} if keep_values else None

    def _keep(self, secret_id: str, value: str) -> None:
        if self._values is not None:
            self._values[secret_id] = value

    def secret_value(self, account_id: str, name: str) -> str:
        """The value the named secret holds (only with `keep_values`: the engine rehearsal)."""
        if self._values is None:
            raise RuntimeError("secret values are not kept (start the server with keep_values)")
        return self._values[self._named_secret(account_id, name).id]

    # ---- admin -------------------------------------------------------------------------

    def seed_account(self, account_id: str, *, default_store: bool = True) -> str | None:
        """Add an account, with `default_secrets_store` (its id returns) unless told not to."""
        self.accounts.setdefault(account_id, Account(account_id))
        return self.seed_store(account_id) if default_store else None

    def seed_store(self, account_id: str, name: str = DEFAULT_STORE_NAME) -> str:
        account = self.account(account_id)
        store = Store(new_id(), name, account_id, self.clock())
        account.stores[store.id] = store
        return store.id

    def plant_secret(
        self,
        account_id: str,
        name: str,
        value: str,
        *,
        scopes: Iterable[str] = ("workers",),
        comment: str = "",
        status: Status = "active",
        store_id: str | None = None,
    ) -> str:
        """Put a secret straight into the store (no checks); `pending` stays so until told."""
        store = self._store(account_id, store_id) if store_id else self._only_store(account_id)
        now = self.clock()
        secret = Secret(
            new_id(),
            store.id,
            name,
            digest(value),
            list(scopes),
            comment,
            now,
            now,
            now if status == "active" else None,
        )
        store.secrets[secret.id] = secret
        self._keep(secret.id, value)
        return secret.id

    def set_secret_status(self, account_id: str, name: str, status: Status) -> None:
        secret = self._named_secret(account_id, name)
        secret.active_at = self.clock() if status == "active" else None

    def remove_secret(self, account_id: str, name: str) -> None:
        """Delete a secret by name behind the tool's back."""
        secret = self._named_secret(account_id, name)
        del self.account(account_id).stores[secret.store_id].secrets[secret.id]

    def secret_value_matches(self, account_id: str, name: str, value: str) -> bool:
        return hmac.compare_digest(self._named_secret(account_id, name).value_digest, digest(value))

    def secret_value_writes(self, account_id: str, name: str) -> int:
        """How many times the named secret's value was written (see `Secret.value_writes`)."""
        return self._named_secret(account_id, name).value_writes

    def seed_kv_namespace(self, account_id: str, title: str, namespace_id: str = "") -> str:
        namespace_id = namespace_id or new_id()
        self.account(account_id).kv[namespace_id] = title
        return namespace_id

    def redeploy_script(
        self,
        account_id: str,
        script_name: str,
        bindings: list[Json],
        *,
        modules: Mapping[str, str] | None = None,
        main_module: str | None = None,
    ) -> None:
        """Replace a script's bindings (and modules, if given) without any binding checks."""
        account = self.account(account_id)
        now = self.clock()
        old = account.scripts.get(script_name)
        mods = (
            {k: Module("application/javascript+module", v.encode()) for k, v in modules.items()}
            if modules is not None
            else (
                old.modules if old else {"index.js": Module("application/javascript+module", b"")}
            )
        )
        main = main_module or (
            old.main_module if old and old.main_module in mods else next(iter(mods))
        )
        account.scripts[script_name] = Script(
            script_name,
            main,
            mods,
            [_stored(b) for b in bindings],
            old.compatibility_date if old else None,
            old.compatibility_flags if old else [],
            old.created if old else now,
            now,
            settings=old.settings if old else {"logpush": False, "tags": []},
        )

    def advance(self, seconds: float) -> None:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the ManualClock; this state runs on another clock")
        self.clock.advance(seconds)

    # ---- lookups -----------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise CloudflareError(403, AUTH_ERROR, "Authentication error")
        linger_since = self.clock() - self.deleted_seconds
        for store in account.stores.values():
            store.expire(linger_since)
        return account

    def _store(self, account_id: str, store_id: str) -> Store:
        store = self.account(account_id).stores.get(store_id)
        if store is None:
            raise not_routable(f"/accounts/{account_id}/secrets_store/stores/{store_id}")
        return store

    def _only_store(self, account_id: str) -> Store:
        stores = list(self.account(account_id).stores.values())
        if not stores:
            raise not_routable(f"/accounts/{account_id}/secrets_store/stores")
        return stores[0]

    def _secret(
        self, account_id: str, store_id: str, secret_id: str, *, deleted_ok: bool = False
    ) -> Secret:
        """A secret by id; a deleted one only when `deleted_ok` (GET shows it, but nothing
        edits, duplicates or deletes it again: Cloudflare documents neither, so it is gone)."""
        secret = self._store(account_id, store_id).secrets.get(secret_id)
        if secret is None or (secret.deleted_at is not None and not deleted_ok):
            raise not_routable(
                f"/accounts/{account_id}/secrets_store/stores/{store_id}/secrets/{secret_id}"
            )
        return secret

    def _named_secret(self, account_id: str, name: str) -> Secret:
        for store in self.account(account_id).stores.values():
            if (secret := store.by_name(name)) is not None:
                return secret
        raise CloudflareError(404, NOT_ROUTABLE, f"no secret named {name!r} in this account")

    # ---- Secrets Store -----------------------------------------------------------------

    def list_stores(
        self, account_id: str, order: str = "created", direction: str = "asc"
    ) -> list[Json]:
        views = [s.view() for s in self.account(account_id).stores.values()]
        return _sorted(views, order, direction, "created")

    def create_store(self, account_id: str, body: object) -> Json:
        account = self.account(account_id)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_request(
                INVALID_BODY, "invalid_request_body: 'name' must be a non-empty string"
            )
        if account.stores:
            raise bad_request(ALREADY_EXISTS, "maximum_stores_exceeded")
        return account.stores[self.seed_store(account_id, name)].view()

    def get_store(self, account_id: str, store_id: str) -> Json:
        return self._store(account_id, store_id).view()

    def delete_store(self, account_id: str, store_id: str, force: bool = False) -> None:
        store = self._store(account_id, store_id)
        if store.secrets and not force:
            raise CloudflareError(
                409,
                STORE_NOT_EMPTY,
                f"store_not_empty: store holds {len(store.secrets)} secrets (pass force=true)",
            )
        del self.account(account_id).stores[store_id]

    def quota(self, account_id: str) -> Json:
        usage = self.account(account_id).secret_count()
        return {"secrets": {"quota": MAX_SECRETS_PER_ACCOUNT, "usage": usage}}

    def list_secrets(
        self,
        account_id: str,
        store_id: str,
        *,
        search: str | None = None,
        scopes: Iterable[str] = (),
        order: str = "created",
        direction: str = "asc",
    ) -> list[Json]:
        now, wanted = self.clock(), set(scopes)
        views = []
        for secret in self._store(account_id, store_id).secrets.values():
            text = f"{secret.name}\n{secret.comment}".lower()
            if search and search.lower() not in text:
                continue
            if not wanted <= set(secret.scopes):
                continue
            views.append(secret.view(now))
        return _sorted(views, order, direction, "created")

    def create_secrets(self, account_id: str, store_id: str, body: object) -> list[Json]:
        """Bulk create: every entry is checked before any is stored (all or nothing)."""
        account, store = self.account(account_id), self._store(account_id, store_id)
        if not isinstance(body, list) or not body:
            raise bad_request(INVALID_BODY, "invalid_request_body: expected a non-empty JSON list")
        entries = [_secret_entry(item, index) for index, item in enumerate(body)]
        seen: set[str] = set()
        for entry in entries:
            name = entry["name"]
            if store.by_name(name) is not None or name in seen:
                # 1003, as live: a first deploy meets it when `<name>_v<N>` exists unadopted
                raise bad_request(
                    ALREADY_EXISTS, f"secret_name_already_exists: {name!r} exists in this store"
                )
            seen.add(name)
        if account.secret_count() + len(entries) > MAX_SECRETS_PER_ACCOUNT:
            raise bad_request(
                SECRET_LIMIT,
                f"maximum_secrets_exceeded: account holds {account.secret_count()} secrets, "
                f"{len(entries)} more would pass the limit of {MAX_SECRETS_PER_ACCOUNT}",
            )
        now = self.clock()
        created = []
        for entry in entries:
            secret = Secret(
                new_id(),
                store.id,
                entry["name"],
                digest(entry["value"]),
                entry["scopes"],
                entry.get("comment", ""),
                now,
                now,
                now + self.pending_seconds,
            )
            store.secrets[secret.id] = secret
            self._keep(secret.id, entry["value"])
            created.append(secret.view(now))
        return created

    def get_secret(self, account_id: str, store_id: str, secret_id: str) -> Json:
        return self._secret(account_id, store_id, secret_id, deleted_ok=True).view(self.clock())

    def edit_secret(self, account_id: str, store_id: str, secret_id: str, body: object) -> Json:
        """PATCH in place: value, scopes and comment; the status is left as it is."""
        secret = self._secret(account_id, store_id, secret_id)
        if not isinstance(body, dict):
            raise bad_request(INVALID_BODY, "invalid_request_body: expected a JSON object")
        label = f"secret {secret.name!r}"
        if "value" in body:
            secret.value_digest = digest(_checked_value(body["value"], label))
            secret.value_writes += 1
            self._keep(secret.id, body["value"])
        if "scopes" in body:
            secret.scopes = _checked_scopes(body["scopes"], label)
        if "comment" in body:
            secret.comment = _checked_comment(body["comment"], label)
        secret.modified = self.clock()
        return secret.view(secret.modified)

    def delete_secret(self, account_id: str, store_id: str, secret_id: str) -> Json:
        """Mark the secret `deleted` (listed so for `deleted_seconds`) and return it."""
        secret = self._secret(account_id, store_id, secret_id)
        secret.deleted_at = secret.modified = self.clock()
        return secret.view(secret.deleted_at)

    def duplicate_secret(
        self, account_id: str, store_id: str, secret_id: str, body: object
    ) -> Json:
        """A new secret with the original's value under a new name, scopes and comment."""
        source = self._secret(account_id, store_id, secret_id)
        if not isinstance(body, dict):
            raise bad_request(INVALID_BODY, "invalid_request_body: expected a JSON object")
        entry = {k: body[k] for k in ("name", "scopes", "comment") if k in body}
        [view] = self.create_secrets(account_id, store_id, [{**entry, "value": ""}])
        self._store(account_id, store_id).secrets[view["id"]].value_digest = source.value_digest
        return view

    # ---- Workers scripts ---------------------------------------------------------------

    def put_script(
        self, account_id: str, script_name: str, metadata: object, modules: dict[str, Module]
    ) -> Json:
        account = self.account(account_id)
        if not isinstance(metadata, dict):
            raise bad_request(SCRIPT_INVALID, "metadata part missing or not a JSON object")
        main = metadata.get("main_module") or metadata.get("body_part")
        if not isinstance(main, str):
            raise bad_request(SCRIPT_INVALID, "metadata must name main_module or body_part")
        if main not in modules:
            raise bad_request(SCRIPT_INVALID, f'Uncaught Error: No such module "{main}".')
        old = account.scripts.get(script_name)
        bindings = self._checked_bindings(
            account, script_name, metadata.get("bindings", []), old.bindings if old else []
        )
        flags = metadata.get("compatibility_flags") or []
        date = metadata.get("compatibility_date")
        now = self.clock()
        script = Script(
            script_name,
            main,
            dict(modules),
            bindings,
            date if isinstance(date, str) else None,
            [str(f) for f in flags] if isinstance(flags, list) else [],
            old.created if old else now,
            now,
            settings=old.settings if old else {"logpush": False, "tags": []},
        )
        account.scripts[script_name] = script
        return {**script.view(), "startup_time_ms": 0}

    def script(self, account_id: str, script_name: str) -> Script:
        script = self.account(account_id).scripts.get(script_name)
        if script is None:
            raise CloudflareError(
                404, SCRIPT_NOT_FOUND, "This Worker does not exist on your account."
            )
        return script

    def list_scripts(self, account_id: str) -> list[Json]:
        scripts = self.account(account_id).scripts.values()
        return [s.view() for s in sorted(scripts, key=lambda s: s.name)]

    def delete_script(self, account_id: str, script_name: str) -> None:
        self.script(account_id, script_name)
        del self.account(account_id).scripts[script_name]

    def patch_settings(self, account_id: str, script_name: str, settings: object) -> Json:
        """PATCH .../settings: bindings (checked like an upload) and script-level config."""
        account, script = self.account(account_id), self.script(account_id, script_name)
        if not isinstance(settings, dict):
            raise bad_request(SCRIPT_INVALID, "settings part missing or not a JSON object")
        if "bindings" in settings:
            script.bindings = self._checked_bindings(
                account, script_name, settings["bindings"], script.bindings
            )
        if isinstance(date := settings.get("compatibility_date"), str):
            script.compatibility_date = date
        if isinstance(flags := settings.get("compatibility_flags"), list):
            script.compatibility_flags = [str(flag) for flag in flags]
        self._apply_script_settings(script, settings)
        return script.settings_view()

    def patch_script_settings(self, account_id: str, script_name: str, body: object) -> Json:
        script = self.script(account_id, script_name)
        if not isinstance(body, dict):
            raise bad_request(SCRIPT_INVALID, "expected a JSON object")
        self._apply_script_settings(script, body)
        return script.script_settings_view()

    def _apply_script_settings(self, script: Script, body: Json) -> None:
        for key in ("logpush", "tags", "tail_consumers", "observability"):
            if key in body:
                script.settings[key] = body[key]
        script.modified = self.clock()

    def _checked_bindings(
        self, account: Account, script_name: str, raw: object, previous: list[Json]
    ) -> list[Json]:
        if not isinstance(raw, list) or not all(
            isinstance(b, dict)
            and isinstance(b.get("name"), str)
            and isinstance(b.get("type"), str)
            for b in raw
        ):
            raise bad_request(
                SCRIPT_INVALID, "bindings must be a list of objects with name and type"
            )
        before = {b["name"]: b for b in previous}
        bindings: list[Json] = []
        for binding in raw:
            if binding["type"] == "inherit":  # keep the previous version's binding of that name
                kept = before.get(binding.get("old_name") or binding["name"])
                if kept is not None:
                    bindings.append({**kept, "name": binding["name"]})
                continue
            self._check_binding(account, script_name, binding)
            bindings.append(_stored(binding))
        names = [b["name"] for b in bindings]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise bad_request(
                SCRIPT_INVALID, f"binding names must be unique, got {dupes[0]!r} twice"
            )
        return bindings

    def _check_binding(self, account: Account, script_name: str, binding: Json) -> None:
        name, kind = binding["name"], binding["type"]
        if kind in ("secret_text", "plain_text") and not isinstance(binding.get("text"), str):
            raise bad_request(
                SCRIPT_INVALID, f"invalid or missing text property for binding {name}"
            )
        if kind == "kv_namespace" and binding.get("namespace_id") not in account.kv:
            raise bad_request(
                KV_BINDING_NOT_FOUND, f"KV namespace '{binding.get('namespace_id')}' not found."
            )
        if kind == "service" and binding.get("service") not in (*account.scripts, script_name):
            raise bad_request(
                SERVICE_BINDING_NOT_FOUND,
                f"Could not resolve service binding '{name}'. "
                f"Target script '{binding.get('service')}' not found.",
            )
        if kind == "secrets_store_secret":
            store_id, secret_name = binding.get("store_id"), binding.get("secret_name")
            store = account.stores.get(str(store_id))
            secret = store.by_name(str(secret_name)) if store else None
            if secret is None or secret.status(self.clock()) != "active":
                raise bad_request(
                    SECRETS_STORE_BINDING_NOT_FOUND,
                    f"Secrets Store binding '{name}' references store '{store_id}' and secret "
                    f"'{secret_name}' which were not found. Check that the secret exists and "
                    "is active.",
                )
            if "workers" not in secret.scopes:
                raise bad_request(
                    SCRIPT_INVALID,
                    "Secrets store binding authorization failed. "
                    "Check your permissions and secret scopes.",
                )

    # ---- KV namespaces -----------------------------------------------------------------

    def list_kv(self, account_id: str, order: str = "id", direction: str = "asc") -> list[Json]:
        views = [_kv_view(i, t) for i, t in self.account(account_id).kv.items()]
        return _sorted(views, order, direction, "title")

    def create_kv(self, account_id: str, body: object) -> Json:
        account = self.account(account_id)
        title = body.get("title") if isinstance(body, dict) else None
        if not isinstance(title, str) or not title:
            raise bad_request(
                INVALID_BODY, "invalid_request_body: 'title' must be a non-empty string"
            )
        if title in account.kv.values():
            raise bad_request(
                KV_DUPLICATE_TITLE, "a namespace with this account ID and title already exists"
            )
        namespace_id = self.seed_kv_namespace(account_id, title)
        return _kv_view(namespace_id, title)

    def get_kv(self, account_id: str, namespace_id: str) -> Json:
        account = self.account(account_id)
        if namespace_id not in account.kv:
            raise CloudflareError(404, KV_NOT_FOUND, "namespace not found")
        return _kv_view(namespace_id, account.kv[namespace_id])

    def delete_kv(self, account_id: str, namespace_id: str) -> None:
        self.get_kv(account_id, namespace_id)
        del self.account(account_id).kv[namespace_id]


def _kv_view(namespace_id: str, title: str) -> Json:
    return {"id": namespace_id, "title": title, "supports_url_encoding": True}


def _stored(binding: Json) -> Json:
    """What is kept of a binding: all of it, except a secret_text binding's text."""
    return {
        k: v for k, v in binding.items() if not (binding["type"] == "secret_text" and k == "text")
    }


def _checked_value(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise bad_request(INVALID_BODY, f"invalid_request_body: value of {label} must be a string")
    size = len(value.encode())
    if size > MAX_VALUE_BYTES:
        raise bad_request(
            INVALID_REQUEST,
            f"secret_value_too_long: value of {label} is {size} bytes (maximum {MAX_VALUE_BYTES})",
        )
    return value


def _checked_scopes(scopes: object, label: str) -> list[str]:
    if not isinstance(scopes, list) or not scopes:
        raise bad_request(
            INVALID_SCOPES,
            f"invalid_scopes: {label} needs a list of scopes from {', '.join(SCOPES)}",
        )
    for scope in scopes:
        if scope not in SCOPES:
            raise bad_request(
                INVALID_SCOPES,
                f"invalid_scopes: {scope!r} is not a scope (use {', '.join(SCOPES)})",
            )
    return list(dict.fromkeys(scopes))


def _checked_comment(comment: object, label: str) -> str:
    if not isinstance(comment, str):
        raise bad_request(
            INVALID_BODY, f"invalid_request_body: comment of {label} must be a string"
        )
    return comment


def _secret_entry(item: object, index: int) -> Json:
    if not isinstance(item, dict):
        raise bad_request(INVALID_BODY, f"invalid_request_body: entry {index} is not an object")
    name = item.get("name")
    if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
        raise bad_request(
            INVALID_REQUEST,
            f"invalid_secret_name: {name!r} is not a valid secret name "
            "(letters, digits, _ and - only, no spaces, 1-255 characters)",
        )
    label = f"secret {name!r}"
    entry: Json = {
        "name": name,
        "value": _checked_value(item.get("value"), label),
        "scopes": _checked_scopes(item.get("scopes"), label),
    }
    if item.get("comment") is not None:
        entry["comment"] = _checked_comment(item["comment"], label)
    return entry
