"""The rehearsal's results: per-stage counts and latencies, the table for people, JSON for tools.

Only names, counts, timings and error codes are kept here: a report can be
printed whole, with no secret value in it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from secretsctl.rehearse.traffic import Outcome

PROMISED = {"signing_key": "tokens and signatures made with the leaked key, rejected at once"}
"""What the emergency path promises to fail, per kind (README, "A leaked key")."""


@dataclass
class Row:
    """Traffic of one secret (and upstream schedule) during one stage."""

    secret: str
    kind: str
    stage: str
    schedule: str | None
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    promised: int = 0
    """Failures the emergency path promises (README, "A leaked key"); counted in `failures`."""
    fallbacks: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in ms (0 when there were none)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "kind": self.kind,
            "stage": self.stage,
            "schedule": self.schedule,
            "requests": self.requests,
            "failures": self.failures,
            "promised_failures": self.promised,
            "fallbacks": self.fallbacks,
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "max_ms": self.max_ms(),
        }

    def max_ms(self) -> float:
        """The slowest request, in ms (0 when there were none)."""
        return round(max(self.latencies, default=0.0), 1)

    def name(self) -> str:
        schedule = f" (upstream: {self.schedule})" if self.schedule else ""
        return f"{self.secret} {self.stage}{schedule}"


class Tally:
    """Outcomes grouped by (secret, schedule, stage), rows in order of first appearance."""

    def __init__(self, kinds: Mapping[str, str], upstream: Iterable[str] | None = None) -> None:
        self.kinds = dict(kinds)
        self.upstream = set(
            upstream if upstream is not None else (n for n, k in kinds.items() if k == "api_key")
        )
        """Secrets with a row per upstream schedule (default: every api_key)."""
        self._rows: dict[tuple[str, str | None, str], Row] = {}

    def open(self, labels: Mapping[str, str], schedules: Iterable[str | None]) -> None:
        """Create every secret's row for these stages (a stage with no traffic shows 0)."""
        for secret, stage in labels.items():
            for schedule in schedules if secret in self.upstream else [None]:
                self._row(secret, schedule, stage)

    def _row(self, secret: str, schedule: str | None, stage: str) -> Row:
        key = (secret, schedule, stage)
        if key not in self._rows:
            self._rows[key] = Row(secret, self.kinds.get(secret, ""), stage, schedule)
        return self._rows[key]

    def add(self, labels: Mapping[str, str], outcomes: Iterable[Outcome]) -> tuple[int, int]:
        """Count outcomes under each secret's current stage label; returns (requests, failures)."""
        n = failed = 0
        for o in outcomes:
            row = self._row(o.secret, o.schedule, labels[o.secret])
            row.latencies.append(o.ms)
            row.fallbacks += o.fallback
            n += 1
            if not o.ok:
                row.failures += 1
                row.promised += o.promised
                failed += 1
                row.reasons[o.reason or "failed"] += 1
        return n, failed

    def rows(self) -> list[Row]:
        return list(self._rows.values())


@dataclass
class Report:
    """Everything a rehearsal found."""

    mode: str
    """`demo` or `stack <name>`."""
    unsafe: str | None
    rows: list[Row]
    lost_values: int
    values_written: int
    notes: list[str] = field(default_factory=list)
    deploys: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    emergency: bool = False
    workers: list[dict[str, Any]] = field(default_factory=list)
    """Per stage and Worker: requests and failures."""
    engine_ups: list[dict[str, Any]] = field(default_factory=list)
    """With --engine: each stage's `pulumi up` (stage, seconds, the engine's summary)."""

    @property
    def failing(self) -> list[Row]:
        """Rows with a failure nothing promised."""
        return [r for r in self.rows if r.failures > r.promised]

    def costs(self) -> dict[str, dict[str, int]]:
        """Per kind: requests, promised failures (the emergency's stated cost) and any other."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            cost = out.setdefault(r.kind, {"requests": 0, "promised": 0, "unpromised": 0})
            cost["requests"] += r.requests
            cost["promised"] += r.promised
            cost["unpromised"] += r.failures - r.promised
        return out

    @property
    def ok(self) -> bool:
        return not self.failing and self.lost_values == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "unsafe": self.unsafe,
            "emergency": self.emergency,
            "costs": self.costs(),
            "stages": [r.as_json() for r in self.rows],
            "lost_values": self.lost_values,
            "values_written": self.values_written,
            "ok": self.ok,
            "failing_stages": [
                {
                    "secret": r.secret,
                    "stage": r.stage,
                    "schedule": r.schedule,
                    "failures": r.failures,
                    "promised_failures": r.promised,
                    "reasons": dict(r.reasons),
                }
                for r in self.failing
            ],
            "deploys": self.deploys,
            "workers": self.workers,
            "engine_ups": self.engine_ups,
            "notes": self.notes,
            "duration_s": round(self.duration_s, 2),
        }


def render(report: Report, console: Console) -> None:
    """The per-stage table, then one line per failing stage, then the verdict."""
    table = Table(
        title=f"Rehearsal: {report.mode}"
        + (f" --unsafe {report.unsafe}" if report.unsafe else "")
        + (" --emergency" if report.emergency else "")
    )
    for column in ("secret", "kind", "stage", "upstream"):
        table.add_column(column)
    for column in ("requests", "failures", "promised", "fallbacks", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for r in report.rows:
        table.add_row(
            r.secret,
            r.kind,
            r.stage,
            r.schedule or "",
            str(r.requests),
            f"[red]{r.failures}[/red]" if r.failures > r.promised else str(r.failures),
            str(r.promised),
            str(r.fallbacks),
            f"{r.percentile(0.5):.1f}",
            f"{r.percentile(0.99):.1f}",
            f"{r.max_ms():.1f}",
        )
    # A table wider than an 80-column pipe is still better than truncated names.
    wide = Console(file=console.file, width=max(console.width, 120), highlight=False)
    wide.print(table)
    if report.workers:
        per_worker = Table(title="Per Worker")
        for column in ("stage", "worker"):
            per_worker.add_column(column)
        for column in ("requests", "failures"):
            per_worker.add_column(column, justify="right")
        for w in report.workers:
            failures = str(w["failures"])
            per_worker.add_row(w["stage"], w["worker"], str(w["requests"]), failures)
        wide.print(per_worker)
    for up in report.engine_ups:
        console.print(
            f"pulumi up, stage {up['stage']}: {up['seconds']:.1f} s ({up['changes']})",
            markup=False,
        )
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    for r in report.failing:
        reasons = ", ".join(f"{reason} x{n}" for reason, n in r.reasons.most_common())
        console.print(
            f"FAILED in stage {r.stage}: {r.name()}: "
            f"{r.failures} of {r.requests} requests failed ({reasons})",
            markup=False,
        )
    lost = f"{report.lost_values} of {report.values_written} values written no longer read back"
    if report.lost_values:
        console.print(f"LOST VALUES: {lost}", markup=False)
    elif report.values_written:
        console.print(
            f"values: all {report.values_written} written at every stage read back at the end",
            markup=False,
        )
    if report.emergency:
        for kind, cost in report.costs().items():
            what = PROMISED.get(kind, "none promised")
            console.print(
                f"emergency cost, {kind}: {cost['promised']} promised failure(s) ({what}), "
                f"{cost['unpromised']} unpromised, of {cost['requests']} requests",
                markup=False,
            )
    total = sum(r.requests for r in report.rows)
    failed = sum(r.failures for r in report.rows)
    verdict = "OK" if report.ok else "FAILED"
    console.print(
        f"{verdict}: {total} requests, {failed} failed, {len(report.deploys)} deploys, "
        f"{report.duration_s:.1f}s",
        markup=False,
    )
