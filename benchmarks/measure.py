"""One benchmark size, measured in a fresh process: `run.py` starts one of these per size.

    python benchmarks/measure.py time   SECRETS WORKERS RUNS   -> JSON: seconds per program
    python benchmarks/measure.py memory SECRETS WORKERS PROGRAM -> JSON: peak memory of one run

Time: the programs run in the same process, interleaved (ours, baseline, components,
then reversed, ...), so load from anything else on the machine hits all alike; imports
are warmed up first, and every run gets the same prior state (like a `pulumi preview`).
Each run is timed in CPU seconds of this process (every thread: the mock monitor answers
from executor threads), which time stolen by other processes on shared cores does not
inflate; wall seconds are reported beside them.
"components" is the baseline under empty components of our types and names
(`BENCH_BASELINE_COMPONENTS=1`): what the SDK alone charges for components.
Memory: one program per process, so sizes and programs do not pollute each other.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.configs import generated  # noqa: E402
from secretsctl.offline.mockrun import ProgramRun, run_program  # noqa: E402

BASELINE = ROOT / "benchmarks" / "baseline_program.py"
PROGRAMS: dict[str, Path | None] = {"ours": None, "baseline": BASELINE, "components": BASELINE}
COMPONENTS_ENV = "BENCH_BASELINE_COMPONENTS"


def run(config: Any, name: str, state: Any = None) -> ProgramRun:
    """One run of program `name` ("components" is the baseline with its env switch on)."""
    if name == "components":
        os.environ[COMPONENTS_ENV] = "1"
    try:
        return run_program(config, program=PROGRAMS[name], state=state)
    finally:
        os.environ.pop(COMPONENTS_ENV, None)


def identical(ours: ProgramRun, baseline: ProgramRun) -> list[str]:
    """Differences between the two programs' Cloudflare/random resources and outputs."""
    problems: list[str] = []

    # Keyed by (type, name): URNs differ, since ours carry their component parents' types.
    def custom(run: ProgramRun) -> dict[str, dict[str, Any]]:
        return {f"{r.type}::{r.name}": r.inputs for r in run.resources if r.custom}

    a, b = custom(ours), custom(baseline)
    problems += [f"only in ours: {u}" for u in sorted(a.keys() - b.keys())]
    problems += [f"only in baseline: {u}" for u in sorted(b.keys() - a.keys())]
    problems += [f"inputs differ: {u}" for u in sorted(a.keys() & b.keys()) if a[u] != b[u]]
    if ours.outputs != baseline.outputs:
        problems.append("stack outputs differ")
    return problems


def rss_mb() -> float:
    """Resident set size now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def warm_up() -> None:
    # Imports (pulumi_cloudflare alone is ~1 s) and first-run caches stay out of the figures.
    small = generated(10, 5)
    for name in PROGRAMS:
        run(small, name)


def measure_time(secrets: int, workers: int, runs: int) -> dict[str, Any]:
    config = generated(secrets, workers)
    warm_up()
    first = run(config, "ours")
    state = first.state  # generated values, shared so every program registers equal inputs
    problems = identical(first, run(config, "baseline", state))
    with_components = run(config, "components", state)
    problems += identical(first, with_components)
    same_urns = {r.urn for r in first.resources} == {r.urn for r in with_components.resources}
    samples: dict[str, list[float]] = {name: [] for name in PROGRAMS}
    wall: dict[str, list[float]] = {name: [] for name in PROGRAMS}
    for i in range(runs):
        order = list(PROGRAMS) if i % 2 == 0 else list(reversed(PROGRAMS))
        for name in order:
            gc.collect()
            start, start_wall = time.process_time(), time.perf_counter()
            run(config, name, state)
            samples[name].append(time.process_time() - start)
            wall[name].append(time.perf_counter() - start_wall)
    return {
        "secrets": secrets,
        "workers": workers,
        "resources": {
            "ours": len(first.resources),
            "cloudflare": sum(1 for r in first.resources if r.custom),
        },
        "median_s": {name: statistics.median(s) for name, s in samples.items()},
        # One ratio per round (the three programs back to back): a slower moment of the
        # machine slows all three of a round, and drops out of its ratios.
        "paired": {
            name: statistics.median(a / b for a, b in zip(samples[x], samples[y], strict=True))
            for name, (x, y) in {
                "ratio": ("ours", "baseline"),
                "floor": ("components", "baseline"),
                "code": ("ours", "components"),
            }.items()
        },
        "median_wall_s": {name: statistics.median(s) for name, s in wall.items()},
        "samples_s": samples,
        "identical": not problems,
        "same_urns_as_components": same_urns,
        "problems": problems[:10],
    }


def measure_memory(secrets: int, workers: int, program: str) -> dict[str, Any]:
    config = generated(secrets, workers)
    warm_up()
    gc.collect()
    before = rss_mb()
    run(config, program)
    peak_rss = maxrss_mb()
    gc.collect()
    # A second run traced: tracemalloc's own bookkeeping would inflate the RSS figure above.
    tracemalloc.start()
    run(config, program)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "secrets": secrets,
        "workers": workers,
        "program": program,
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss,
        "traced_peak_mb": traced_peak / 2**20,
    }


def main(argv: list[str]) -> None:
    mode, secrets, workers, last = argv
    if mode == "time":
        result = measure_time(int(secrets), int(workers), int(last))
    elif mode == "memory":
        result = measure_memory(int(secrets), int(workers), last)
    else:
        raise SystemExit(f"unknown mode {mode!r} (use time or memory)")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
