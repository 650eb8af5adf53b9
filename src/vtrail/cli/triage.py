"""`vtrail triage`: what broke a service, or the path between two endpoints, near T."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import DbOption, console, emit, fail, open_store, vm_names, when
from vtrail.cli.common import Output as Printed
from vtrail.query.path import BadPath
from vtrail.timeexpr import TimeParseError, parse_duration
from vtrail.triage.health import UnknownGroup
from vtrail.triage.incident import LIMIT, BadTriage, TriageAnswer, triage
from vtrail.triage.policy_at import NoPolicy
from vtrail.triage.report import to_markdown

#: The most suspects one answer lists.
MAX_LIMIT = 1000


class Output(StrEnum):
    table = "table"
    json = "json"
    md = "md"


def table(a: TriageAnswer, names: dict[str, str]) -> None:
    console.print(
        Text(f"onset {columns.instant(a.onset)} ({a.onset_reason}); last healthy "
             f"{columns.instant(a.last_healthy)}", style="bold"),
        soft_wrap=True,
    )  # fmt: skip
    for s in a.affected:
        who = names.get(s.entity, s.entity)
        console.print(Text(f"  {who} from {s.vantage or s.source}: {s.reason}"), soft_wrap=True)
    for p in a.paths:
        c = p.comparison
        line = f"path {names.get(p.a, p.a)} → {names.get(p.b, p.b)}: "
        if p.first_difference is None:
            line += "the same before and at the onset"
        else:
            line += f"differs from hop {p.first_difference} ({p.differs_before} before, "
            line += f"{p.differs_at_onset} at the onset)"
        if not c.after.reachable:
            line += f"; broken at {c.after.broken_at}"
        console.print(Text(line), soft_wrap=True)
    rows = [Row([f"{s.score:.3f}", s.kind, s.at, s.reason], [s.entity]) for s in a.suspects]
    cols = [Col("score", right=True), Col("kind"), Col("at"), Col("why", spill=True)]
    title = f"Suspects: {len(a.suspects)} of {a.changes} changes, best first"
    columns.table(console, title, cols, rows, empty="nothing changed in the window")


def register(app: typer.Typer) -> None:
    @app.command(name="triage", rich_help_panel="Ask")
    def triage_cmd(
        what: Annotated[
            list[str],
            typer.Argument(help="A service or domain (web), or two endpoints (web-1 db-1)."),
        ],
        at: Annotated[
            str, typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h'.")
        ] = "now",
        window: Annotated[
            str | None,
            typer.Option(
                "--window",
                help="How far before the onset changes are suspects "
                "(1h, 30m; default: the policy's triage.window, else 1h).",
            ),
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Suspects listed.")
        ] = LIMIT,
        output: Annotated[
            Output, typer.Option("--output", "-o", help="table, json, or md (a ticket).")
        ] = Output.table,
        db: DbOption = None,
    ) -> None:
        """What broke it: the symptom, the paths then and before, ranked suspects."""
        t = when(at)
        span = None
        if window is not None:
            try:
                span = parse_duration(window)
            except TimeParseError as e:
                fail(f"--window: {e}", 2)
        with open_store(db) as store:
            try:
                found = triage(store, what, t, span, limit)
            except (NoPolicy, UnknownGroup, BadTriage, BadPath) as e:
                fail(str(e))
            if output is Output.md:
                sys.stdout.write(to_markdown(found))
                return
            names = vm_names(store, found, found.onset) if output is Output.table else {}
            emit(found, Printed(output.value), lambda a: table(a, names))
