"""A hostile stand-in for Cloudflare's API, and the runs of the live commands against it.

`HostileAPI` answers the five reads the live commands make (stores, a store's secrets, a
script's settings, the script list, KV namespaces) the way Cloudflare would for a deployed
dev stack, except where its mode makes one answer wrong: a malformed body, hostile text,
pages without end, odd statuses, a body that drips. `run_case` runs one command against
one mode in a fresh project and sorts the outcome into answered, refused (exit 2 in one
line), crash, hang or leak. The tests assert on every case (tests/test_live_hostile.py);
`python -m tests.hostile_api` prints the table of all of them.

Stdlib only (http.server in a thread); the command under test goes through Cloudflare's
official library exactly as against api.cloudflare.com, via CLOUDFLARE_BASE_URL.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from typer.testing import CliRunner

from secretsctl import console
from secretsctl.cli import app
from secretsctl.offline.mockrun import remembering_runs
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config, read_stack_file

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
STORE_ID = "5f1c0a3e9b2d4c6e8a0b1c2d3e4f5a6b"
KV_ID = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
TOKEN = "hostile-token-Zq81rT"
"""Must never appear in any output."""
DEADLINE = 3.0
"""--deadline of every case unless it says otherwise: short, so the suite stays fast."""
HANG_SLACK = 2.0
"""A run that outlives its deadline by more than this is a hang."""

ESC = "\x1b"
ANSI = f"{ESC}[31m{ESC}]0;pwned\x07\x9b2J\u202e"
"""A colour, a window-title escape, a C1 CSI that clears the screen, a bidi override."""
MARKUP = "[bold red]x[/] [/]"
INJECTION = "cache\nenvironment: [attacker/prod-secrets]"

ENDPOINTS = {
    "stores": re.compile(r"/client/v4/accounts/[^/]+/secrets_store/stores"),
    "secrets": re.compile(r"/client/v4/accounts/[^/]+/secrets_store/stores/[^/]+/secrets"),
    "settings": re.compile(r"/client/v4/accounts/[^/]+/workers/scripts/(?P<script>[^/]+)/settings"),
    "scripts": re.compile(r"/client/v4/accounts/[^/]+/workers/scripts"),
    "kv": re.compile(r"/client/v4/accounts/[^/]+/storage/kv/namespaces"),
}
READS = {
    "status": ("stores", "secrets", "settings"),
    "verify": ("stores", "secrets", "settings"),
    "init": ("stores", "secrets", "kv", "scripts"),
}
"""The endpoints each command reads, in order."""


# ---- the account a faithful API would show ---------------------------------------------------


@dataclass
class Account:
    """What each read answers when nothing is wrong: the dev stack deployed as planned."""

    stores: list[dict[str, Any]]
    secrets: list[dict[str, Any]]
    settings: dict[str, list[dict[str, Any]]]
    kv: list[dict[str, Any]]

    def result(self, endpoint: str, script: str | None) -> Any:
        if endpoint == "settings":
            return {"bindings": self.settings[script]} if script in self.settings else None
        if endpoint == "scripts":
            return [{"id": name} for name in self.settings]
        return getattr(self, endpoint)


def deployed_dev() -> Account:
    """The dev stack's plan as `pulumi up` would leave it: every version active, every
    worker bound as planned."""
    plan = plan_stack("dev", config=load_stack_config("dev", dev_stack_file())).document
    secrets = [
        {"id": f"{n:032x}", "name": name, "status": "active", "scopes": ["workers"]}
        for n, name in enumerate(
            (name for s in plan["secrets"].values() for name in s["cloudflare_names"]), 1
        )
    ]
    settings = {
        worker["script_name"]: [
            {**b, "name": name, "store_id": STORE_ID}
            if b["type"] == "secrets_store_secret"
            else {**b, "name": name}
            for name, b in worker["bindings"].items()
        ]
        for worker in plan["workers"].values()
    }
    return Account(
        stores=[{"id": STORE_ID, "name": "default_secrets_store"}],
        secrets=secrets,
        settings=settings,
        kv=[{"id": KV_ID, "title": "dev-cache"}],
    )


@contextmanager
def planned_once() -> Iterator[Account]:
    """The deployed dev account, with the dev stack's plan remembered for every command run
    within (they all plan it). The first run also loads Cloudflare's library, so no case
    pays for that out of its short deadline."""
    with remembering_runs():
        healthy = deployed_dev()
        run_case(Case("faithful", "status"), copy_of(healthy))
        yield healthy


def dev_stack_file() -> Path:
    """The shipped dev stack with real-looking ids (written once per process)."""
    path = Path(tempfile.gettempdir()) / f"hostile-dev-{ACCOUNT_ID[:6]}" / "Pulumi.dev.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (SOURCE_ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.dev.yaml").read_text()
        text = text.replace("REPLACE_ME_ACCOUNT_ID", ACCOUNT_ID)
        path.write_text(text.replace("REPLACE_ME_KV_NAMESPACE_ID", KV_ID))
    return path


# ---- how an answer goes wrong ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    drip_seconds: float = 0.0
    """> 0: the body is sent one byte at a time, this long apart."""
    stall_seconds: float = 0.0
    """> 0: the headers are sent, then nothing for this long."""


def envelope(result: Any, info: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return json.dumps(body).encode()


def page_of(items: list[Any], page: int, per_page: int) -> bytes:
    chunk = items[(page - 1) * per_page : page * per_page]
    total_pages = max(1, -(-len(items) // per_page))
    info = {"page": page, "per_page": per_page, "count": len(chunk),
            "total_count": len(items), "total_pages": total_pages}  # fmt: skip
    return envelope(chunk, info)


Answer = Callable[[str, int, Any], Reply]
"""(endpoint, page, the faithful result) -> what the hostile API sends instead."""


@dataclass(frozen=True)
class Mode:
    name: str
    family: str
    account: Callable[[Account], None] = lambda account: None
    """Changes the account every read shows (hostile data in well-formed answers)."""
    answer: Answer | None = None
    """Replaces the answers of the endpoints it targets (a malformed answer)."""
    expect: dict[str, int] = field(default_factory=dict)
    """Command -> the exit code it must give (0 and 1 are answers, 2 a refusal)."""
    deadline: float = DEADLINE


def _wrong_types(endpoint: str, page: int, result: Any) -> Reply:
    if endpoint == "settings":
        return Reply(envelope({"bindings": [{"name": 5, "type": None, "secret_name": []}]}))
    item = {"id": 7, "name": ["x"], "status": {"a": 1}, "title": None, "scopes": "workers"}
    return Reply(envelope([item], {"page": 1, "per_page": 100, "total_pages": 1}))


def _endless(endpoint: str, page: int, result: Any) -> Reply:
    full = [_filler(endpoint, (page - 1) * 100 + i) for i in range(100)]
    return Reply(envelope(full, {"page": page, "per_page": 100, "count": 100}))


def _filler(endpoint: str, n: int) -> dict[str, Any]:
    if endpoint == "stores":
        return {"id": f"{n:032x}", "name": f"store_{n}"}
    if endpoint == "kv":
        return {"id": f"{n:032x}", "title": f"ns{n}"}
    return {"id": f"{n:032x}", "name": f"filler_{n}_v1", "status": "active", "scopes": ["workers"]}


def _paged(info: dict[str, Any]) -> Answer:
    return lambda endpoint, page, result: Reply(envelope(result, info))


def _huge_total(endpoint: str, page: int, result: Any) -> Reply:
    text = envelope(result, {"page": 1, "per_page": 100, "total_pages": 1})
    return Reply(text.replace(b'"total_pages": 1', b'"total_pages": ' + b"9" * 5000))


def _statuses(status: Any) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        for secret in account.secrets:
            secret["status"] = status

    return apply


def _hostile_names(text: str) -> Callable[[Account], None]:
    """`text` in a secret's name, a binding's secret name and a status: the places status
    and verify print."""

    def apply(account: Account) -> None:
        account.secrets.append({"id": "f" * 32, "name": f"{text}_v1", "status": "active"})
        account.secrets[0]["status"] = f"active{text}"
        for bindings in account.settings.values():
            for binding in bindings:
                if binding["type"] == "secrets_store_secret":
                    binding["secret_name"] += text
                    return

    return apply


def _hostile_titles(text: str) -> Callable[[Account], None]:
    """`text` in the free text an account holds: store names, KV titles, comments."""

    def apply(account: Account) -> None:
        account.stores.append({"id": "e" * 32, "name": f"other {text}"})
        account.kv.append({"id": "d" * 32, "title": text})
        for secret in account.secrets:
            secret["comment"] = text

    return apply


def _huge_suffix(account: Account) -> None:
    account.secrets.append({"id": "c" * 32, "name": "dev_api_key_v" + "9" * 5000,
                            "status": "active"})  # fmt: skip


def _newline_store_id(account: Account) -> None:
    account.stores[0]["id"] = STORE_ID + "\n"


def _nul_comment(account: Account) -> None:
    for secret in account.secrets:
        secret["comment"] = "rotated by ops\x00 see ticket"


def bulk(count: int) -> Callable[[Account], None]:
    """`count` more versioned secrets (Cloudflare allows 100 per account)."""

    def apply(account: Account) -> None:
        account.secrets += [
            {"id": f"{n:032x}", "name": f"bulk_{n}_v1", "status": "active", "scopes": ["workers"]}
            for n in range(1000, 1000 + count)
        ]

    return apply


def _one_page(endpoint: str, page: int, result: Any) -> Reply:
    """Every item on the first page, however many there are."""
    if not isinstance(result, list):
        return Reply(envelope(result))
    return Reply(envelope(result, {"page": 1, "per_page": len(result), "total_pages": 1}))


ALL_TWO = {"status": 2, "verify": 2, "init": 2}
ANSWERED = {"status": 0, "verify": 0, "init": 0}
NO_GO = {"status": 1, "verify": 1, "init": 0}

MODES = {
    mode.name: mode
    for mode in [
        Mode("faithful", "control", expect=ANSWERED),
        # a body that is not the answer's shape: one line naming the endpoint, exit 2
        Mode("malformed_json", "malformed body",
             answer=lambda e, p, r: Reply(b'{"success": true, "result": [{"id": "x"'),
             expect=ALL_TWO),
        Mode("html", "malformed body",
             answer=lambda e, p, r: Reply(b"<html><body>502 Bad Gateway</body></html>",
                                          content_type="text/html"),
             expect=ALL_TWO),
        Mode("null_body", "malformed body", answer=lambda e, p, r: Reply(b"null"),
             expect=ALL_TWO),
        Mode("list_body", "malformed body", answer=lambda e, p, r: Reply(b'[{"id": 1}]'),
             expect=ALL_TWO),
        Mode("wrong_types", "malformed body", answer=_wrong_types, expect=ALL_TWO),
        # numbers no account has
        Mode("huge_total_pages", "huge numbers", answer=_huge_total, expect=ALL_TWO),
        Mode("huge_count", "huge numbers",
             answer=_paged({"page": 1, "per_page": 100, "count": 10**30}), expect=ALL_TWO),
        Mode("huge_version_suffix", "huge numbers", account=_huge_suffix,
             expect={"status": 0, "verify": 0, "init": 2}),
        # text that would restyle or take over the terminal: shown escaped
        Mode("markup_names", "markup", account=_hostile_names(MARKUP),
             expect={"status": 1, "verify": 1, "init": 2}),
        Mode("markup_titles", "markup", account=_hostile_titles(MARKUP), expect=ANSWERED),
        Mode("ansi_names", "terminal escapes", account=_hostile_names(ANSI),
             expect={"status": 1, "verify": 1, "init": 2}),
        Mode("ansi_titles", "terminal escapes", account=_hostile_titles(ANSI),
             expect=ANSWERED),
        # lists without end: refused at the page cap, saying how far the read got
        Mode("endless_pages", "paging", answer=_endless, expect=ALL_TWO),
        Mode("total_pages_1e9", "paging",
             answer=_paged({"page": 1, "per_page": 100, "total_pages": 10**9}),
             expect=ALL_TWO),
        # answers that never finish: ended by the deadline
        Mode("drip", "slow body", answer=lambda e, p, r: Reply(envelope(r), drip_seconds=0.3),
             expect=ALL_TWO, deadline=1.0),
        Mode("stall", "slow body", answer=lambda e, p, r: Reply(envelope(r), stall_seconds=30),
             expect=ALL_TWO, deadline=1.0),
        # statuses Cloudflare does not document: not active, so NO-GO
        Mode("status_disabled", "odd statuses", account=_statuses("disabled"), expect=NO_GO),
        Mode("status_ACTIVE", "odd statuses", account=_statuses("ACTIVE"), expect=NO_GO),
        Mode("status_null", "odd statuses", account=_statuses(None), expect=NO_GO),
        Mode("status_empty", "odd statuses", account=_statuses(""), expect=NO_GO),
        # what init writes
        Mode("yaml_injection", "init file", account=_hostile_titles(INJECTION),
             expect=ANSWERED),
        Mode("newline_store_id", "init file", account=_newline_store_id, expect=ALL_TWO),
        Mode("nul_comment", "init file", account=_nul_comment, expect=ANSWERED),
        # one page of 20,000 secrets here; tests/test_live_hostile.py also tries 200,000
        Mode("huge_page", "init file", account=bulk(20_000), answer=_one_page,
             expect=ANSWERED, deadline=20.0),
    ]
}  # fmt: skip


# ---- the server --------------------------------------------------------------------------------


class HostileAPI:
    """The stand-in on a free loopback port; `mode` applies to the endpoints in `where`
    (all when None)."""

    def __init__(self, account: Account, mode: Mode, where: str | None = None) -> None:
        self.account, self.mode, self.where = account, mode, where
        mode.account(account)
        self.requests: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/client/v4"

    def reply(self, path: str, query: dict[str, list[str]]) -> Reply:
        found = [(e, m) for e, p in ENDPOINTS.items() if (m := p.fullmatch(path))]
        if not found:
            return Reply(envelope(None), status=404)
        endpoint, match = found[0]
        self.requests[endpoint] += 1
        page = int(query.get("page", ["1"])[0])
        result = self.account.result(endpoint, match.groupdict().get("script"))
        if result is None:
            missing = {"success": False, "errors": [{"code": 10007, "message": "not found"}]}
            return Reply(json.dumps(missing).encode(), status=404)
        if self.mode.answer is not None and self.where in (None, endpoint):
            return self.mode.answer(endpoint, page, result)
        if endpoint in ("settings", "scripts"):
            return Reply(envelope(result))
        return Reply(page_of(result, page, int(query.get("per_page", ["20"])[0])))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                reply = api.reply(url.path, parse_qs(url.query))
                if api.stopping.is_set():  # a client the case gave up on: end its connection
                    reply, self.close_connection = Reply(b"{}", status=503), True
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up: what deadlines do
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                if reply.stall_seconds and api.stopping.wait(reply.stall_seconds):
                    return
                if not reply.drip_seconds:
                    self.wfile.write(reply.body)
                    return
                for byte in reply.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if api.stopping.wait(reply.drip_seconds):
                        return

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> HostileAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


# ---- one run, sorted -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    mode: str
    command: str
    where: str | None = None
    extra: tuple[str, ...] = ()
    """More arguments for the command (`--format json`)."""

    @property
    def id(self) -> str:
        return f"{self.mode}-{self.command}" + (f"-{self.where}" if self.where else "")


def cases() -> list[Case]:
    """Every mode against every command; a malformed answer at each endpoint status and
    init read."""
    out = []
    for mode in MODES.values():
        for command, reads in READS.items():
            # verify reads what status reads: one endpoint is enough for it
            per_endpoint = mode.family == "malformed body" and command != "verify"
            for where in reads if per_endpoint else (None,):
                out.append(Case(mode.name, command, where))
    return out


@dataclass
class Outcome:
    case: Case
    exit_code: int | None
    """None: the command had not ended when the case gave up on it."""
    seconds: float
    stdout: str = ""
    stderr: str = ""
    problems: list[str] = field(default_factory=list)
    """What went wrong, each as `crash: ...`, `hang: ...` or `leak: ...`."""
    requests: Counter[str] = field(default_factory=Counter)
    """Endpoint -> requests the API saw."""
    written: str | None = None
    """The stack file init wrote, if any."""

    @property
    def said(self) -> str:
        """What the run printed, for a failing assertion's message."""
        return f"exit {self.exit_code}\n{self.stdout}{self.stderr}"

    @property
    def verdict(self) -> str:
        for kind in ("hang", "crash", "leak"):
            if any(p.startswith(kind) for p in self.problems):
                return kind
        if self.exit_code == 2:
            return "refused"
        return "answered"


def command_line(case: Case, root: Path, deadline: float) -> list[str]:
    common = ["--root", str(root), "--deadline", str(deadline), *case.extra]
    if case.command == "init":
        return ["init", "--stack", "qa", "--account-id", ACCOUNT_ID, *common]
    return [case.command, "--stack", "dev", "--live", *common]


@contextmanager
def project() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        (root / "stacks").mkdir()
        (root / "Pulumi.yaml").write_text((SOURCE_ROOT / "Pulumi.yaml").read_text())
        shutil.copy(dev_stack_file(), root / "stacks" / "Pulumi.dev.yaml")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_case(case: Case, account: Account | None = None) -> Outcome:
    """Run `case` in a fresh project against its hostile API, and judge the run."""
    mode = MODES[case.mode]
    account = account or deployed_dev()
    with project() as root, HostileAPI(account, mode, case.where) as api:
        env = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": api.base_url}
        box: dict[str, Any] = {}
        started = time.monotonic()
        worker = threading.Thread(
            target=lambda: box.setdefault(
                "result",
                CliRunner().invoke(app, command_line(case, root, mode.deadline), env=env),
            ),
            daemon=True,
        )
        with wide_tables():
            worker.start()
            worker.join(mode.deadline + HANG_SLACK + 10)
        seconds = time.monotonic() - started
        if "result" not in box:
            # The abandoned run still holds CliRunner's sys.stdout; the server's exit ends it.
            return Outcome(case, None, seconds, problems=[f"hang: running after {seconds:.0f} s"])
        result = box["result"]
        outcome = Outcome(case, result.exit_code, seconds, result.stdout, result.stderr)
        outcome.requests = Counter(api.requests)
        outcome.problems += judged(outcome, result, mode, root)
        written = root / "stacks" / "Pulumi.qa.yaml"
        outcome.written = written.read_text(encoding="utf-8") if written.exists() else None
        return outcome


@contextmanager
def wide_tables() -> Iterator[None]:
    """Tables 400 columns wide: a finding reads (and is asserted on) as one line. Set as
    test_plan_cli does, since under xdist the console's width is fixed at import."""
    width = console.out.width
    console.out.width = 400
    try:
        yield
    finally:
        console.out.width = width


UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def judged(outcome: Outcome, result: Any, mode: Mode, root: Path) -> list[str]:
    """Every crash, hang and leak in one run."""
    problems = []
    text = outcome.stdout + outcome.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"crash: {type(result.exception).__name__}")
    if "Traceback" in text:
        problems.append("crash: a traceback in the output")
    if outcome.exit_code not in (0, 1, 2):
        problems.append(f"crash: exit code {outcome.exit_code}")
    if outcome.exit_code == 2 and (outcome.stderr.count("\n") != 1 or outcome.stdout):
        problems.append(f"crash: exit 2 without exactly one line: {outcome.stderr!r:.300}")
    if outcome.seconds > mode.deadline + HANG_SLACK:
        problems.append(f"hang: {outcome.seconds:.1f} s, deadline {mode.deadline:g} s")
    if TOKEN in text:
        problems.append("leak: the API token in the output")
    raw = sorted({c for c in text if unicodedata.category(c) in UNSAFE and c != "\n"})
    if raw:
        problems.append(f"leak: raw control or format characters in the output: {raw!r}")
    if mode.name == "markup_names" and "[bold red]" not in text:
        problems.append("leak: rich markup from the API was read as markup")
    written = root / "stacks" / "Pulumi.qa.yaml"
    if written.exists():
        problems += judged_file(written)
    return problems


def judged_file(path: Path) -> list[str]:
    """What init wrote must load with the project's loader and import no ESC environment."""
    text = path.read_text(encoding="utf-8")
    try:
        config = load_stack_config("qa", path)
    except Exception as exc:  # any refusal of the written file is the finding
        return [f"leak: the written file does not load: {exc}"]
    problems = []
    if config.environments or "environment" in (read_stack_file(path, text).data or {}):
        problems.append("leak: the written file imports an ESC environment")
    raw = sorted({c for c in text if unicodedata.category(c) in UNSAFE and c != "\n"})
    if raw:
        problems.append(f"leak: raw control or format characters in the file: {raw!r}")
    return problems


def table(outcomes: list[Outcome]) -> str:
    """family | cases | clean refusals | crashes | hangs | leaks, as markdown."""
    rows: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        family = MODES[outcome.case.mode].family
        rows.setdefault(family, Counter())["cases"] += 1
        rows[family][outcome.verdict] += 1
    lines = ["| family | cases | answered (0/1) | clean refusals (2) | crashes | hangs | leaks |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for family, count in [*rows.items(), ("total", sum(rows.values(), Counter()))]:
        lines.append(
            f"| {family} | {count['cases']} | {count['answered']} | {count['refused']} | "
            f"{count['crash']} | {count['hang']} | {count['leak']} |"
        )
    return "\n".join(lines)


def main() -> None:
    with planned_once() as account:
        outcomes = [run_case(case, copy_of(account)) for case in cases()]
    for outcome in outcomes:
        expected = MODES[outcome.case.mode].expect[outcome.case.command]
        if outcome.problems or outcome.exit_code != expected:
            # sys.__stdout__: a run given up on may still hold CliRunner's sys.stdout
            print(outcome.case.id, f"exit {outcome.exit_code} (expected {expected})",
                  outcome.problems, file=sys.__stdout__)  # fmt: skip
    print(table(outcomes), file=sys.__stdout__)


def copy_of(account: Account) -> Account:
    """A deep copy: modes change the account they are given."""
    return replace(
        account,
        stores=json.loads(json.dumps(account.stores)),
        secrets=json.loads(json.dumps(account.secrets)),
        settings=json.loads(json.dumps(account.settings)),
        kv=json.loads(json.dumps(account.kv)),
    )


if __name__ == "__main__":
    main()
