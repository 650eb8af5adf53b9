"""The `vtrail` command: one Typer app, one module per command group."""

from __future__ import annotations

import gc

import typer

from vtrail import __version__
from vtrail.cli import account as account_cmd
from vtrail.cli import admit as admit_cli
from vtrail.cli import assets as assets_cli
from vtrail.cli import check as check_cmd
from vtrail.cli import compact as compact_cmd
from vtrail.cli import demo as demo_cmd
from vtrail.cli import explore, questions, tour
from vtrail.cli import graph as graph_cli
from vtrail.cli import health as health_cmd
from vtrail.cli import images as images_cli
from vtrail.cli import ingest as ingest_cmd
from vtrail.cli import ipam as ipam_cli
from vtrail.cli import plan as plan_cli
from vtrail.cli import policy as policy_cli
from vtrail.cli import quota as quota_cmd
from vtrail.cli import record as record_cmd
from vtrail.cli import serve as serve_cli
from vtrail.cli import triage as triage_cmd

app = typer.Typer(
    name="vtrail",
    help="Flight recorder and triage desk for virtualized infrastructure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vtrail {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """vtrail records every virtual thing and answers where it was, when."""


tour.register(app)
ingest_cmd.register(app)
compact_cmd.register(app)
record_cmd.register(app)
demo_cmd.register(app)
questions.register(app)
graph_cli.register(app)
policy_cli.register(app)
ipam_cli.register(app)
plan_cli.register(app)
check_cmd.register(app)
admit_cli.register(app)
quota_cmd.register(app)
health_cmd.register(app)
triage_cmd.register(app)
assets_cli.register(app)
account_cmd.register(app)
images_cli.register(app)
explore.register(app)
serve_cli.register(app)


def main() -> None:
    # What the command imported lives as long as the process: frozen, it is no longer
    # walked by every pass of the cyclic collector (vtrail.cli.serve says what that cost).
    gc.freeze()
    app()
