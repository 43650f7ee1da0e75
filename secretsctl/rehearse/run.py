"""The local rehearsal: a whole rotation on workerd under live traffic, stage by stage.

Each stage is the offline plan of a stack config (see `rehearse_stages`); each
transition is deployed in `pulumi up` order (new secret versions, then
workers, then old versions deleted) with live traffic before, between and
after the steps (`rehearse_traffic`). A fake upstream API accepts and revokes
the api_key values on operator schedules; the careful operator also
re-encrypts stored values in `swapped` and lets tokens signed by the old key
expire before the finish. The result is a `Report` (`rehearse_report`).

Behavior:
- Default: the built-in demo rotates api_key, vault_key (encryption_key) and
  jwt_key (signing_key) together, steady -> fallback -> swapped -> finished,
  with three upstream schedules side by side (careful, latest register,
  earliest revoke), one upstream tenant each.
- `stack`: that stack's next transition, from its real config, with local
  stand-ins for values that cannot be decrypted here.
- `unsafe`: a careless operator (`revoke-early`, `skip-stage`), whose failures
  show up in the stage where they happen.
- `load`: instead of short batches between the steps, `load_concurrency` requests
  stay in flight from the first deploy to the last, through every deploy step
  (workerd switches versions under traffic, as Cloudflare does), until every table
  row has seen at least `requests_per_row` requests.

Every worker version of every stage is loaded with the first deploy, so later
deploys switch versions without restarting workerd; each deploy returns once no
request still runs on a version it replaced (the moment an operator may revoke).
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secrets_store.crypto_envelope import key_id
from secrets_store.rotation import Position, emergency_position, position_from, step_toward
from secrets_store.spec import NAMESPACE
from secretsctl.errors import InvalidInput
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.project import Project
from secretsctl.offline.stackfile import StackConfig, StackFileError, load_stack_config, read_stack
from secretsctl.rehearse.driver import (
    WORKDIR_PREFIX,
    Driver,
    DriverError,
    Request,
    Response,
    reap_stale,
)
from secretsctl.rehearse.report import Report, Tally
from secretsctl.rehearse.stages import (
    DEMO_TOKEN_TTL_S,
    ROTATED_KINDS,
    Deployment,
    LoginClient,
    Stage,
    Step,
    demo_config,
    description,
    full_rotation,
    key_positions,
    plan_stages,
    transition_steps,
    with_standins,
    with_token_lifetime,
)
from secretsctl.rehearse.traffic import Check, Outcome, Sizes, Traffic

if TYPE_CHECKING:
    from secretsctl.rehearse.engine import EngineUp
from secretsctl.workflow.rotate import fixed_in_code, registered_position

STAGE_RANK = {"steady": 0, "fallback": 1, "swapped": 2, "finished": 3}
# Moments within one transition, in order: before any step, after new versions are
# created, after workers are updated, after old versions are deleted.
MOMENT_AFTER = {"create": "created", "workers": "updated", "delete": "end"}


class RehearsalInputError(InvalidInput):
    """Options that cannot be rehearsed (unknown secret, unsafe mode that does not apply)."""


@dataclass(frozen=True)
class Schedule:
    """When the upstream learns the new api_key and forgets the old one: (stage, moment) points."""

    name: str
    register: tuple[str, str]
    revoke: tuple[str, str]
    what: str


SAFE_SCHEDULES = (
    Schedule(
        "careful",
        ("fallback", "start"),
        ("finished", "end"),
        "new key registered before the rotation starts, old key revoked after it finished",
    ),
    Schedule(
        "late-register",
        ("finished", "created"),
        ("finished", "end"),
        "new key registered at the latest moment: just before the finish drops the fallback",
    ),
    Schedule(
        "early-revoke",
        ("fallback", "start"),
        ("fallback", "updated"),
        "old key revoked at the earliest moment: once every worker has the new key as fallback",
    ),
)
EMERGENCY_SCHEDULE = Schedule(
    "emergency",
    ("finished", "start"),
    ("finished", "end"),
    "a leaked key: the vendor issued the new key before the emergency deploy; the old key is "
    "revoked the moment the deploy ends",
)
UNSAFE_SCHEDULES = {
    "revoke-early": Schedule(
        "revoke-early",
        ("fallback", "start"),
        ("fallback", "created"),
        "careless: old key revoked once the new version exists, before any worker is updated",
    ),
    "skip-stage": Schedule(
        "skip-stage",
        ("finished", "end"),
        ("finished", "end"),
        "careless: steady straight to finished in one deploy; upstream learns the new key after it",
    ),
}


@dataclass(frozen=True)
class Options:
    """What to rehearse and how much traffic to send."""

    stack: str | None = None
    """Rehearse this stack's next transition (default: the built-in demo's whole rotation)."""
    config_file: Path | None = None
    project: Project | None = None
    """With `stack`: the project whose stack it is (default: the working directory's)."""
    secrets: tuple[str, ...] = ()
    """With `stack`: the secrets to move (default: those mid-rotation, else every key secret)."""
    unsafe: str | None = None
    """`revoke-early` or `skip-stage`: rehearse a careless operator."""
    emergency: bool = False
    """The demo's secrets rotated on the emergency path (`rotate --emergency`), then the
    encryption_key finished once re-encrypted: only the README's promised costs may fail."""
    baseline_batches: int = 2
    sizes: Sizes = field(default_factory=Sizes)
    concurrency: int = 8
    timeout_ms: int = 5000
    """Per request: no answer in this time counts as a failure."""
    token_ttl_s: int = DEMO_TOKEN_TTL_S
    max_drain_s: float = 45.0
    """Longest the careful operator waits for old tokens to expire before the finish."""
    api_key_values: Mapping[int, str] | None = field(default=None, repr=False)
    """Demo only: api_key values by version (tests pass canaries); generated by default."""
    load: bool = False
    """Keep `load_concurrency` requests in flight through every deploy step."""
    load_concurrency: int = 32
    requests_per_row: int = 1000
    """With `load`: each stage lasts until every table row has seen this many requests."""
    load_max_s: float = 600.0
    """With `load`: longest one stage waits for its rows' counts."""
    engine: bool = False
    """Deploy each stage with a real `pulumi up` against the local Cloudflare API, and serve
    on workerd what the provider uploaded (`secretsctl.rehearse.engine`)."""


Progress = Callable[[str], None]


def plan_rehearsal(
    options: Options, modules_dir: Path
) -> tuple[list[Stage], dict[str, str], list[str], LoginClient]:
    """The stages to deploy, the rotated secrets' kinds, notes for the report, and the client
    that logs in at gateway (every LOGIN_CLIENTS value deployed lists it)."""
    if options.unsafe not in (None, *UNSAFE_SCHEDULES):
        raise RehearsalInputError(
            f"--unsafe: unknown variant, got {options.unsafe!r} (use {', '.join(UNSAFE_SCHEDULES)})"
        )
    skip = options.unsafe == "skip-stage"
    notes: list[str] = []
    if options.engine and options.stack:
        raise RehearsalInputError(
            "--engine: rehearses the built-in demo (and --emergency, --unsafe) with the real "
            "engine, got it with --stack (drop one of them; `pulumi preview` shows a stack's "
            "next deploy)"
        )
    if options.emergency and (options.unsafe or options.stack):
        raise RehearsalInputError(
            "--emergency: rehearses the built-in demo's emergency path, got it with "
            f"{'--unsafe' if options.unsafe else '--stack'} (drop one of them)"
        )
    client = LoginClient.generate()
    declared: Mapping[str, Mapping[str, Any]] | None = None
    if options.emergency:
        base = demo_config(options.api_key_values, client)
        start = key_positions(base)
        jump = {n: emergency_position(p, base.kinds[n]) for n, p in start.items()}
        finish = {
            n: emergency_position(p, base.kinds[n], reencrypted=True) if p.next else p
            for n, p in jump.items()
        }
        notes.append(
            "emergency path: "
            + ", ".join(f"{n} {base.kinds[n]} -> {jump[n].describe()}" for n in start)
            + "; then, once re-encrypted, the encryption_key finishes"
        )
        path = [start, jump, finish]
        kinds = base.kinds
    elif options.stack is None:
        base = demo_config(options.api_key_values, client)
        start = key_positions(base)
        path = full_rotation(start, skip)
        kinds = base.kinds
    else:
        config = read_stack(options.stack, options.config_file, options.project)
        in_code = _declared_in_code(config) if not config.secrets else None
        if in_code is not None:
            every, kinds, declared = in_code
            notes.append(
                f"{config.owner().program.name} declares the secrets in code: their kinds and "
                "positions are those its VersionedSecrets registered"
            )
        else:
            every, kinds, declared = config.positions, config.kinds, None
        for name in options.secrets:
            if name not in every:
                raise RehearsalInputError(
                    f"--secret: {name!r} is not declared in stack {options.stack} "
                    f"(declared: {', '.join(every)})"
                )
            if kinds.get(name) not in ROTATED_KINDS:
                raise RehearsalInputError(
                    f"--secret: {name!r} is kind {kinds.get(name)!r}; the rehearsal rotates "
                    f"{', '.join(ROTATED_KINDS)}"
                )
        start, target = _next_deploy(config, every, kinds, options.secrets, notes)
        if skip and any(p.next is not None for p in start.values()):
            raise RehearsalInputError(
                "--unsafe skip-stage: starts from steady, but "
                + ", ".join(n for n, p in start.items() if p.next is not None)
                + " is mid-rotation (finish it first or pick --secret)"
            )
        path = full_rotation(start, True) if skip else [start, target]
        base, standin_notes = with_standins(config, path, client, declared)
        notes += standin_notes
    base, lifetime_notes = with_token_lifetime(base, options.token_ttl_s)
    notes += lifetime_notes
    stages = plan_stages(base, path, modules_dir)
    if options.stack is not None and declared is not None:
        _refuse_fixed_in_code(stages, path[0])
    return stages, {n: k for n, k in kinds.items() if n in path[0]}, notes, client


def _declared_in_code(
    config: StackConfig,
) -> tuple[Mapping[str, Position], Mapping[str, str], Mapping[str, Mapping[str, str]]]:
    """Positions, kinds and {kind, source} of the secrets a program declares in code, as its
    VersionedSecrets registered them in the stack's plan. A secret whose versions the stack
    config holds values for reads them there (`config`: versions the rehearsal creates get
    stand-ins); any other draws or gets its values in code (`generate`)."""
    registered = plan_stack(config.stack, config=config).document["secrets"]
    if not registered:
        raise RehearsalInputError(
            f"--stack {config.stack}: the rehearsal rotates the secrets the stack declares, got "
            "none in the stack file (secrets-store:secrets) nor in the program (declare them "
            "there, or with the VersionedSecret component)"
        )
    held = {
        name
        for key in config.config
        for name, _, version in [key.removeprefix(f"{NAMESPACE}:").rpartition("_v")]
        if key.startswith(f"{NAMESPACE}:") and version.isdigit()
    }
    positions = {
        name: placed
        for name, entry in registered.items()
        if (placed := position_from(entry)) is not None
    }
    kinds = {name: str(entry.get("kind") or "") for name, entry in registered.items()}
    declared = {
        name: {"kind": kind, "source": "config" if name in held else "generate"}
        for name, kind in kinds.items()
    }
    return positions, kinds, declared


def _refuse_fixed_in_code(stages: list[Stage], start: Mapping[str, Position]) -> None:
    """A program that fixes a secret's position in code does not follow the rehearsal's
    config: refuse, rather than rehearse the same deploy as if it were the next one."""
    for stage in stages:
        for name, position in stage.positions.items():
            placed = registered_position(stage.plan.document, name)
            if placed is not None and placed != position:
                raise RehearsalInputError(fixed_in_code(name, start[name]))


def _next_deploy(
    config: StackConfig,
    every: Mapping[str, Position],
    kinds: Mapping[str, str],
    chosen: tuple[str, ...],
    notes: list[str],
) -> tuple[dict[str, Position], dict[str, Position]]:
    """The stack's next transition: (positions now, positions after one deploy).

    Chosen secrets advance one stage; by default the secrets mid-rotation do; when
    none is, the stack follows its `promotion.after` stack one stage (what
    `secretsctl promote` would do), or with no such stack every key secret starts.
    """
    if chosen:
        return {n: every[n] for n in chosen}, {n: every[n].advance() for n in chosen}
    rotating = [n for n, p in every.items() if p.next is not None]
    if rotating:
        return {n: every[n] for n in rotating}, {n: every[n].advance() for n in rotating}
    after = config.promotion_after
    keys = [n for n in every if kinds.get(n) in ROTATED_KINDS]
    if not after:
        notes.append("no rotation under way: rehearsing the start of one for " + ", ".join(keys))
        return {n: every[n] for n in keys}, {n: every[n].advance() for n in keys}
    try:
        ahead = load_stack_config(after, config.sibling(after)).positions
    except StackFileError:
        ahead = {}
    steps = {n: step_toward(every[n], ahead[n]) for n in keys if n in ahead}
    moves = {n: p for n, p in steps.items() if p is not None}
    if not moves:
        raise RehearsalInputError(
            f"--stack {config.stack}: no rotation under way and nothing to promote from "
            f"{after!r} (rehearse {after} first, or pass --secret NAME to start one)"
        )
    notes.append(
        f"following {after}: " + ", ".join(f"{n} -> {p.describe()}" for n, p in moves.items())
    )
    return {n: every[n] for n in moves}, moves


def rehearse(options: Options = Options(), progress: Progress = lambda _: None) -> Report:
    """Run the rehearsal; raises SpecError/StackFileError/RehearsalInputError for bad input."""
    started = time.monotonic()
    for gone in reap_stale():  # left by a rehearsal that was killed
        progress(f"removed the leftovers of a killed rehearsal: {gone}")
    with (
        _unwind_on_signals(),
        tempfile.TemporaryDirectory(prefix=WORKDIR_PREFIX) as tmp,
    ):
        # Node and miniflare load while the stages are planned; a missing node is reported
        # only once the options are known to be valid (bad input is named first).
        driver: Driver | None = None
        missing: DriverError | None = None
        try:
            driver = Driver(workdir=Path(tmp))
        except DriverError as exc:
            missing = exc
        try:
            stages, kinds, notes, client = plan_rehearsal(options, Path(tmp))
            progress(
                f"planned {len(stages)} stages of {', '.join(kinds)}: "
                + " -> ".join("/".join(sorted(set(s.labels.values()))) for s in stages)
            )
            if driver is None:
                raise missing or DriverError("the rehearsal driver did not start")
            ups: list[EngineUp] = []
            if options.engine:
                from secretsctl.rehearse.engine import deploy_stages

                stages, ups, engine_notes = deploy_stages(stages, Path(tmp), progress, _summary)
                notes += engine_notes
            run = _Run(options, stages, kinds, client, driver, progress)
            report = run.go()
            report.engine_ups = [u.as_json() for u in ups]
        finally:
            if driver is not None:
                driver.close()
    report.notes = notes + report.notes
    report.duration_s = time.monotonic() - started
    return report


@contextlib.contextmanager
def _unwind_on_signals() -> Iterator[None]:
    """SIGTERM/SIGHUP exit like Ctrl-C does: through the `with` blocks, so the driver
    disposes workerd and the temp dir (stand-in key material included) is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    wanted = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, stop) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Run:
    """One rehearsal in progress: the runtime, the upstream, the ledgers and the tally."""

    def __init__(
        self,
        options: Options,
        stages: list[Stage],
        kinds: dict[str, str],
        client: LoginClient,
        driver: Driver,
        progress: Progress,
    ) -> None:
        self.o = options
        self.stages = stages
        self.kinds = kinds
        self.driver = driver
        self.progress = progress
        self.schedules = (
            (UNSAFE_SCHEDULES[options.unsafe],)
            if options.unsafe
            else (EMERGENCY_SCHEDULE,)
            if options.emergency
            else SAFE_SCHEDULES
        )
        sizes = options.sizes
        if options.load and sizes == Sizes():
            # Two upstream workers share a tenant's row: as many requests per batch as
            # the vault and gateway rows get, so every row reaches its count together.
            sizes = replace(sizes, upstream_per_tenant=6)
        self.traffic = Traffic(
            kinds,
            [s.name for s in self.schedules],
            options.token_ttl_s,
            client,
            sizes,
            safety_margin_s=1.0 if options.load else None,
        )
        # Secret name in Cloudflare -> secret, over every stage (for attributing traffic), as
        # the VersionedSecrets registered them (whether the stack file or code declares them).
        self.secret_of = {
            cf: name
            for s in stages
            for name, info in s.plan.document["secrets"].items()
            for cf in info.get("cloudflare_names", [])
        }
        deployments = [s.deployment for s in stages]
        # Upstream schedules apply (events, rows) only where a worker calls the upstream.
        self.upstream = {
            secret
            for d in deployments
            for _, profile, secret in self.traffic.targets(d, self.secret_of)
            if profile == "upstream"
        }
        self.tally = Tally(kinds, self.upstream)
        self.deploys: list[dict[str, object]] = []
        self.notes: list[str] = self.traffic.unprofiled(deployments, self.secret_of)
        first, last = stages[0].positions, stages[-1].positions
        self.old = {n: self._value(n, first[n].current) for n in kinds}
        self.new = {n: self._value(n, last[n].next or last[n].current) for n in kinds}
        self.registered: set[tuple[str, str]] = set()
        self.revoked: set[tuple[str, str]] = set()
        # Shared with the load threads: the ledgers, the tally, and what new requests target.
        self.lock = threading.RLock()
        self.labels: Mapping[str, str] = stages[0].labels
        self.running: Deployment = stages[0].deployment
        self.load: _Load | None = None
        self.per_worker: dict[tuple[str, str], list[int]] = {}

    def _value(self, secret: str, version: int) -> str:
        for stage in self.stages:
            for cf, name in self.secret_of.items():
                if name == secret and cf.endswith(f"_v{version}"):
                    value = stage.deployment.value(cf)
                    if value is not None:
                        return value
        raise RuntimeError(f"{secret}: no value for version {version} in any stage")

    # -- the upstream

    def _api_keys(self) -> list[str]:
        return [n for n, k in self.kinds.items() if k == "api_key" and n in self.upstream]

    def _events(self, labels: Mapping[str, str], moment: str, passed: bool = False) -> None:
        """Apply schedule events at (stage, moment); `passed`: all events up to this stage."""
        changed = []
        for schedule in self.schedules:
            for secret in self._api_keys():
                stage = labels[secret]
                for kind, point, done in (
                    ("registered", schedule.register, self.registered),
                    ("revoked", schedule.revoke, self.revoked),
                ):
                    due = (
                        STAGE_RANK[point[0]] <= STAGE_RANK[stage]
                        if passed
                        else point == (stage, moment)
                    )
                    if due and (schedule.name, secret) not in done:
                        done.add((schedule.name, secret))
                        changed.append(
                            f"{schedule.name}: {secret} "
                            f"{'new' if kind == 'registered' else 'old'} key {kind}"
                        )
        if changed or passed:
            self.driver.accept(
                {
                    s.name: [
                        key
                        for secret in self._api_keys()
                        for key, keep in (
                            (self.old[secret], (s.name, secret) not in self.revoked),
                            (self.new[secret], (s.name, secret) in self.registered),
                        )
                        if keep
                    ]
                    for s in self.schedules
                }
            )
        for line in changed:
            self.progress(f"    upstream {line}")

    # -- traffic

    def _send(
        self,
        labels: Mapping[str, str],
        running: Deployment,
        what: str,
        pairs: list[tuple[Request, Check]] | None = None,
    ) -> None:
        if pairs is None:
            with self.lock:
                pairs = self.traffic.batch(
                    running, self.secret_of, {s.name: s.name for s in self.schedules}
                )
        if not pairs:
            return
        answers = self.driver.traffic(
            [r for r, _ in pairs], concurrency=self.o.concurrency, timeout_ms=self.o.timeout_ms
        )
        with self.lock:
            outcomes = [check(a) for (_, check), a in zip(pairs, answers, strict=True)]
            n, failed = self.tally.add(labels, outcomes)
            self._count_workers(labels, [r.worker for r, _ in pairs], outcomes)
        self.progress(f"    {what}: {n} requests, {failed} failed")

    def _count_workers(
        self, labels: Mapping[str, str], scripts: Sequence[str], outcomes: Sequence[Outcome]
    ) -> None:
        """Requests and failures per stage and Worker (the report's second table)."""
        stage = _summary(labels)
        for script, outcome in zip(scripts, outcomes, strict=True):
            count = self.per_worker.setdefault((stage, script), [0, 0])
            count[0] += 1
            count[1] += not outcome.ok

    def _reencrypt(self, labels: Mapping[str, str], running: Deployment, why: str) -> None:
        with self.lock:
            pairs = self.traffic.reencrypt(running, self.secret_of)
        self._send(labels, running, f"re-encrypt stored values ({why})", pairs)

    def _drain(self, labels: Mapping[str, str], before: Stage) -> None:
        """Soak `swapped` until every token signed by an old signing key has expired."""
        kids = {
            key_id(self.old[n])
            for n, k in self.kinds.items()
            if k == "signing_key" and before.labels[n] == "swapped" and labels[n] == "finished"
        }
        if not kids:
            return
        with self.lock:
            live = self.traffic.live_signed_by(kids)
        if not live:
            return
        wait = max(t.expires_at for t in live) - time.time()
        self.progress(
            f"    waiting {max(wait, 0):.1f}s for {len(live)} tokens signed by the old key "
            "to expire (traffic continues)"
        )
        deadline = time.time() + min(wait, self.o.max_drain_s)
        while time.time() < deadline and self._live_signed_by(kids):
            if self.load is None:
                self._send(labels, before.deployment, "soak")
            time.sleep(min(0.5 if self.load is None else 0.05, max(0.0, deadline - time.time())))
        if self._live_signed_by(kids):
            self.notes.append(
                f"stopped waiting for old tokens after {self.o.max_drain_s:.0f}s (--max-drain)"
            )

    def _live_signed_by(self, kids: set[str]) -> bool:
        with self.lock:
            return bool(self.traffic.live_signed_by(kids))

    # -- continuous load (`--load`)

    def _rows_now(self, labels: Mapping[str, str]) -> list[Any]:
        """The table rows of this stage that traffic reaches (their secret has a worker)."""
        reached = {secret for _, _, secret in self.traffic.targets(self.running, self.secret_of)}
        return [
            r for r in self.tally.rows() if r.secret in reached and labels.get(r.secret) == r.stage
        ]

    def _load_until(
        self, labels: Mapping[str, str], per_row: int, what: str, more: int = 0
    ) -> None:
        """With the load running: wait until every row of this stage has `per_row` requests
        and `more` answered from now on (so there is always traffic between two steps)."""
        deadline = time.monotonic() + self.o.load_max_s
        said = 0.0
        with self.lock:
            before = {(r.secret, r.schedule): r.requests for r in self._rows_now(labels)}
        while True:
            with self.lock:
                rows = self._rows_now(labels)
                missing = max(
                    (
                        max(
                            per_row - r.requests,
                            more - (r.requests - before.get((r.secret, r.schedule), 0)),
                        )
                        for r in rows
                    ),
                    default=0,
                )
                least = min((r.requests for r in rows), default=0)
                sent = sum(r.requests for r in rows)
                failed = sum(r.failures for r in rows)
            if self.load is not None and self.load.error is not None:
                raise self.load.error
            now = time.monotonic()
            if missing <= 0 or now > deadline:
                break
            if now - said > 5:
                self.progress(
                    f"    load ({what}): {sent} requests so far, {failed} failed, "
                    f"fewest in a row {least} (want {per_row})"
                )
                said = now
            time.sleep(0.02)
        if missing > 0:
            self.notes.append(
                f"stage {_summary(labels)}: a row fell {missing} requests short of {per_row} "
                f"in {self.o.load_max_s:.0f}s"
            )
        self.progress(
            f"    load ({what}): {sent} requests, {failed} failed, fewest in a row {least}"
        )

    # -- the rehearsal

    def _deploy(
        self,
        labels: Mapping[str, str],
        step: str,
        what: str,
        description: Mapping[str, Any],
        versions: Sequence[Mapping[str, Any]] = (),
    ) -> float:
        ms = self.driver.deploy(description, versions)
        self.deploys.append(
            {
                "stage": _summary(labels),
                "step": step,
                "what": what,
                "ms": ms,
                "in_flight": self.driver.in_flight,
            }
        )
        if self.driver.restarted and step != "initial":
            self.notes.append(f"{_summary(labels)} {step}: workerd was restarted (not preloaded)")
        return ms

    def go(self) -> Report:
        """The whole rehearsal: first stage, every transition under traffic, the final check."""
        labels = self._start()
        for before, after in itertools.pairwise(self.stages):
            labels = self._transition(before, after)
        if self.load is not None:
            self.load.stop()
            self.progress("    load stopped: every request answered")
        lost = self._read_back(labels)
        mode = "demo" if self.o.stack is None else f"stack {self.o.stack}"
        report = Report(
            mode,
            self.o.unsafe,
            self.tally.rows(),
            lost,
            len(self.traffic.values),
            notes=[f"upstream schedule {s.name}: {s.what}" for s in self.schedules if self.upstream]
            + self.notes,
            deploys=self.deploys,
        )
        report.emergency = self.o.emergency
        report.workers = [
            {"stage": stage, "worker": script, "requests": n, "failures": failed}
            for (stage, script), (n, failed) in self.per_worker.items()
        ]
        return report

    def _start(self) -> Mapping[str, str]:
        """Deploy the first stage (every later step preloaded) and send its baseline traffic."""
        first = self.stages[0]
        labels = first.labels
        self.tally.open(labels, [s.name for s in self.schedules])
        self.progress(f"stage {_summary(labels)}: deploy {len(first.deployment.workers)} workers")
        # Every later step's workers are loaded now: later deploys switch versions under traffic.
        later = [
            step.description
            for before, after in itertools.pairwise(self.stages)
            for step in transition_steps(before.deployment, after.deployment)
        ]
        self._deploy(labels, "initial", "initial deploy", _initial(first), later)
        self._events(labels, "start", passed=True)
        if self.o.load:
            self.load = _Load(self)
            self.progress(
                f"    load: {self.o.load_concurrency} requests in flight from now on, "
                f"at least {self.o.requests_per_row} per table row and stage"
            )
            self.load.start()
            self._load_until(labels, self.o.requests_per_row, "steady")
        else:
            for i in range(self.o.baseline_batches):
                self._send(labels, first.deployment, f"baseline traffic {i + 1}")
        return labels

    def _transition(self, before: Stage, after: Stage) -> Mapping[str, str]:
        """One deploy, in `pulumi up` order, with the careful operator's work around it."""
        labels = after.labels
        with self.lock:
            self.tally.open(labels, [s.name for s in self.schedules])
            self.labels = labels
        self.progress(f"stage {_summary(labels)}")
        self._events(labels, "start")
        if self.load is None:
            self._send(labels, self.running, "traffic")
        if self.o.emergency:
            self._emergency(before, labels)
        elif self.o.unsafe != "skip-stage":
            self._prepare(before, labels)
        steps = {s.name: s for s in transition_steps(before.deployment, after.deployment)}
        # With --load: the stage's requests spread over before and after each step.
        portions = len(steps) + 1
        if self.load is not None:
            self._load_until(labels, self.o.requests_per_row // portions, "before the first step")
        done = 1
        for name, moment in MOMENT_AFTER.items():
            step = steps.get(name)
            if step is not None:
                self._apply(labels, name, step, after)
            self._events(labels, moment)
            if step is not None:
                done += 1
                self._after_step(labels, name, done, portions)
        return labels

    def _emergency(self, before: Stage, labels: Mapping[str, str]) -> None:
        """The emergency path waits for nothing: a signing key it drops is dropped now, and
        what it signed fails (promised); an encryption_key finishes only once re-encrypted."""
        with self.lock:
            self.traffic.dropped_kids |= {
                key_id(self.old[n])
                for n, k in self.kinds.items()
                if k == "signing_key" and before.labels[n] != "finished" and labels[n] == "finished"
            }
        if any(
            k == "encryption_key" and before.labels[n] == "swapped" and labels[n] == "finished"
            for n, k in self.kinds.items()
        ):
            self._reencrypt(labels, self.running, "check before the finish")

    def _prepare(self, before: Stage, labels: Mapping[str, str]) -> None:
        """Before the deploy: let old tokens expire; re-check encrypted values before a finish."""
        self._drain(labels, before)
        finishing_encryption = any(
            k == "encryption_key" and before.labels[n] == "swapped" and labels[n] == "finished"
            for n, k in self.kinds.items()
        )
        if finishing_encryption:
            self._reencrypt(labels, self.running, "check before the finish")

    def _apply(self, labels: Mapping[str, str], name: str, step: Step, after: Stage) -> None:
        """One step of the deploy (create versions, update workers, delete versions)."""
        ms = self._deploy(labels, name, step.what, step.description)
        self.progress(f"  {step.what} ({ms:.0f} ms)")
        if name == "workers":
            with self.lock:
                self.running = after.deployment

    def _after_step(self, labels: Mapping[str, str], name: str, done: int, portions: int) -> None:
        """Traffic after a step (and the careful operator's re-encryption once swapped)."""
        swapped_encryption = any(
            k == "encryption_key" and labels[n] == "swapped" for n, k in self.kinds.items()
        )
        if name == "workers" and swapped_encryption:
            self._reencrypt(labels, self.running, "careful operator, in swapped")
        if self.load is None:
            self._send(labels, self.running, f"traffic after {name}")
            return
        per_row = self.o.requests_per_row
        self._load_until(
            labels, per_row * done // portions, f"after {name}", more=max(1, per_row // portions)
        )

    def _read_back(self, labels: Mapping[str, str]) -> int:
        """The end: everything ever written must read back; every live token must verify."""
        with self.lock:
            final = self.traffic.read_back_all()
        answers = (
            self.driver.traffic([r for r, _ in final], self.o.concurrency, self.o.timeout_ms)
            if final
            else []
        )
        with self.lock:
            outcomes = [check(a) for (_, check), a in zip(final, answers, strict=True)]
            lost = sum(not o.ok for o in outcomes)
            self.tally.add(labels, outcomes)
            self._count_workers(labels, [r.worker for r, _ in final], outcomes)
            live = self.traffic.verify_all_live()
        self.progress(f"  read back all {len(final)} values written: {lost} lost")
        self._send(labels, self.running, "verify every token/signature still live", live)
        return lost


class _Load:
    """Keeps the driver's queue topped up so `load_concurrency` requests stay in flight.

    A feeder thread builds batches for the current labels and deployment (as the careful
    operator's traffic would be between steps) and queues them; each result is checked
    and counted, under the labels it was sent with, on the driver's reader thread.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.concurrency = max(1, run.o.load_concurrency)
        self.pending: dict[str, tuple[Mapping[str, str], Check, str]] = {}
        self.ids = itertools.count(1)
        self.wake = threading.Condition(run.lock)
        self.stopping = False
        self.thread = threading.Thread(target=self._feed, name="rehearsal-load", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.run.driver.load_start(self._result, self.concurrency, self.run.o.timeout_ms)
        self.thread.start()

    def stop(self) -> None:
        with self.wake:
            self.stopping = True
            self.wake.notify_all()
        self.thread.join()
        self.run.driver.load_stop()  # answers once every queued request has its result
        if self.error is not None:
            raise self.error

    def _feed(self) -> None:
        run = self.run
        schedules = {s.name: s.name for s in run.schedules}
        try:
            while True:
                with self.wake:
                    # Twice the lanes queued: a lane never waits for the next batch.
                    while len(self.pending) >= 2 * self.concurrency and not self.stopping:
                        self.wake.wait(0.1)
                    if self.stopping:
                        return
                    labels = run.labels
                    pairs = run.traffic.batch(run.running, run.secret_of, schedules)
                    queued = []
                    for request, check in pairs:
                        rid = f"q{next(self.ids)}"
                        self.pending[rid] = (labels, check, request.worker)
                        queued.append((rid, request))
                if not queued:
                    time.sleep(0.05)
                run.driver.enqueue(queued)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def _result(self, message: dict[str, Any]) -> None:
        response = Response(
            int(message["status"]),
            float(message["ms"]),
            message.get("fallback") == "1",
            message.get("body", ""),
        )
        with self.wake:
            try:
                labels, check, script = self.pending.pop(str(message["id"]))
                outcome: Outcome = check(response)
                self.run.tally.add(labels, [outcome])
                self.run._count_workers(labels, [script], [outcome])
            except Exception as exc:  # never let the driver's reader thread die
                self.error = self.error or exc
            self.wake.notify_all()


def _initial(stage: Stage) -> dict[str, object]:
    return description(stage.deployment, stage.deployment)


def _summary(labels: Mapping[str, str]) -> str:
    stages = sorted(set(labels.values()), key=lambda s: STAGE_RANK[s])
    return "/".join(stages)
