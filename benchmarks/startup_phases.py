"""Where `secretsctl plan --stack dev` spends its start-up, phase by phase, in one fresh process.

Prints JSON {phase: seconds}. Phases follow the real command's order; `-X importtime`
alone misses the Cloudflare modules the offline run loads through importlib.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    import secretsctl.cli  # noqa: F401  typer, rich, the command modules

    phase("cli imports (typer, rich, command modules)")
    from secretsctl.offline.mockrun import lazy_cloudflare
    from secretsctl.offline.plan import plan_stack
    from secretsctl.workflow.render import render_plan_text

    phase("plan imports (pulumi SDK, mock runtime)")
    lazy_cloudflare()
    import pulumi_cloudflare as cloudflare
    import pulumi_random  # noqa: F401

    import secrets_store.program  # noqa: F401  what __main__.py imports first

    # What the components touch first: loads workers_script, _inputs and outputs.
    _ = cloudflare.SecretsStore, cloudflare.SecretsStoreSecret, cloudflare.WorkersScript

    phase("program imports (components, pulumi_cloudflare's 3 resource modules)")
    example = Path(__file__).resolve().parents[1] / "examples" / "stacks" / "Pulumi.dev.yaml"
    document = plan_stack("dev", example).document
    phase("program run under mocks (stack dev)")
    from rich.console import Console

    render_plan_text(document, Console(file=io.StringIO(), width=120))
    phase("render")
    json.dump(phases, sys.stdout)


if __name__ == "__main__":
    main()
