"""`secretsctl plan`: what `pulumi up` would register for a stack, offline."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from secretsctl.console import (
    ConfigFileOption,
    CwdOption,
    Format,
    RootOption,
    StackOption,
    exits,
    out,
    stack_project,
)


@exits
def plan(
    stack: StackOption,
    config_file: ConfigFileOption = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="json for tools; text or markdown for people.")
    ] = Format.text,
    cwd: CwdOption = None,
    root: RootOption = None,
) -> None:
    """Show what `pulumi up` would register for a stack, offline, with no secret values.

    Runs the project's program (Pulumi.yaml's main:) under Pulumi's mock runtime with the
    stack's config.
    A `secure:` value it cannot decrypt is a secret it never prints.

    Example: secretsctl plan --stack dev --format json
    """
    from secretsctl.offline.plan import plan_stack
    from secretsctl.workflow.render import render_plan_markdown, render_plan_text

    project = stack_project(cwd, root, config_file)
    document = plan_stack(stack, config_file, project=project).document
    if format is Format.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif format is Format.markdown:
        sys.stdout.write(render_plan_markdown(document))
    else:
        render_plan_text(document, out)
