"""What the components cost under the real engine: `pulumi up` of this project's program
against `pulumi up` of a plain `pulumi_cloudflare` program registering the same secrets
and scripts (benchmarks/baseline_program.py), with the same engine (`make engine`), the
same local Cloudflare API and the same stage, from empty state: a generated stack
(benchmarks/configs.py) of 30 secrets, two of them mid-rotation, and 10 Workers of 10
bindings each, in the first release's form (the whole topology in the stack file), which
both programs read.

Each run is a fresh project folder, file backend and account; after each, the account must
hold the same secrets and scripts, with the same bindings, whichever program deployed it.
The programs run in turn (ours, floor, baseline, ours, ...) so that drift of the machine's
speed hits all alike. Run with bytecode kept (`make bench` does): without it every
`pulumi up` compiles pulumi_cloudflare again (5 s), which hides what the programs cost.
Prints each `pulumi up` time, the medians, the split (ours/floor, floor/baseline) and,
last, `engine_up_ratio=<ours/baseline>` (the goal: at most 1.15).

Usage: .venv/bin/python benchmarks/engine_up.py [--runs N]   (default 3)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.configs import namespace, stack_config  # noqa: E402
from tests.engine_support import (  # noqa: E402
    ACCOUNT,
    EngineProject,
    engine_project,
    find_engine,
)

GOAL = 1.15
SECRETS, WORKERS = 30, 10
Account = dict[str, Any]
"""What a deploy left in the account: secret names, and each script's bindings."""


def write_stack(project: EngineProject) -> None:
    """The generated stack file, and its config values set as Pulumi secrets."""
    ns = namespace(SECRETS, WORKERS)
    yaml = YAML()
    with (project.root / "stacks" / "Pulumi.dev.yaml").open("w") as out:
        yaml.dump({"config": {f"secrets-store:{k}": v for k, v in ns.items()}}, out)
    project.stack_init("dev")
    values = stack_config(ns)
    pairs = [f"{key}={values.config[key]}" for key in values.secret_keys]
    for arg in pairs:
        assert not arg.startswith("-")
    project.pulumi("config", "set-all", *[a for p in pairs for a in ("--secret", p)], stack="dev")


def account_of(project: EngineProject) -> Account:
    scripts = project.client.workers.scripts.list(account_id=ACCOUNT).result
    return {
        "secrets": sorted(project.secrets()),
        "scripts": {
            str(s.id): {
                name: binding.get("secret_name", binding.get("text", ""))
                for name, binding in project.script_bindings(str(s.id)).items()
            }
            for s in scripts
        },
    }


PROGRAMS = {
    "components": "this project's __main__.py: spec, components",
    "floor": "the plain program under empty components of our types and names (same URNs)",
    "baseline": "the plain program: pulumi_cloudflare resources registered directly",
}
"""What runs, in turn. The floor is what the SDK and engine alone charge for components:
ours/floor is what our own code adds, floor/baseline what components cost anyone."""


def one_up(program: str) -> tuple[float, Account]:
    with (
        tempfile.TemporaryDirectory(prefix="engine-bench-") as folder,
        engine_project(Path(folder), files=("__main__.py", "workers")) as project,
    ):
        if program != "components":
            # Where it finds the project (its ROOT is its folder's parent), run as the main.
            (project.root / "benchmarks").mkdir()
            shutil.copy2(ROOT / "benchmarks" / "baseline_program.py", project.root / "benchmarks")
            (project.root / "__main__.py").write_text(
                "import runpy\n\nrunpy.run_path('benchmarks/baseline_program.py', "
                "run_name='__main__')\n"
            )
        write_stack(project)
        floor = {"BENCH_BASELINE_COMPONENTS": "1"} if program == "floor" else {}
        result = project.up("dev", env=floor)
        return result.seconds, account_of(project)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    found = find_engine()
    if isinstance(found, str):
        print(f"engine bench did not run: {found}")
        return 0
    times: dict[str, list[float]] = {program: [] for program in PROGRAMS}
    accounts: dict[str, Account] = {}
    print(f"pulumi up from empty state: {SECRETS} secrets, {WORKERS} Workers", flush=True)
    for run in range(args.runs):
        for program in times:
            seconds, account = one_up(program)
            times[program].append(seconds)
            accounts[program] = account
            print(f"run {run + 1}: pulumi up ({program}) {seconds:.1f} s", flush=True)
        if any(account != accounts["baseline"] for account in accounts.values()):
            print("the two programs left different accounts: the comparison is void")
            return 1
    ours, floor, baseline = (statistics.median(times[p]) for p in PROGRAMS)
    for program, text in PROGRAMS.items():
        print(f"median pulumi up, {program}: {statistics.median(times[program]):.1f} s ({text})")
    print(f"ours/floor={ours / floor:.3f} (our code)  floor/baseline={floor / baseline:.3f} (SDK)")
    print(f"engine_up_ratio={ours / baseline:.3f} (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

__all__ = ["EngineProject"]
