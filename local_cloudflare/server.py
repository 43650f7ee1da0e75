"""The HTTP face of the local Cloudflare API: Cloudflare's v4 conventions over `state.State`.

What it mirrors of api.cloudflare.com/client/v4:

- Every path lives under `/client/v4`; every answer is the v4 envelope
  `{"success", "errors": [{"code", "message"}], "messages", "result", "result_info"}`.
- Auth takes the three schemes the official library sends: `Authorization: Bearer <token>`,
  the Global API key (`X-Auth-Email` + `X-Auth-Key`) and `X-Auth-User-Service-Key`. A
  missing or unknown credential answers 401 with code 10000 "Authentication error" (live,
  the key schemes have codes of their own, 9103 and kin; the tools here treat any 401
  alike). A credential limited to some accounts (`reach`) answers 403, code 10000, for any
  other, as Cloudflare does for an account a token cannot reach. Every request records
  which credential was used on which account, refused or not (`accounts_used_by`). A path
  no route knows answers 404, code 7000 "No route for that URI: <method> <path>", and is
  kept in `unrouted` so that a test can assert the provider made no call unknown here.
- DELETE of a secret answers 202 Accepted, the v4 envelope around the deleted secret.
- Lists paginate with `page` (from 1) and `per_page` and say where they are in
  `result_info` (`page`, `per_page`, `count`, `total_count`, `total_pages`); a page past the
  end is empty, which is what ends the official client's auto-pagination.
- Script uploads and settings patches are multipart/form-data as the official `cloudflare`
  library sends them: a JSON part named `metadata` (or `settings`), and module parts named
  `files` whose filename is the module name.

Nothing here logs a request body: the only log line is an internal error's type and route.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .state import (
    AUTH_ERROR,
    DELETED_SECONDS,
    INVALID_BODY,
    SCRIPT_INVALID,
    Clock,
    CloudflareError,
    Json,
    Module,
    State,
    Status,
    bad_request,
)

PREFIX = "/client/v4"
NO_ROUTE = 7000
UNSUPPORTED_CONTENT = 10001
INTERNAL_ERROR = 10002


@dataclass
class Request:
    params: dict[str, str]
    query: dict[str, list[str]]
    content_type: str
    body: bytes

    def arg(self, key: str, default: str = "") -> str:
        return self.query.get(key, [default])[0]

    def json(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise bad_request(
                INVALID_BODY, "invalid_request_body: body is not valid JSON"
            ) from None

    def parts(self) -> list[EmailMessage]:
        """The parts of a multipart/form-data body, as the email parser reads them."""
        if not self.content_type.startswith("multipart/form-data"):
            raise bad_request(UNSUPPORTED_CONTENT, "Unsupported or unexpected Content Type")
        head = f"Content-Type: {self.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + self.body)
        if not isinstance(message, EmailMessage) or not message.is_multipart():
            raise bad_request(UNSUPPORTED_CONTENT, "Unsupported or unexpected Content Type")
        return [cast(EmailMessage, part) for part in message.iter_parts()]

    def form(self) -> tuple[dict[str, object], dict[str, Module]]:
        """JSON parts by name (metadata, settings) and module parts by file name."""
        fields: dict[str, object] = {}
        modules: dict[str, Module] = {}
        for part in self.parts():
            name = str(part.get_param("name", "", header="content-disposition"))
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is None and name in ("metadata", "settings"):
                try:
                    fields[name] = json.loads(content)
                except ValueError:
                    raise bad_request(SCRIPT_INVALID, f"{name} part is not valid JSON") from None
            else:
                modules[filename or name] = Module(part.get_content_type(), content)
        return fields, modules


@dataclass
class Reply:
    result: object = None
    status: int = 200
    result_info: Json | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[State, Request], Reply]
ROUTES: list[tuple[str, str, re.Pattern[str], Handler]] = []


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on `template`, spelled as the library's path_template."""
    pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, template, pattern, handler))
        return handler

    return register


def page_of(items: list[Json], req: Request, per_page: int = 20, max_per_page: int = 100) -> Reply:
    """One page of `items` with Cloudflare's result_info; out-of-range numbers are clamped."""
    try:
        page = max(1, int(req.arg("page", "1")))
        size = min(max_per_page, max(1, int(req.arg("per_page", str(per_page)))))
    except ValueError:
        raise bad_request(INVALID_BODY, "page and per_page must be integers") from None
    chunk = items[(page - 1) * size : page * size]
    info = {
        "page": page,
        "per_page": size,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": max(1, -(-len(items) // size)),
    }
    return Reply(chunk, result_info=info)


def single_page(items: list[Json]) -> Reply:
    info = {"page": 1, "per_page": len(items), "count": len(items), "total_count": len(items)}
    return Reply(items, result_info=info)


ACCOUNT = "/accounts/{account_id}"
STORES = ACCOUNT + "/secrets_store/stores"
STORE = STORES + "/{store_id}"
SECRETS = STORE + "/secrets"
SECRET = SECRETS + "/{secret_id}"
SCRIPTS = ACCOUNT + "/workers/scripts"
SCRIPT = SCRIPTS + "/{script_name}"
NAMESPACES = ACCOUNT + "/storage/kv/namespaces"


@route("GET", STORES)
def _list_stores(s: State, r: Request) -> Reply:
    a = r.params["account_id"]
    return page_of(s.list_stores(a, r.arg("order", "created"), r.arg("direction", "asc")), r)


@route("POST", STORES)
def _create_store(s: State, r: Request) -> Reply:
    return Reply(s.create_store(r.params["account_id"], r.json()))


@route("GET", STORE)
def _get_store(s: State, r: Request) -> Reply:
    return Reply(s.get_store(r.params["account_id"], r.params["store_id"]))


@route("DELETE", STORE)
def _delete_store(s: State, r: Request) -> Reply:
    s.delete_store(r.params["account_id"], r.params["store_id"], r.arg("force") == "true")
    return Reply()


@route("GET", ACCOUNT + "/secrets_store/quota")
def _quota(s: State, r: Request) -> Reply:
    return Reply(s.quota(r.params["account_id"]))


@route("GET", SECRETS)
def _list_secrets(s: State, r: Request) -> Reply:
    secrets = s.list_secrets(
        r.params["account_id"],
        r.params["store_id"],
        search=r.arg("search") or None,
        scopes=r.query.get("scopes", []),
        order=r.arg("order", "created"),
        direction=r.arg("direction", "asc"),
    )
    return page_of(secrets, r)


@route("POST", SECRETS)
def _create_secrets(s: State, r: Request) -> Reply:
    return single_page(s.create_secrets(r.params["account_id"], r.params["store_id"], r.json()))


@route("GET", SECRET)
def _get_secret(s: State, r: Request) -> Reply:
    p = r.params
    return Reply(s.get_secret(p["account_id"], p["store_id"], p["secret_id"]))


@route("PATCH", SECRET)
def _edit_secret(s: State, r: Request) -> Reply:
    p = r.params
    return Reply(s.edit_secret(p["account_id"], p["store_id"], p["secret_id"], r.json()))


@route("DELETE", SECRET)
def _delete_secret(s: State, r: Request) -> Reply:
    p = r.params
    return Reply(s.delete_secret(p["account_id"], p["store_id"], p["secret_id"]), status=202)


@route("POST", SECRET + "/duplicate")
def _duplicate_secret(s: State, r: Request) -> Reply:
    p = r.params
    return Reply(s.duplicate_secret(p["account_id"], p["store_id"], p["secret_id"], r.json()))


@route("GET", SCRIPTS)
def _list_scripts(s: State, r: Request) -> Reply:
    return Reply(s.list_scripts(r.params["account_id"]))


@route("PUT", SCRIPT)
def _put_script(s: State, r: Request) -> Reply:
    fields, modules = r.form()
    p = r.params
    return Reply(s.put_script(p["account_id"], p["script_name"], fields.get("metadata"), modules))


@route("GET", SCRIPT)
def _script_content(s: State, r: Request) -> Reply:
    script = s.script(r.params["account_id"], r.params["script_name"])
    main = script.modules[script.main_module]
    return Reply(raw=main.content, headers={"Content-Type": main.content_type})


@route("GET", SCRIPT + "/content/v2")
def _script_content_v2(s: State, r: Request) -> Reply:
    """The main module's text, as the Terraform provider reads it back on refresh."""
    return _script_content(s, r)


@route("GET", ACCOUNT + "/workers/services/{script_name}")
def _service(s: State, r: Request) -> Reply:
    """A Worker as a service: its production environment's script (the provider's Read)."""
    script = s.script(r.params["account_id"], r.params["script_name"])
    view = script.view()
    return Reply(
        {
            "id": script.name,
            "created_on": view["created_on"],
            "modified_on": view["modified_on"],
            "default_environment": {
                "environment": "production",
                "created_on": view["created_on"],
                "modified_on": view["modified_on"],
                "script": view,
            },
        }
    )


@route("DELETE", SCRIPT)
def _delete_script(s: State, r: Request) -> Reply:
    s.delete_script(r.params["account_id"], r.params["script_name"])
    return Reply()


@route("GET", SCRIPT + "/settings")
def _get_settings(s: State, r: Request) -> Reply:
    return Reply(s.script(r.params["account_id"], r.params["script_name"]).settings_view())


@route("PATCH", SCRIPT + "/settings")
def _patch_settings(s: State, r: Request) -> Reply:
    if r.content_type.startswith("application/json"):
        body = r.json()
        settings = body.get("settings", body) if isinstance(body, dict) else body
    else:
        settings = r.form()[0].get("settings")
    return Reply(s.patch_settings(r.params["account_id"], r.params["script_name"], settings))


@route("GET", SCRIPT + "/script-settings")
def _get_script_settings(s: State, r: Request) -> Reply:
    script = s.script(r.params["account_id"], r.params["script_name"])
    return Reply(script.script_settings_view())


@route("PATCH", SCRIPT + "/script-settings")
def _patch_script_settings(s: State, r: Request) -> Reply:
    p = r.params
    return Reply(s.patch_script_settings(p["account_id"], p["script_name"], r.json()))


@route("GET", NAMESPACES)
def _list_kv(s: State, r: Request) -> Reply:
    a = r.params["account_id"]
    return page_of(s.list_kv(a, r.arg("order", "id"), r.arg("direction", "asc")), r, 20, 1000)


@route("POST", NAMESPACES)
def _create_kv(s: State, r: Request) -> Reply:
    return Reply(s.create_kv(r.params["account_id"], r.json()))


@route("GET", NAMESPACES + "/{namespace_id}")
def _get_kv(s: State, r: Request) -> Reply:
    return Reply(s.get_kv(r.params["account_id"], r.params["namespace_id"]))


@route("DELETE", NAMESPACES + "/{namespace_id}")
def _delete_kv(s: State, r: Request) -> Reply:
    s.delete_kv(r.params["account_id"], r.params["namespace_id"])
    return Reply({})  # an empty object, as the SDK's NamespaceDeleteResponse reads it


def envelope(reply: Reply) -> bytes:
    body: Json = {"success": True, "errors": [], "messages": [], "result": reply.result}
    if reply.result_info is not None:
        body["result_info"] = reply.result_info
    return json.dumps(body).encode()


def error_envelope(error: CloudflareError) -> bytes:
    errors = [{"code": error.code, "message": error.message}]
    return json.dumps({"success": False, "errors": errors, "messages": [], "result": None}).encode()


class LocalCloudflare:
    """A local, stateful Cloudflare v4 API on loopback, for the official client to talk to.

    Behavior:
    - Binds 127.0.0.1 on port 0 by default (the OS picks a free port), so parallel test
      processes never collide; `base_url` ends in `/client/v4`.
    - `requests` counts every request by (method, path template), e.g.
      `("GET", "/accounts/{account_id}/secrets_store/stores")`; unmatched paths count
      under their literal path.
    - The admin methods change state behind the API, under the same lock as requests.
    - Credentials: `tokens` (Bearer), `api_keys` (email -> Global API key) and
      `user_service_keys`; `reach` limits a credential (a token, an API key's email, a
      service key) to the accounts listed for it. `accounts_used_by(credential)` says
      which accounts a credential was used on (it keeps only a fingerprint of each).

    Example:
        with serve(tokens={"t"}, accounts=[ACCOUNT]) as cf:
            client = Cloudflare(api_token="t", base_url=cf.base_url)
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str],
        api_keys: Mapping[str, str] | None = None,
        user_service_keys: Iterable[str] = (),
        reach: Mapping[str, Iterable[str]] | None = None,
        pending_seconds: float = 0.0,
        deleted_seconds: float = DELETED_SECONDS,
        clock: Clock | None = None,
        accounts: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        keep_values: bool = False,
    ) -> None:
        self.tokens = frozenset(tokens)
        self.api_keys = dict(api_keys or {})
        self.user_service_keys = frozenset(user_service_keys)
        self.reach = {credential: frozenset(ids) for credential, ids in (reach or {}).items()}
        self.state = State(
            pending_seconds=pending_seconds,
            deleted_seconds=deleted_seconds,
            clock=clock,
            keep_values=keep_values,
        )
        self.requests: Counter[tuple[str, str]] = Counter()
        self.used: set[tuple[str, str]] = set()  # (account id, credential fingerprint)
        self.unrouted: list[tuple[str, str]] = []  # (method, path) no route knew
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        for account_id in accounts:
            self.state.seed_account(account_id)
        self._httpd = _HTTPServer((host, port), _RequestHandler)
        self._httpd.app = self
        bound_host, bound_port = self._httpd.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}{PREFIX}"

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalCloudflare:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)  # close() waits at most one poll

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LocalCloudflare:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def env(self, token: str | None = None) -> dict[str, str]:
        """The environment the official client reads: CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL."""
        chosen = token if token is not None else min(self.tokens)
        return {"CLOUDFLARE_API_TOKEN": chosen, "CLOUDFLARE_BASE_URL": self.base_url}

    # ---- request accounting ----------------------------------------------------------

    def calls(self, method: str, template: str) -> int:
        """How many `method` requests arrived for `template` (e.g. SECRETS)."""
        with self._lock:
            return self.requests[(method, template)]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.used.clear()

    def accounts_used_by(self, credential: str) -> set[str]:
        """The accounts requests made with `credential` (token, API key or service key) named."""
        mark = _fingerprint(credential)
        with self._lock:
            return {account for account, used in self.used if used == mark}

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[str, str] | None:
        """(the credential, what `reach` knows it by), or None when nothing valid was sent."""
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and (token := auth[len("Bearer ") :]) in self.tokens:
            return token, token
        email, key = headers.get("x-auth-email", ""), headers.get("x-auth-key", "")
        if key and self.api_keys.get(email) == key:
            return key, email
        service_key = headers.get("x-auth-user-service-key", "")
        if service_key in self.user_service_keys:
            return service_key, service_key
        return None

    # ---- admin: change state behind the API's back -------------------------------------

    def seed_account(self, account_id: str, *, default_store: bool = True) -> str | None:
        with self._lock:
            return self.state.seed_account(account_id, default_store=default_store)

    def seed_store(self, account_id: str, name: str = "default_secrets_store") -> str:
        with self._lock:
            return self.state.seed_store(account_id, name)

    def seed_kv_namespace(self, account_id: str, title: str, namespace_id: str = "") -> str:
        with self._lock:
            return self.state.seed_kv_namespace(account_id, title, namespace_id)

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
        with self._lock:
            return self.state.plant_secret(
                account_id,
                name,
                value,
                scopes=scopes,
                comment=comment,
                status=status,
                store_id=store_id,
            )

    def set_secret_status(self, account_id: str, name: str, status: Status) -> None:
        with self._lock:
            self.state.set_secret_status(account_id, name, status)

    def remove_secret(self, account_id: str, name: str) -> None:
        with self._lock:
            self.state.remove_secret(account_id, name)

    def secret_value_writes(self, account_id: str, name: str) -> int:
        with self._lock:
            return self.state.secret_value_writes(account_id, name)

    def redeploy_script(
        self,
        account_id: str,
        script_name: str,
        bindings: list[Json],
        *,
        modules: Mapping[str, str] | None = None,
        main_module: str | None = None,
    ) -> None:
        with self._lock:
            self.state.redeploy_script(
                account_id, script_name, bindings, modules=modules, main_module=main_module
            )

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.state.advance(seconds)

    # ---- one request -----------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body). Header names come in lower case."""
        url = urlsplit(target)
        found = _match(method, url.path)
        template, handler, params = found if found else (url.path, None, {})
        with self._lock:
            self.requests[(method, template)] += 1
            try:
                if (credential := self._authenticate(headers)) is None:
                    raise CloudflareError(401, AUTH_ERROR, "Authentication error")
                if handler is None:
                    # Loud, never a silent success: the route is named, and kept for tests.
                    self.unrouted.append((method, url.path))
                    raise CloudflareError(
                        404, NO_ROUTE, f"No route for that URI: {method} {url.path}"
                    )
                secret, known_as = credential
                account_id = params["account_id"]
                self.used.add((account_id, _fingerprint(secret)))
                allowed = self.reach.get(known_as)
                if allowed is not None and account_id not in allowed:
                    raise CloudflareError(403, AUTH_ERROR, "Authentication error")
                self.state.account(account_id)
                request = Request(
                    params, parse_qs(url.query), headers.get("content-type", ""), body
                )
                reply = handler(self.state, request)
            except CloudflareError as error:
                return error.status, _JSON, error_envelope(error)
            except Exception as error:  # a bug here: say where, never what the body held
                print(
                    f"local_cloudflare: {method} {template}: {type(error).__name__}",
                    file=sys.stderr,
                )
                failure = CloudflareError(500, INTERNAL_ERROR, "Unexpected internal server error")
                return 500, _JSON, error_envelope(failure)
        if reply.raw is not None:
            return reply.status, reply.headers, reply.raw
        return reply.status, _JSON, envelope(reply)


_JSON = {"Content-Type": "application/json"}


def _fingerprint(credential: str) -> str:
    """What the request record keeps of a credential: never the credential itself."""
    return hashlib.sha256(credential.encode()).hexdigest()[:16]


def _match(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    if not path.startswith(PREFIX + "/"):
        return None
    rest = path[len(PREFIX) :]
    for route_method, template, pattern, handler in ROUTES:
        if route_method == method and (m := pattern.match(rest)):
            return template, handler, m.groupdict()
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: LocalCloudflare

    def handle_error(self, request: object, client_address: object) -> None:
        """One line (a dropped connection, say) instead of socketserver's traceback."""
        print(f"local_cloudflare: connection error: {sys.exc_info()[0]}", file=sys.stderr)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the request counter instead of access logs."""

    def _serve(self, method: str) -> None:
        app = cast(_HTTPServer, self.server).app
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, reply_headers, body = app.handle(method, self.path, headers, self._read_body())
        self.send_response(status)
        for key, value in reply_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


@contextmanager
def serve(
    *,
    tokens: Iterable[str],
    api_keys: Mapping[str, str] | None = None,
    user_service_keys: Iterable[str] = (),
    reach: Mapping[str, Iterable[str]] | None = None,
    pending_seconds: float = 0.0,
    deleted_seconds: float = DELETED_SECONDS,
    clock: Clock | None = None,
    accounts: Iterable[str] = (),
    keep_values: bool = False,
) -> Iterator[LocalCloudflare]:
    """A started LocalCloudflare on a free loopback port, closed on exit.

    Each account in `accounts` is seeded with `default_secrets_store`. The clock is a
    ManualClock unless given: `server.advance(seconds)` moves it. `keep_values`: secret
    values kept in memory for `state.secret_value` (the engine rehearsal; never answered).
    """
    with LocalCloudflare(
        tokens=tokens,
        api_keys=api_keys,
        user_service_keys=user_service_keys,
        reach=reach,
        pending_seconds=pending_seconds,
        deleted_seconds=deleted_seconds,
        clock=clock,
        accounts=accounts,
        keep_values=keep_values,
    ) as server:
        yield server
