"""Property: whatever a stack file holds, every command ends in exit 0 or a clean exit 2.

Hypothesis writes `stacks/Pulumi.dev.yaml` and `Pulumi.staging.yaml` (staging follows
dev) from families of careless and hostile input, then runs plan, check, diff, rotate
and promote in-process, as a user would. For every run:

- exit 0, or exit 2 with nothing on stdout and one short line per problem on stderr;
- no traceback (no exception escapes) and no hang (each run has a time budget);
- no planted secret (a `secure:` ciphertext or a plain-text value) in stdout or stderr;
- a rotate that succeeds moves exactly the secret it names: every other secret of the
  file keeps its position, and the file keeps its BOM, line endings and final newline.

Families of hostile input the adversarial pass found, each also run on its own:
`symlinks` (a worker module, or a folder of its imports, linked out of the project: to
/proc/self/environ, /etc/passwd, a file beside the project, nothing, itself; a FIFO; a link
that stays inside), `cycles` (promotion.after: dev and staging following each other or
themselves) and `newlines` (a trailing line break on any name, key or value of the files).
A symlinked run leaks when the process environment, /etc/passwd or the outside file's
content reaches an output.

`make test` runs a short, deterministic pass; `make fuzz` runs FUZZ_EXAMPLES=1000 and
prints a table per family (cases, clean refusals, crashes, hangs, leaks).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import pickle
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from secretsctl.cli import app
from secretsctl.offline.mockrun import remembering_runs
from secretsctl.offline.stackfile import (
    MAX_FILE_BYTES,
    MAX_INDICATORS,
    MAX_LINES,
    StackFileError,
)
from secretsctl.offline.stackfile import load_stack_config as load
from tests.workflow_support import Project, Repo

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))  # `make test`; `make fuzz` asks 1,000
RUN_BUDGET_S = 30.0  # one command on one file; a real run takes well under a second
MAX_LINE = 1000  # characters in one stderr line

# Planted secrets: neither may ever reach stdout or stderr, in whole or in part.
CIPHERTEXT = "v1:Q0FOQVJZ:Y2FuYXJ5LXNlY3VyZS1ibG9iLVp4OVF2VDNwTDc="
PLAINTEXT = "plain-canary-Wq8Rf2Kd"
LEAK_MARKS = ("Q0FOQVJZ", "Y2FuYXJ5LXNlY3VyZS", "canary-Wq8Rf2Kd", "Wq8Rf2Kd")

SECRETS = ("api_key", "db_config", "vault_key", "hmac_key", "jwt_key")
KINDS = ("api_key", "encryption_key", "signing_key", "json", "opaque")
MODULES = ("workers/api.js", "workers/billing.js", "workers/vault.js", "workers/signer.js")
HOSTILE_MODULES = (
    "/proc/self/environ",
    "../README.md",
    "workers/../../../etc/passwd",
    "stacks/Pulumi.dev.yaml",
    ".env",
    "README.md",
    "a" * 300 + ".js",
    "w/" * 700 + "x.js",
    "workers\\api.js",
    "C:/workers/api.js",
    "workers/api.js\x00",
    "workers/missing.js",
    "",
)
ACCOUNT = "0123456789abcdef0123456789abcdef"
ABSENT = object()


def _first_entry(path: str, separator: bytes, holding: bytes) -> str | None:
    """A recognisable piece of a file outside the project (None: not readable here)."""
    try:
        entries = Path(path).read_bytes().split(separator)
    except OSError:
        return None
    entry = next((e for e in entries if len(e) >= 12 and holding in e), b"")
    return entry[:40].decode(errors="ignore") or None


# What the symlinks family links to, and the marks that say it leaked: the environment this
# process started with (a PATH=... entry), the first line of /etc/passwd, and the content of
# a module beside the project (it holds PLAINTEXT).
ENVIRON_MARK = _first_entry("/proc/self/environ", b"\0", b"=")
PASSWD_MARK = _first_entry("/etc/passwd", b"\n", b":")
SYMLINK_MARKS = tuple(m for m in (ENVIRON_MARK, PASSWD_MARK) if m)
OUTSIDE_MODULE = f"export const leaked = {PLAINTEXT!r};\n"
LINKED = "workers/fuzz"
"""The folder of links the symlinks family draws its modules from (made once per module)."""
LINKED_MODULES = (
    f"{LINKED}/env.js",  # -> /proc/self/environ
    f"{LINKED}/passwd.js",  # -> /etc/passwd
    f"{LINKED}/outside.js",  # -> a module beside the project
    f"{LINKED}/dangling.js",  # -> nothing
    f"{LINKED}/loop.js",  # -> itself
    f"{LINKED}/outdir/api.js",  # a folder linked out of the project
    f"{LINKED}/importer.js",  # imports ./lib/http.js, lib linked out of the project
    f"{LINKED}/climb.js",  # imports ../../../../etc/x.js
    f"{LINKED}/outclimb.js",  # -> an outside module whose import climbs further
    f"{LINKED}/fifo.js",  # a FIFO: opening it to read would wait for a writer
    f"{LINKED}/inside.js",  # -> ../api.js: stays inside, fine
    f"{LINKED}/indir/importer.js",  # its lib links to ../../lib: inside, fine
)
REFUSED_MODULES = LINKED_MODULES[:-2]
"""Every linked module but the two that stay inside: no plan may pass with one of them."""


def make_links(root: Path, outside: Path) -> None:
    """The links LINKED_MODULES name, under `root` (a project), pointing where they say."""
    (outside / "lib").mkdir(parents=True)
    (outside / "deep").mkdir()
    (outside / "secret.js").write_text(OUTSIDE_MODULE)
    (outside / "lib" / "http.js").write_text(OUTSIDE_MODULE)
    (outside / "lib" / "api.js").write_text(OUTSIDE_MODULE)
    (outside / "deep" / "m.js").write_text('import "../../../../etc/x.js";\n')
    folder = root / LINKED
    (folder / "indir").mkdir(parents=True)
    (folder / "env.js").symlink_to("/proc/self/environ")
    (folder / "passwd.js").symlink_to("/etc/passwd")
    (folder / "outside.js").symlink_to(outside / "secret.js")
    (folder / "dangling.js").symlink_to(outside / "nothing.js")
    (folder / "loop.js").symlink_to(folder / "loop.js")
    (folder / "outdir").symlink_to(outside / "lib", target_is_directory=True)
    (folder / "importer.js").write_text('import { x } from "./lib/http.js";\nexport default {};\n')
    (folder / "lib").symlink_to(outside / "lib", target_is_directory=True)
    (folder / "climb.js").write_text('import "../../../../etc/x.js";\nexport default {};\n')
    (folder / "outclimb.js").symlink_to(outside / "deep" / "m.js")
    os.mkfifo(folder / "fifo.js")
    (folder / "inside.js").symlink_to(Path("..") / "api.js")
    (folder / "indir" / "importer.js").write_text('import "./lib/http.js";\nexport default {};\n')
    (folder / "indir" / "lib").symlink_to(Path("..") / ".." / "lib", target_is_directory=True)


STATS: defaultdict[str, Counter[str]] = defaultdict(Counter)


# ---- what a stack file can hold --------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=30),
    st.dates(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def usually(good: st.SearchStrategy[Any], noisy: bool = True) -> st.SearchStrategy[Any]:
    """A sensible value; when `noisy`, sometimes junk and sometimes the key left out."""
    return st.one_of(good, good, good, good, junk, st.just(ABSENT)) if noisy else good


def put(mapping: dict[str, Any], key: str, value: Any) -> None:
    if value is not ABSENT:
        mapping[key] = value


@st.composite
def secret_entry(draw: st.DrawFn, noisy: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    kind = draw(usually(st.sampled_from(KINDS), noisy))
    put(entry, "kind", kind)
    current = draw(st.integers(min_value=1, max_value=4))
    stage = draw(st.sampled_from(("steady", "steady", "fallback", "swapped")))
    put(entry, "current", draw(usually(st.just(current), noisy)))
    if stage != "steady":
        put(entry, "next", draw(usually(st.just(current + 1), noisy)))
        put(entry, "stage", draw(usually(st.just(stage), noisy)))
    sources = ("config",) if kind == "json" else ("config", "config", "generate")
    put(entry, "source", draw(usually(st.sampled_from(sources), noisy)))
    put(
        entry, "scopes", draw(usually(st.sampled_from((["workers"], ["access", "workers"])), noisy))
    )
    if kind == "json" or (noisy and draw(st.booleans())):
        put(entry, "schema", draw(usually(st.just("postgres"), noisy)))
    if noisy and draw(st.integers(0, 9)) == 0:
        entry["comment"] = {"secure": CIPHERTEXT}  # a secret where plain config belongs
    return entry


@st.composite
def worker_entry(draw: st.DrawFn, secrets: list[str], noisy: bool) -> dict[str, Any]:
    worker: dict[str, Any] = {}
    modules = st.sampled_from(MODULES)
    if noisy:
        modules = st.one_of(*[modules] * 3, st.sampled_from(HOSTILE_MODULES))
    put(worker, "module", draw(usually(modules, noisy)))
    bindings: dict[str, Any] = {}
    chosen = draw(st.lists(st.sampled_from(secrets), max_size=3)) if secrets else []
    for binding, secret in zip(("PRIMARY_KEY", "OTHER_KEY", "THIRD_KEY"), chosen, strict=False):
        shapes = [st.just(secret), st.just({"secret": secret})]
        if noisy:
            shapes.append(junk)
        bindings["bad-binding" if noisy and not draw(st.integers(0, 5)) else binding] = draw(
            st.one_of(*shapes)
        )
    put(worker, "secrets", draw(usually(st.just(bindings), noisy)))
    date = st.one_of(st.just(datetime.date(2025, 11, 1)), st.just("2025-11-01"))
    put(worker, "compatibilityDate", draw(usually(st.one_of(date, st.dates()), noisy)))
    if draw(st.booleans()):
        worker["vars"] = {"UPSTREAM_URL": "https://api.example.com"}
    if noisy and draw(st.integers(0, 9)) == 0:
        worker["secretText"] = {"LEGACY": draw(st.sampled_from(("legacy_token", "api_key_v1")))}
    if noisy and draw(st.integers(0, 9)) == 0:
        worker["vars"] = {"TOKEN": {"secure": CIPHERTEXT}}
    return worker


@st.composite
def stack_document(draw: st.DrawFn, stack: str, noisy: bool) -> dict[str, Any]:
    """A stack file as data: well-formed, or (`noisy`) with careless and hostile values."""
    config: dict[str, Any] = {}
    names_from = st.sampled_from(SECRETS)
    if noisy:
        names_from = st.one_of(names_from, names_from, st.text(max_size=12), st.just("s" * 200))
    names = draw(st.lists(names_from, min_size=0 if noisy else 1, max_size=4, unique=True))
    secrets = {name: draw(secret_entry(noisy)) for name in names}
    if noisy and len(names) >= 2 and draw(st.integers(0, 4)) == 0:
        secrets[names[1]] = secrets[names[0]]  # one entry for two secrets: a YAML alias
    ns = "secrets-store:" if not noisy or draw(st.integers(0, 5)) else ""
    secure = {"secure": CIPHERTEXT}
    accounts = st.sampled_from((ACCOUNT, ACCOUNT, secure)) if noisy else st.just(ACCOUNT)
    put(config, f"{ns}accountId", draw(usually(accounts, noisy)))
    if draw(st.booleans()):
        prefixes = st.sampled_from((f"{stack}_", secure)) if noisy else st.just(f"{stack}_")
        put(config, f"{ns}namePrefix", draw(usually(prefixes, noisy)))
    if stack != "dev" or (noisy and draw(st.integers(0, 3)) == 0):
        after = "dev" if stack != "dev" else draw(st.sampled_from(("dev", "x" * 300, "../x")))
        promotion: dict[str, Any] = {}
        put(promotion, "after", draw(usually(st.just(after), noisy)))
        config["secrets-store:promotion"] = promotion
    put(config, "secrets-store:secrets", draw(usually(st.just(secrets), noisy)))
    worker_names = ("api", "billing", "Bad Name") if noisy else ("api", "billing")
    workers = {
        name: draw(worker_entry(names, noisy))
        for name in draw(st.lists(st.sampled_from(worker_names), max_size=3))
    }
    put(config, "secrets-store:workers", draw(usually(st.just(workers), noisy)))
    values = (secure, secure, secure, ABSENT, PLAINTEXT) if noisy else (secure,)
    for name in names:
        for version in range(1, 6):
            value = draw(st.sampled_from(values))
            if value == PLAINTEXT and secrets[name].get("kind") == "json":
                value = json.dumps({"host": "h", "port": 1, PLAINTEXT: PLAINTEXT})
            put(config, f"secrets-store:{name}_v{version}", value)
    config["cloudflare:apiToken"] = secure
    document: dict[str, Any] = {"config": config}
    if draw(st.integers(0, 5)) == 0:
        document = {"environment": [f"secrets-store/{stack}"], **document}
        if not noisy:  # values come from the environment instead of the file
            for key in [k for k in config if re.search(r"_v[0-9]+$", k)]:
                if draw(st.booleans()):
                    del config[key]
    return document


def following(dev: dict[str, Any], behind: bool) -> dict[str, Any]:
    """A well-formed staging file for `dev`: its secrets level with dev's, or one stage behind
    the start of each rotation (steady at dev's current)."""
    staging = copy.deepcopy(dev)
    config = staging["config"]
    config["secrets-store:namePrefix"] = "staging_"
    config["secrets-store:promotion"] = {"after": "dev"}
    for entry in (config.get("secrets-store:secrets") or {}).values():
        if behind and isinstance(entry, dict):
            entry.pop("next", None)
            entry.pop("stage", None)
    return staging


def dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=4096)


# ---- families: how the text is written -------------------------------------------------------

MERGED = """\
config:
  secrets-store:accountId: {account}
  secrets-store:secrets:
    api_key: &base
      kind: api_key
      current: 1
{api_tail}    other:
      <<: *base
{other_tail}  secrets-store:workers:
    api:
      module: workers/api.js
      secrets: {{PRIMARY_KEY: api_key, OTHER_KEY: other}}
  secrets-store:api_key_v1: {{secure: {ct}}}
  secrets-store:api_key_v2: {{secure: {ct}}}
  secrets-store:other_v1: {{secure: {ct}}}
  secrets-store:other_v2: {{secure: {ct}}}
"""


@st.composite
def merged_text(draw: st.DrawFn) -> str:
    """Two secrets sharing settings through a merge key, positions owned or inherited."""
    tails = ("", "      next: 2\n      stage: fallback\n", "      next: 2\n      stage: swapped\n")
    return MERGED.format(
        account=ACCOUNT,
        api_tail=draw(st.sampled_from(tails)),
        other_tail=draw(st.sampled_from(("", "      current: 1\n", *tails[1:]))),
        ct=CIPHERTEXT,
    )


def alias_bomb(levels: int) -> str:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return (
        "config:\n"
        + "\n".join(lines)
        + f"\n  secrets-store:workers: {{api: {{module: workers/api.js, vars: *a{levels - 1}}}}}\n"
    )


def merge_bomb(levels: int) -> str:
    lines = [
        f"  a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}], k{i}: 1}}"
        for i in range(1, levels)
    ]
    return "config:\n  a0: &a0 {k0: 1}\n" + "\n".join(lines) + "\n"


@st.composite
def hostile_text(draw: st.DrawFn) -> str | bytes:
    kind = draw(
        st.sampled_from(
            (
                "bomb",
                "merge-bomb",
                "self-alias",
                "deep",
                "huge",
                "lines",
                "dense",
                "list",
                "scalar",
                "bytes",
                "text",
                "duplicate",
                "documents",
                "tabs",
            )
        )
    )
    if kind == "bomb":
        return alias_bomb(draw(st.integers(min_value=4, max_value=12)))
    if kind == "merge-bomb":
        return merge_bomb(draw(st.integers(min_value=4, max_value=30)))
    if kind == "self-alias":
        return "config:\n  secrets-store:secrets: &s {api_key: *s}\n"
    if kind == "deep":
        depth = draw(st.integers(min_value=50, max_value=3000))
        return "config:\n  secrets-store:workers: " + "[" * depth + "]" * depth + "\n"
    if kind == "huge":
        return "config: {}\n# " + "x" * (MAX_FILE_BYTES + 10) + "\n"
    if kind == "dense":
        return "config:\n  k: [" + "1," * MAX_INDICATORS + "]\n"
    if kind == "lines":
        return "config:\n" + "#\n" * (MAX_LINES + 1)
    if kind == "list":
        return dump(draw(st.lists(junk, max_size=3)))
    if kind == "scalar":
        return draw(st.sampled_from(("just text\n", "42\n", "~\n", "''\n", "2025-11-01\n")))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "duplicate":
        return "config:\n  secrets-store:accountId: a\n  secrets-store:accountId: b\n"
    if kind == "documents":
        return "config: {}\n---\nconfig: {}\n"
    return "config:\n\tsecrets-store:accountId: x\n"


# ---- families the adversarial pass found: links, cycles, trailing newlines ---------------------


@st.composite
def linked_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev and staging, well-formed, with one or two workers' modules from LINKED_MODULES."""
    dev = draw(stack_document("dev", noisy=False))
    workers = dev["config"].get("secrets-store:workers") or {}
    if not workers:
        workers = dev["config"]["secrets-store:workers"] = {"api": {"module": MODULES[0]}}
    for name in draw(st.lists(st.sampled_from(sorted(workers)), min_size=1, max_size=2)):
        workers[name]["module"] = draw(st.sampled_from(LINKED_MODULES))
    return dev, following(dev, behind=draw(st.booleans()))


@st.composite
def cyclic_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev and staging following each other, or themselves (or, to compare, a chain)."""
    dev = draw(stack_document("dev", noisy=False))
    staging = following(dev, behind=draw(st.booleans()))
    dev["config"]["secrets-store:promotion"] = {"after": draw(st.sampled_from(("staging", "dev")))}
    staging["config"]["secrets-store:promotion"] = {
        "after": draw(st.sampled_from(("dev", "dev", "staging")))
    }
    return dev, staging


NEWLINES = ("\n", "\n", "\r\n", "\n\n", " \n", "\r", "\u2028")


def with_line_breaks(node: Any, chosen: set[int], suffix: str, site: list[int]) -> Any:
    """`node` with `suffix` after every key and scalar whose number (in walk order) is chosen;
    `site` counts them. A `secure:` value is left as it is (a ciphertext, not a name)."""

    def mark(value: Any) -> Any:
        site[0] += 1
        if site[0] - 1 in chosen:
            return f"{value}{suffix}"
        return value

    if isinstance(node, dict):
        if set(node) == {"secure"}:
            return node
        return {mark(k): with_line_breaks(v, chosen, suffix, site) for k, v in node.items()}
    if isinstance(node, list):
        return [with_line_breaks(v, chosen, suffix, site) for v in node]
    if isinstance(node, str) or (isinstance(node, int) and not isinstance(node, bool)):
        return mark(node)
    return node


def count_sites(node: Any) -> int:
    site = [0]
    with_line_breaks(node, set(), "", site)
    return site[0]


@st.composite
def newline_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """dev and staging, well-formed, then a line break after one to three names or values."""
    dev = draw(stack_document("dev", noisy=False))
    staging = following(dev, behind=draw(st.booleans()))
    both = [dev["config"], staging["config"]]
    chosen = draw(st.sets(st.integers(0, count_sites(both) - 1), min_size=1, max_size=3))
    dev_config, staging_config = with_line_breaks(
        both, chosen, draw(st.sampled_from(NEWLINES)), [0]
    )
    return {**dev, "config": dev_config}, {**staging, "config": staging_config}


FAMILY_DOCUMENTS = {
    "symlinks": linked_documents,
    "cycles": cyclic_documents,
    "newlines": newline_documents,
}


@dataclass(frozen=True)
class Case:
    family: str
    dev: str | bytes
    staging: str | bytes
    rotate: str


@st.composite
def family_case(draw: st.DrawFn, family: str) -> Case:
    dev, staging = draw(FAMILY_DOCUMENTS[family]())
    declared = dev["config"].get("secrets-store:secrets")
    names = [str(n) for n in declared] if isinstance(declared, dict) else []
    rotate = draw(st.sampled_from([*names, "api_key"]))
    return Case(family, dump(dev), dump(staging), rotate)


FAMILIES = ("valid", "careless", "encoding", "shared", "hostile", "hostile-staging")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    family = draw(st.sampled_from((*FAMILIES, *FAMILY_DOCUMENTS)))
    if family in FAMILY_DOCUMENTS:
        return draw(family_case(family))
    noisy = family == "careless" or (family != "valid" and draw(st.booleans()))
    dev_doc = draw(stack_document("dev", noisy))
    if noisy:
        staging: str | bytes = dump(draw(stack_document("staging", noisy)))
    else:
        staging = dump(following(dev_doc, behind=draw(st.booleans())))
    declared = dev_doc["config"].get("secrets-store:secrets")
    names = [str(n) for n in declared] if isinstance(declared, dict) else []
    rotate = draw(st.sampled_from([*names, *names, "api_key", "not_declared"]))
    dev: str | bytes = dump(dev_doc)
    if family == "encoding":
        text = dump(dev_doc)
        if draw(st.booleans()):
            text = text.replace("\n", "\r\n")
        if draw(st.booleans()):
            text = "\ufeff" + text
        if draw(st.booleans()):
            text = text.rstrip("\r\n")
        dev = text
        if draw(st.integers(0, 3)) == 0:
            raw = text.encode()
            at = draw(st.integers(min_value=0, max_value=len(raw)))
            dev = raw[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\x80\x80"))) + raw[at:]
    elif family == "shared":
        dev = draw(merged_text())
        rotate = draw(st.sampled_from(("api_key", "other")))
    elif family == "hostile":
        dev = draw(hostile_text())
    elif family == "hostile-staging":
        staging = draw(hostile_text())
    return Case(family, dev, staging, rotate)


# ---- running the CLI as a user would ----------------------------------------------------------


class Hang(Exception):
    """A command ran past its time budget."""


def _alarm(_signum: int, _frame: Any) -> None:
    raise Hang


@dataclass
class Outcome:
    command: str
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    seconds: float


def invoke(*args: str) -> Outcome:
    # Pulumi's `serialize_provider` (dynamic providers) wraps pickle's `_batch_setitems`
    # anew on every call and never unwraps it: one process planning ~950 times overflows
    # the stack. A CLI run plans a handful of times; this test plans thousands of times.
    batch_setitems = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, RUN_BUDGET_S)
    start = time.perf_counter()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        pickle._Pickler._batch_setitems = batch_setitems  # type: ignore[attr-defined]
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(
        args[0],
        result.exit_code,
        result.stdout,
        result.stderr,
        exception,
        time.perf_counter() - start,
    )


def verdict(outcome: Outcome) -> str:
    """ok | refused | crash | hang | leak | unclean (exit 2 with stdout or a runaway line)."""
    if isinstance(outcome.exception, Hang) or outcome.seconds > RUN_BUDGET_S:
        return "hang"
    if outcome.exception is not None or outcome.exit_code not in (0, 2):
        return "crash"
    if any(mark in outcome.stdout + outcome.stderr for mark in (*LEAK_MARKS, *SYMLINK_MARKS)):
        return "leak"
    if outcome.exit_code == 0:
        return "ok"
    lines = outcome.stderr.splitlines()
    if outcome.stdout or not lines or any(len(line) > MAX_LINE for line in lines):
        return "unclean"
    return "refused"


def positions(path: Path) -> dict[str, Any] | None:
    try:
        return dict(load("dev", path).positions)
    except StackFileError:
        return None


def layout(data: bytes) -> tuple[bool, bool, bool]:
    """(BOM, CRLF line endings, ends with a newline)."""
    return data.startswith(b"\xef\xbb\xbf"), b"\r\n" in data, data.endswith(b"\n")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """One project in one git repo for every example (its commit is diff's base); each
    example rewrites dev and staging. Its own program and workers, and the symlinks
    family's links, never this checkout's."""
    base = tmp_path_factory.mktemp("fuzz")
    repo = Project(base / "repo")
    make_links(repo.root, base / "outside")
    repo.path("prod").unlink()  # two stacks are enough, and each check plans every stack
    repo.commit("dev and staging only")
    # Each example goes through five commands that run the program on the same files: a
    # run with the inputs of an earlier one is not run again (the workers never change).
    with remembering_runs():
        yield repo


STAGING = (
    Path(__file__).resolve().parent / "fixtures" / "stacks" / "Pulumi.staging.yaml"
).read_text()


def write(path: Path, content: str | bytes) -> None:
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def run_case(repo: Repo, case: Case) -> None:
    root = str(repo.root)
    dev = repo.path("dev")
    write(dev, case.dev)
    write(repo.path("staging"), case.staging)
    before_bytes = dev.read_bytes()
    before = positions(dev)
    outcomes = [
        invoke("plan", "--stack", "dev", "--config-file", str(dev), "--format", "json"),
        invoke("check", "--root", root),
        invoke("diff", "--stack", "dev", "--base", "main", "--root", root),
        invoke("rotate", case.rotate, "--stack", "dev", "--root", root),
    ]
    rotated = outcomes[-1]
    outcomes.append(invoke("promote", "--from", "dev", "--to", "staging", "--root", root))
    stats = STATS[case.family]
    stats["cases"] += 1
    if case.family == "symlinks" and any(
        f"module: {m}\n" in str(case.dev) for m in REFUSED_MODULES
    ):
        # Not only clean: refused. Plan, check and diff read every worker's modules.
        assert [o.exit_code for o in outcomes[:3]] == [2, 2, 2], [o.command for o in outcomes]
        stats["cases with a module out of bounds"] += 1
    for outcome in outcomes:
        result = verdict(outcome)
        stats[f"runs {result}"] += 1
        # A leak's output is not repeated here: it holds what leaked (the environment).
        shown = result != "leak"
        assert result in ("ok", "refused"), (
            f"{outcome.command}: {result} (exit {outcome.exit_code}, "
            f"{outcome.seconds:.1f} s)\nstdout: {outcome.stdout[-2000:] if shown else '…'}\n"
            f"stderr: {outcome.stderr[-2000:] if shown else '…'}\n"
            f"exception: {outcome.exception!r}"
        )
    if rotated.exit_code == 0:
        # Exactly the named secret moved; the file kept its BOM, line endings, last newline.
        after = positions(dev)
        assert before is not None and after is not None
        assert {k: v for k, v in after.items() if k != case.rotate} == {
            k: v for k, v in before.items() if k != case.rotate
        }
        assert after[case.rotate] == before[case.rotate].advance()
        assert layout(dev.read_bytes()) == layout(before_bytes)
        stats["rotations landed"] += 1
    else:
        after_bytes = dev.read_bytes()
        # promote edits staging only; a refused rotate leaves dev byte-for-byte.
        assert after_bytes == before_bytes
    if any(o.exit_code == 2 for o in outcomes):
        stats["cases with a refusal"] += 1
    if all(o.exit_code == 0 for o in outcomes):
        stats["cases all exit 0"] += 1


def table(families: tuple[str, ...] | None = None) -> str:
    rows = [
        "| family | cases tried | runs | exit 0 | clean refusals (exit 2) | crashes | hangs | "
        "leaks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, c in sorted(STATS.items()):
        if families is not None and family not in families:
            continue
        runs = sum(v for k, v in c.items() if k.startswith("runs "))
        crashes = c["runs crash"] + c["runs unclean"]
        rows.append(
            f"| {family} | {c['cases']} | {runs} | {c['runs ok']} | {c['runs refused']} | "
            f"{crashes} | {c['runs hang']} | {c['runs leak']} |"
        )
    return "\n".join(rows)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=EXAMPLES <= 100,  # `make test`: the same examples every run
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)


def test_every_generated_stack_file_ends_in_exit_0_or_a_clean_exit_2(repo):
    STATS.clear()

    @FUZZ
    @given(case=cases())
    def property_holds(case: Case) -> None:
        run_case(repo, case)

    property_holds()
    print(f"\nFuzzed stack files ({EXAMPLES} examples requested):\n{table()}")
    assert sum(c["cases"] for c in STATS.values()) >= EXAMPLES


def test_generated_alias_sharing_never_moves_another_secret(repo):
    # The shared family on its own: every combination of owned and inherited positions.
    @settings(FUZZ, max_examples=max(EXAMPLES * 3 // 5, 1))
    @given(text=merged_text(), secret=st.sampled_from(("api_key", "other")))
    def property_holds(text: str, secret: str) -> None:
        run_case(repo, Case("shared", text, STAGING, secret))

    property_holds()


@pytest.mark.parametrize("family", list(FAMILY_DOCUMENTS))
def test_each_family_the_adversarial_pass_found_ends_in_exit_0_or_a_clean_exit_2(repo, family):
    # Each family on its own too, so that `make test`'s short pass runs every one of them.
    STATS.pop(family, None)
    examples = max(EXAMPLES // 5, 2)

    @settings(FUZZ, max_examples=examples)
    @given(case=family_case(family))
    def property_holds(case: Case) -> None:
        run_case(repo, case)

    property_holds()
    print(f"\nFamily {family} ({examples} examples requested):\n{table((family,))}")
    assert STATS[family]["cases"] >= examples


def test_the_symlinks_family_can_see_a_leak():
    # The leak check is only as good as its marks: the environment and /etc/passwd each
    # give one here (Linux), and the outside module holds a planted value.
    assert ENVIRON_MARK and ENVIRON_MARK in Path("/proc/self/environ").read_bytes().decode(
        errors="ignore"
    )
    assert PASSWD_MARK and PASSWD_MARK in Path("/etc/passwd").read_text()
    assert any(mark in OUTSIDE_MODULE for mark in LEAK_MARKS)


def test_leak_marks_cover_the_planted_values():
    # The check above is only as good as its marks: each planted value contains one.
    assert any(mark in CIPHERTEXT for mark in LEAK_MARKS)
    assert any(mark in PLAINTEXT for mark in LEAK_MARKS)
    assert re.search("Wq8Rf2Kd", PLAINTEXT)
