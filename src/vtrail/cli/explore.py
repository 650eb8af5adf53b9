"""`vtrail timeline|counters|search`: how much changed when, an entity's counters over
time, and finding an entity by part of its name; the page asks the same over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vtrail.cli.common import (
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    esc,
    fail,
    open_store,
    window,
)
from vtrail.query.counters import Counters, counters
from vtrail.query.search import MAX_HITS, SearchAnswer, search
from vtrail.query.timeline import MAX_BUCKETS, Timeline, timeline
from vtrail.timeexpr import iso

FromOption = Annotated[
    str | None, typer.Option("--from", help="Window start (default: the first record).")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Window end (default: the last record).")
]


def _timeline_table(t: Timeline) -> None:
    if t.first is None or t.t_from is None or t.t_to is None:
        console.print("[yellow]nothing recorded yet[/]")
        return
    console.print(f"[bold]recorded[/] {iso(t.first)} → {iso(t.last)}")
    step = (t.t_to - t.t_from) / len(t.changes)
    console.print(
        f"[bold]window[/]   {iso(t.t_from)} → {iso(t.t_to)}, "
        f"{len(t.changes)} slices of {step.total_seconds():g} s"
    )
    table = Table(box=None, header_style="bold")
    table.add_column("slice from")
    table.add_column("changes", justify="right")
    busy = [(i, n) for i, n in enumerate(t.changes) if n]
    for i, n in busy:
        table.add_row(iso(t.t_from + step * i), f"{n:,}")
    console.print(table)
    console.print(f"{len(t.changes) - len(busy)} slices without a change")


def _counters_table(c: Counters) -> None:
    table = Table(
        title=esc(f"counters of {c.entity}"), title_justify="left", box=None, header_style="bold"
    )
    # Two sources reading one metric (two probes' vantages) are two rows: say whose.
    by_source = len({s.source for s in c.series}) > 1
    cols = ("metric", "source", "points", "since", "last reading")
    for col in cols if by_source else tuple(x for x in cols if x != "source"):
        table.add_column(col, justify="left" if col in ("metric", "source", "since") else "right")
    for s in c.series:
        if not s.points:
            continue
        (t0, _), (_, last) = s.points[0], s.points[-1]
        value = f"{last:,}" if isinstance(last, int) else f"{last:,.2f}"
        who = (esc(s.source or "(before 0014)"),) if by_source else ()
        table.add_row(esc(s.metric), *who, f"{len(s.points):,}", iso(t0), value)
    console.print(table)


def _search_table(a: SearchAnswer) -> None:
    if not a.hits:
        console.print(f"[yellow]nothing recorded matches {esc(repr(a.query))}[/]")
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "kind", "name"):
        table.add_column(col, overflow="fold")
    for h in a.hits:
        table.add_row(esc(h.id), esc(h.kind), esc(h.name or ""))
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Ask", name="timeline")
    def timeline_cmd(
        t_from: FromOption = None,
        t_to: ToOption = None,
        buckets: Annotated[
            int,
            typer.Option("--buckets", min=1, max=MAX_BUCKETS, help="Slices of the window."),
        ] = 200,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """How much changed when: versions and relations begun or ended in each slice."""
        lo, hi = window(t_from, t_to)
        with open_store(db) as store:
            emit(timeline(store, lo, hi, buckets), output, _timeline_table)

    @app.command(rich_help_panel="Ask", name="counters")
    def counters_cmd(
        entity: Annotated[str, typer.Argument(help="An entity id (or a name, MAC, IP).")],
        t_from: Annotated[str | None, typer.Option("--from", help="Window start.")] = None,
        t_to: Annotated[str | None, typer.Option("--to", help="Window end.")] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """An entity's counter series (bytes, packets, cpu), at most 2,000 readings each."""
        lo, hi = window(t_from, t_to)
        with open_store(db) as store:
            emit(counters(store, entity, lo, hi), output, _counters_table)

    @app.command(rich_help_panel="Ask", name="search")
    def search_cmd(
        q: Annotated[str, typer.Argument(help="Part of an id, a name, a MAC or an IP.")],
        limit: Annotated[
            int, typer.Option("--limit", min=1, max=MAX_HITS, help="At most this many.")
        ] = 20,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Entities whose id, name, MAC or address contains the text; full names first."""
        if not q.strip():
            fail("nothing to search for: the text is blank", 2)
        with open_store(db) as store:
            emit(search(store, q, limit), output, _search_table)
