"""`secretsctl export wrangler`: a worker's wrangler.jsonc at its stack's current rotation stage."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from secretsctl.console import (
    ConfigFileOption,
    CwdOption,
    RootOption,
    StackOption,
    err,
    exits,
    stack_project,
)

app = typer.Typer(
    name="export",
    help="Export a stack's configuration for other tools, from the offline plan.",
    no_args_is_help=True,
)

WorkerOption = Annotated[
    str, typer.Option("--worker", "-w", help="Worker name (a key of secrets-store:workers).")
]


@app.command("wrangler")
@exits
def wrangler(
    stack: StackOption,
    worker: WorkerOption,
    config_file: ConfigFileOption = None,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Print a worker's wrangler.jsonc: its bindings at the stack's current rotation stage.

    Runs the offline plan, as `secretsctl plan` does, and prints wrangler's own fields.
    Never a secret value: a legacy secret_text binding becomes a comment.
    Ids that are not real yet are flagged in comments saying how to get them.
    Export again after each rotation stage.

    Example: secretsctl export wrangler --stack dev --worker api > wrangler.jsonc
    """
    from secretsctl.export.wrangler import (
        declared_workers,
        render_jsonc,
        unknown_worker,
        wrangler_config,
    )
    from secretsctl.offline.plan import plan_stack
    from secretsctl.offline.stackfile import read_stack

    config = read_stack(stack, config_file, stack_project(cwd, root, config_file))
    if declared_workers(config) and worker not in declared_workers(config):
        raise unknown_worker(config, worker)  # before the plan: a typo costs nothing
    exported = wrangler_config(plan_stack(stack, config=config).document, config, worker)
    sys.stdout.write(render_jsonc(exported))
    if exported.stand_ins:
        err.print(
            f"Note: {len(exported.stand_ins)} value(s) are not real ids yet "
            f"({', '.join(exported.stand_ins)}): the comments above them say how to get them.",
            markup=False,
        )
