"""What the components cost under the real engine: `pulumi up` of this project's program
against `pulumi up` of a plain `pulumi_cloudflare` program registering the same secrets
and scripts (benchmarks/baseline_program.py), with the same engine (`make engine`), the
same local Cloudflare API and the same stage (the example dev stack, from empty state).

Each run is a fresh project folder, file backend and account. The two programs run in
turn (ours, baseline, ours, ...) so that drift of the machine's speed hits both alike.
Prints each `pulumi up` time, the medians and, last, `engine_up_ratio=<ours/baseline>`
(the goal: at most 1.15).

Usage: .venv/bin/python benchmarks/engine_up.py [--runs N]   (default 3)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine_support import (  # noqa: E402
    ACCOUNT,
    EngineProject,
    engine_project,
    example_stack_text,
    find_engine,
)

GOAL = 1.15


def one_up(program: str) -> float:
    with (
        tempfile.TemporaryDirectory(prefix="engine-bench-") as folder,
        engine_project(Path(folder)) as project,
    ):
        if program == "baseline":
            shutil.copy2(ROOT / "benchmarks" / "baseline_program.py", project.root / "__main__.py")
        kv_id = project.server.state.seed_kv_namespace(ACCOUNT, "dev-cache")
        (project.root / "stacks" / "Pulumi.dev.yaml").write_text(example_stack_text("dev", kv_id))
        project.stack_init("dev")
        result = project.up("dev")
        return result.seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    found = find_engine()
    if isinstance(found, str):
        print(f"engine bench did not run: {found}")
        return 0
    times: dict[str, list[float]] = {"components": [], "baseline": []}
    for run in range(args.runs):
        for program in times:
            seconds = one_up(program)
            times[program].append(seconds)
            print(f"run {run + 1}: pulumi up ({program}) {seconds:.1f} s", flush=True)
    ours, baseline = (statistics.median(times[p]) for p in ("components", "baseline"))
    print(f"median pulumi up: components {ours:.1f} s, baseline {baseline:.1f} s")
    print(f"engine_up_ratio={ours / baseline:.3f} (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

__all__ = ["EngineProject"]
