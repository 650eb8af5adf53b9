"""`vtrail topology` and `vtrail path`: the fabric and the way through it at an instant."""

from __future__ import annotations

import sys
from collections import Counter
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from vtrail.cli.common import (
    AtOption,
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    esc,
    fail,
    open_store,
    when,
)
from vtrail.query.graph import (
    MAX_DEPTH,
    BadGraphQuery,
    Topology,
    to_dot,
    topology,
)
from vtrail.query.path import BadPath, PathAnswer, PathComparison, compare, path
from vtrail.timeexpr import iso


class GraphOutput(StrEnum):
    table = "table"
    json = "json"
    dot = "dot"


def _topology_table(t: Topology) -> None:
    scope = f" within {t.depth} hops of {esc(t.around)}" if t.around else ""
    scope += f", kind {esc(t.kind)}" if t.kind else ""
    console.print(f"[bold]fabric at {iso(t.at)}[/]{scope}")
    console.print(
        "  "
        + esc(", ".join(f"{k} {n}" for k, n in t.counts.items() if k != "edges"))
        + f"; {t.counts.get('edges', 0)} relations"
    )
    groups: dict[str, Counter[str]] = {}
    names: dict[str, list[str]] = {}
    for n in t.nodes:
        g = n.group or (n.id if n.kind in ("host", "router") else "(ungrouped)")
        groups.setdefault(g, Counter())[n.kind] += 1
        if n.kind in ("vm", "bridge"):
            names.setdefault(g, []).append(n.label)
    table = Table(box=None, header_style="bold")
    for col in ("host or namespace", "contents", "vms and bridges"):
        table.add_column(col)
    for g in sorted(groups):
        counts = ", ".join(f"{k} {c}" for k, c in sorted(groups[g].items()))
        shown = names.get(g, [])
        more = f" (+{len(shown) - 12})" if len(shown) > 12 else ""
        table.add_row(esc(g), esc(counts), esc(", ".join(sorted(shown)[:12]) + more))
    console.print(table)


def _hops_table(p: PathAnswer, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for col in ("#", "kind", "hop", "via", "in"):
        table.add_column(col, justify="right" if col == "#" else "left")
    routes = {r.router: r for r in p.routes}
    for i, h in enumerate(p.hops, 1):
        text = esc(h.label)
        if h.label != h.entity.split(":", 1)[1]:
            text += f"  [dim]{esc(h.entity)}[/]"
        r = routes.get(h.entity)
        if r is not None:
            how = f"via {r.gateway}" if r.gateway else "connected"
            route = f"route {r.prefix} {how} dev {r.dev} metric {r.metric}"
            text += f"\n[cyan]{esc(route)} (longest of {r.candidates} matching)[/]"
        table.add_row(str(i), esc(h.kind), text, esc(h.via or ""), esc(h.group or ""))
    return table


def _path_table(p: PathAnswer) -> None:
    addrs = f"  {p.src_address or '?'} → {p.dst_address or '?'}" if p.dst_address else ""
    console.print(f"[bold]path {esc(p.a)} → {esc(p.b)}[/] at {iso(p.at)}{esc(addrs)}")
    console.print(_hops_table(p, ""))
    if p.reachable:
        console.print(f"[green]reachable[/] in {len(p.hops)} hops, {len(p.routes)} routed")
    else:
        console.print(f"[red]{esc(p.reason)}[/]")
        console.print(f"[red]last reachable hop:[/] {esc(p.broken_at)}")


def _compare_table(c: PathComparison) -> None:
    console.print(f"[bold]path {esc(c.a)} → {esc(c.b)}[/]")
    for label, p in (("before", c.before), ("after", c.after)):
        state = "reachable" if p.reachable else f"[red]broken at {esc(p.broken_at)}[/]"
        console.print(_hops_table(p, f"{label}: {iso(p.at)}, {state}"))
        if p.reason:
            console.print(f"  [red]{esc(p.reason)}[/]")
    if not c.changed:
        console.print("[green]the path did not change[/]")
        return
    console.print(f"[yellow]changed[/] after {esc(c.diverged_after or 'the first hop')}")
    for h in c.removed:
        console.print(f"  [red]- {esc(h)}[/]")
    for h in c.added:
        console.print(f"  [green]+ {esc(h)}[/]")


def _path_or_comparison(answer: PathAnswer | PathComparison) -> None:
    if isinstance(answer, PathComparison):
        _compare_table(answer)
    else:
        _path_table(answer)


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Ask", name="topology")
    def topology_cmd(
        at: AtOption = "now",
        around: Annotated[
            str | None, typer.Option("--around", help="Only the neighbourhood of this entity.")
        ] = None,
        depth: Annotated[
            int, typer.Option("--depth", min=0, max=MAX_DEPTH, help="Hops around --around.")
        ] = 2,
        kind: Annotated[
            str | None, typer.Option("--kind", help="Only this kind and what it touches.")
        ] = None,
        output: Annotated[
            GraphOutput, typer.Option("--output", "-o", help="table, json or dot (Graphviz).")
        ] = GraphOutput.table,
        db: DbOption = None,
    ) -> None:
        """The fabric graph at an instant: hosts, VMs, NICs, ports, bridges, routers."""
        t = when(at)
        with open_store(db) as store:
            try:
                answer = topology(store, t, around, depth, kind)
            except BadGraphQuery as e:
                fail(str(e), 2)
        if output is GraphOutput.dot:
            sys.stdout.write(to_dot(answer))
        else:
            emit(answer, Output(output.value), _topology_table)

    @app.command(rich_help_panel="Ask", name="path")
    def path_cmd(
        a: Annotated[str, typer.Argument(help="From: a VM, NIC, MAC, IP (IP@SPACE) or namespace.")],
        b: Annotated[str, typer.Argument(help="To: a VM, NIC, MAC, IP (IP@SPACE) or namespace.")],
        at: AtOption = "now",
        compare_to: Annotated[
            str | None,
            typer.Option("--compare", help="A second instant: show how the path changed."),
        ] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """The hops traffic from A to B took at an instant, and where it broke if it did."""
        t1 = when(at)
        t2 = when(compare_to) if compare_to else None
        with open_store(db) as store:
            try:
                answer: PathAnswer | PathComparison = (
                    compare(store, a, b, t1, t2) if t2 else path(store, a, b, t1)
                )
            except BadPath as e:
                fail(str(e), 2)
        emit(answer, output, _path_or_comparison)
