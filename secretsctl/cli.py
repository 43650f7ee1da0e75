"""`secretsctl`: offline plan, rotation workflow and local rehearsal for Cloudflare Secrets Store.

Exit codes mean one thing each: 0 ok, 1 a failure was found, 2 invalid input.
"""

from __future__ import annotations

import typer

from secretsctl.console import reflowed
from secretsctl.export import commands as export
from secretsctl.live import commands as live
from secretsctl.offline import commands as offline
from secretsctl.rehearse import commands as rehearsal
from secretsctl.schedule import commands as schedule
from secretsctl.workflow import commands as workflow

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each layer's commands, registered here explicitly (the command modules never import this).
for command in (
    offline.plan,
    workflow.rotate,
    workflow.promote,
    workflow.check,
    workflow.diff,
    workflow.migrate,
    rehearsal.rehearse,
    live.init,
    live.status,
    live.verify,
    schedule.due,
    schedule.history,
):
    app.command(help=reflowed(command.__doc__))(command)
app.add_typer(export.app)  # `secretsctl export wrangler`
app.add_typer(schedule.bot)  # `secretsctl bot plan`, `secretsctl bot apply`
for group in (export.app, schedule.bot):
    for registered in group.registered_commands:
        if registered.callback is not None:
            registered.help = reflowed(registered.help or registered.callback.__doc__)


def main() -> None:
    """Console-script entry point (`secretsctl`)."""
    app(prog_name="secretsctl")
