"""`secretsctl rehearse`: a whole rotation on local workerd under live traffic, and its verdict."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from secretsctl.console import (
    EXIT_FAILED,
    ConfigFileOption,
    CwdOption,
    RootOption,
    err,
    exits,
    fail_invalid,
    out,
    stack_project,
)


class Unsafe(StrEnum):
    revoke_early = "revoke-early"
    skip_stage = "skip-stage"


@exits
def rehearse(
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            "-s",
            help="Rehearse this stack's next transition (default: the built-in demo).",
        ),
    ] = None,
    config_file: ConfigFileOption = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            help="With --stack: the secret(s) to move one stage (default: those mid-rotation, "
            "else what promotion.after allows).",
        ),
    ] = None,
    unsafe: Annotated[
        Unsafe | None,
        typer.Option(
            help="Rehearse a careless operator: revoke-early (upstream drops the old key before "
            "workers have the new one) or skip-stage (steady straight to finished). Must fail."
        ),
    ] = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Rehearse the emergency path of a leaked key (README, 'A leaked key'): exit 0 "
            "when it costs nothing the README did not promise; the cost is reported per kind.",
        ),
    ] = False,
    engine: Annotated[
        bool,
        typer.Option(
            "--engine",
            help="Deploy each stage with a real `pulumi up` (the engine `make engine` builds) "
            "against the local Cloudflare API, then serve on workerd exactly the scripts, "
            "bindings and secret values the account holds. Prints each up's time.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout, for tools.")
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report",
            dir_okay=False,
            help="Also write that JSON object to this file (a CI artifact), while stdout "
            "shows the table.",
        ),
    ] = None,
    load: Annotated[
        bool,
        typer.Option(
            "--load",
            help="Keep --concurrency requests in flight through every deploy step (not only "
            "between steps) until each table row has seen --requests-per-row requests.",
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(min=1, max=512, help="With --load: requests kept in flight."),
    ] = 32,
    requests_per_row: Annotated[
        int,
        typer.Option(min=1, help="With --load: requests each table row sees, at least."),
    ] = 1000,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Deploy each stage's offline plan onto local workerd and rotate under live traffic.

    The workers are the real modules with the bindings and secret values the plan
    produced; a local fake upstream API accepts and revokes keys. Prints a per-stage
    table (requests, failures, fallbacks, p50/p99/max latency). Exit code 1 on any
    failed request or lost value.

    Example: secretsctl rehearse --unsafe skip-stage

    Example: secretsctl rehearse --emergency (the leaked-key path; promised failures counted
    apart)

    Example: secretsctl rehearse --report rehearsal.json (the table, and the JSON for CI)

    Example: secretsctl rehearse --load (32 requests in flight through every deploy step,
    at least 1,000 per table row)

    Example: secretsctl rehearse --engine (after `make engine`: each stage a real `pulumi up`,
    workerd running what the provider uploaded)
    """
    from secretsctl.rehearse.report import render
    from secretsctl.rehearse.run import Options
    from secretsctl.rehearse.run import rehearse as run_rehearsal

    options = Options(
        stack=stack,
        config_file=config_file,
        project=stack_project(cwd, root, config_file) if stack is not None else None,
        secrets=tuple(secret or ()),
        unsafe=unsafe.value if unsafe else None,
        emergency=emergency,
        load=load,
        load_concurrency=concurrency,
        requests_per_row=requests_per_row,
        engine=engine,
    )
    if stack is None and (config_file or secret):
        raise fail_invalid(
            ["--config-file and --secret need --stack (the demo has its own config)"]
        )
    if report_file is not None and not (
        report_file.parent.is_dir() and os.access(report_file.parent, os.W_OK)
    ):
        # Refused before a minute of rehearsal, not after it.
        raise fail_invalid(
            [
                f"--report: cannot write into {report_file.parent}, got no such writable folder "
                "(create it, or pick another path)"
            ]
        )
    report = run_rehearsal(options, progress=lambda line: err.print(line, markup=False))
    document = json.dumps(report.as_json(), indent=2) + "\n"  # no values: names and counts
    if report_file is not None:
        try:
            report_file.write_text(document)
        except OSError as exc:
            raise fail_invalid(
                [
                    f"--report: cannot write {report_file}, got "
                    f"{exc.strerror or exc.__class__.__name__} (check the path)"
                ]
            ) from None
    if as_json:
        sys.stdout.write(document)
    else:
        render(report, out)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
