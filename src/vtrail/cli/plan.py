"""`vtrail plan drain|rolling|review`: what draining a host would move and where, which
hosts to drain together and in what order, and what a maintenance window really did
(docs/maintenance.md)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import (
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    fail,
    open_store,
    when,
)
from vtrail.maintenance.drain import DrainAnswer, Move, drain
from vtrail.maintenance.notice import to_markdown
from vtrail.maintenance.plan_file import BadPlan, load_plan
from vtrail.maintenance.review import ReviewAnswer, review
from vtrail.maintenance.rolling import RollingAnswer, Unsafe, rolling
from vtrail.model import split_id
from vtrail.triage.policy_at import policy_at

app = typer.Typer(
    name="plan",
    help="Plan interventions on hosts, and audit them: drain, rolling, review "
    "(docs/maintenance.md).",
    no_args_is_help=True,
)

At = Annotated[
    str, typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h', '6 hours ago'.")
]
Hosts = Annotated[
    str | None,
    typer.Option(
        "--hosts",
        help="Hosts: names or globs, comma-separated (hv-a,hv-b; hv-*), or domain:NAME "
        "(default: every host).",
    ),
]


class DrainOutput(StrEnum):
    table = "table"
    json = "json"
    md = "md"


def _key(eid: str | None) -> str:
    return split_id(eid)[1] if eid else "-"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _size(m: Move) -> str:
    return f"{m.vcpus} vCPU, {m.memory_mib:,.0f} MiB"


def _others(m: Move) -> list[str]:
    rest = [_key(c.host) for c in m.candidates[1:]]
    if not rest:
        return []
    shown = ", ".join(rest[:5]) + (f" and {len(rest) - 5} more" if len(rest) > 5 else "")
    return [f"also fits: {shown}"]


def drain_table(a: DrainAnswer) -> None:
    title = f"Draining {_key(a.host)} at {columns.instant(a.at)}: {_count(len(a.vms), 'VM')}, "
    title += f"{len(a.stuck)} with nowhere to go"
    rows = [
        Row(
            [m.name, ", ".join(m.services) or "-", m.owner or "-", _size(m), _key(m.target),
             str(len(m.candidates)), ", ".join(m.rules) or None],
            [m.vm, *_others(m)],
        )
        for m in a.vms
    ]  # fmt: skip
    cols = [
        Col("vm"), Col("services"), Col("owner"), Col("size"), Col("to"),
        Col("fits", right=True), Col("rules", spill=True),
    ]  # fmt: skip
    columns.table(console, title, cols, rows, empty="nothing runs there")
    if a.rules:
        console.print()
        rule_rows = [
            Row([r.name, r.kind, ", ".join(r.services), "yes" if r.checked else "not checked"])
            for r in a.rules
        ]
        cols = [Col("rule"), Col("kind"), Col("services"), Col("checked")]
        columns.table(console, "Rules that bind them", cols, rule_rows)
    for line in dict.fromkeys(u for m in a.vms for u in m.unchecked):
        console.print(Text(line), soft_wrap=True)
    for line in a.stuck:
        console.print(Text(line, style="bold red"), soft_wrap=True)


def rolling_table(a: RollingAnswer) -> None:
    n = len(a.groups)
    console.print(
        Text(
            f"{n} group{'' if n == 1 else 's'} at {columns.instant(a.at)} "
            f"({_count(a.colours, 'colour')} by {a.strategy}; "
            f"{_count(len(a.conflicts), 'conflict')})",
            style="bold",
        ),
        soft_wrap=True,
    )
    for g in a.groups:
        console.print()
        rows = [Row([m.name, _key(m.host), _key(m.target), _size(m)], [m.vm]) for m in g.moves]
        title = f"Group {g.order}: {', '.join(_key(h) for h in g.hosts)}"
        cols = [Col("vm"), Col("from"), Col("to"), Col("size")]
        columns.table(console, title, cols, rows, empty="nothing to move")


def review_table(a: ReviewAnswer) -> None:
    span = f"from {columns.instant(a.t_from)} to {columns.instant(a.t_to)}"
    rows = [
        Row([m.name, _key(m.source), _key(m.target), m.at, f"{m.gap_seconds:g} s"], [m.vm])
        for m in a.migrations
    ]
    cols = [Col("vm"), Col("from"), Col("to"), Col("at"), Col("gap", right=True)]
    columns.table(console, f"Migrations {span}", cols, rows, empty="none")
    console.print()
    rows = [
        Row([d.name, d.kind, d.t_from, d.t_to or "still down", f"{d.seconds:g} s"], [d.vm])
        for d in a.downtime
    ]
    cols = [Col("vm"), Col("kind"), Col("from"), Col("to"), Col("for", right=True)]
    columns.table(console, "Downtime", cols, rows, empty="none: every VM kept running")
    console.print()
    rows = [Row([v.rule, v.t_from, v.t_to or "open", v.reason], v.members) for v in a.violations]
    cols = [Col("rule"), Col("from"), Col("to"), Col("why", spill=True)]
    columns.table(console, "Rule violations", cols, rows, empty="none: every rule held")
    console.print()
    rows = [
        Row([str(i), _key(d.host), d.at, d.since or "-", str(len(d.vms))])
        for i, d in enumerate(a.drained, 1)
    ]
    cols = [Col("#", right=True), Col("host"), Col("drained"), Col("back"), Col("vms", right=True)]
    columns.table(console, "Hosts drained, in order", cols, rows, empty="none")
    p = a.plan
    if p is None:
        return
    console.print()
    rows = [Row([_key(m.host), _key(m.planned), ", ".join(map(_key, m.actual)) or "-", m.status],
                [m.vm]) for m in p.moves]  # fmt: skip
    cols = [Col("from"), Col("planned"), Col("actual"), Col("")]
    verdict = "as planned" if p.as_planned else "not as planned"
    columns.table(console, f"Against the plan: {verdict}", cols, rows, empty="no moves planned")
    for line in p.out_of_order:
        console.print(Text(line), soft_wrap=True)
    if p.not_drained:
        console.print(Text(f"planned, not drained: {', '.join(map(_key, p.not_drained))}"))
    if p.unplanned:
        console.print(Text(f"drained, not planned: {', '.join(map(_key, p.unplanned))}"))


@app.command("drain")
def drain_cmd(
    host: Annotated[str, typer.Argument(help="The host to drain (hv-a or host:hv-a).")],
    at: At = "now",
    output: Annotated[
        DrainOutput, typer.Option("--output", "-o", help="table, json, or md (owners' notice).")
    ] = DrainOutput.table,
    db: DbOption = None,
) -> None:
    """Every VM on a host, the rules that bind it, and where each could go."""
    t = when(at)
    with open_store(db) as store:
        policy = policy_at(store, t)
        found = drain(store, policy, host, t)
        if output is DrainOutput.md:
            sys.stdout.write(to_markdown(found, policy))
            return
        emit(found, Output(output.value), drain_table)


@app.command("rolling")
def rolling_cmd(
    hosts: Hosts = None, at: At = "now", output: OutputOption = Output.table, db: DbOption = None
) -> None:
    """Hosts in ordered groups that can be drained together, each with its drain plan."""
    t = when(at)
    with open_store(db) as store:
        try:
            found = rolling(store, policy_at(store, t), t, hosts)
        except Unsafe as e:
            fail(f"refused: {e}")
        emit(found, output, rolling_table)


@app.command("review")
def review_cmd(
    t_from: Annotated[str, typer.Option("--from", help="Window start.")],
    t_to: Annotated[str, typer.Option("--to", help="Window end (default: now).")] = "now",
    hosts: Hosts = None,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="A saved plan (`plan rolling -o json`) to hold it against."),
    ] = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Migrations, downtime, violations and drained hosts of a maintenance window."""
    lo, hi = when(t_from), when(t_to)
    try:
        saved = load_plan(plan) if plan is not None else None
    except BadPlan as e:
        fail(str(e), 2)
    with open_store(db) as store:
        emit(review(store, lo, hi, hosts, saved), output, review_table)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, rich_help_panel="Ask")
