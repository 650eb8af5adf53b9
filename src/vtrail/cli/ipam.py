"""`vtrail ipam ...`: pools, allocation and release, who had an address or a MAC,
conflicts, usage over time and exports (docs/ipam.md)."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import (
    AtOption,
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    fail,
    open_store,
    when,
)
from vtrail.ipam.allocate import AllocateAnswer, ReleaseAnswer, allocate, release
from vtrail.ipam.conflicts import ConflictsAnswer, conflicts
from vtrail.ipam.export import ExportAnswer, export
from vtrail.ipam.pools import IpamError, PoolsAnswer, pools_answer
from vtrail.ipam.usage import UsageAnswer, usage
from vtrail.ipam.who import WhoAnswer, who
from vtrail.recording.recorder import Recorder

app = typer.Typer(
    name="ipam",
    help="IP and MAC pools with their whole history: allocate, release, who had an "
    "address, conflicts, usage, exports (docs/ipam.md).",
    no_args_is_help=True,
)

FromOption = Annotated[str | None, typer.Option("--from", help="Window start (any time form).")]
ToOption = Annotated[str | None, typer.Option("--to", help="Window end (default: now).")]
MaybeAt = Annotated[
    str | None,
    typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h', '6 hours ago'."),
]


class ExportFormat(StrEnum):
    dnsmasq = "dnsmasq"
    hosts = "hosts"
    csv = "csv"


def _instant_or_window(
    at: str | None, t_from: str | None, t_to: str | None, default_at: str | None
) -> tuple[datetime | None, datetime | None, datetime | None]:
    if at is not None and (t_from is not None or t_to is not None):
        fail("ask at an instant (--at) or over a window (--from, --to), not both", 2)
    if at is not None:
        return when(at), None, None
    if t_from is None and t_to is None:
        return (when(default_at), None, None) if default_at else (None, None, None)
    return None, when(t_from) if t_from else None, when(t_to or "now")


def _end(t: datetime | None) -> str:
    return "open" if t is None else columns.instant(t)


@app.command(name="pools")
def pools_cmd(
    at: AtOption = "now", output: OutputOption = Output.table, db: DbOption = None
) -> None:
    """The pools in force at an instant."""
    t = when(at)
    with open_store(db) as store:
        answer = pools_answer(store, t)

    def table(a: PoolsAnswer) -> None:
        rows = [
            Row(
                [
                    p["name"],
                    p.get("prefix") or p.get("range") or p.get("mac-prefix"),
                    p.get("space", ""),
                    "public" if p.get("public") else "",
                    str(p["size"]),
                ]
            )
            for p in a.pools
        ]
        cols = [Col("pool"), Col("members"), Col("space"), Col(""), Col("size", right=True)]
        title = f"Pools at {columns.instant(a.at)}"
        columns.table(console, title, cols, rows, empty="no pools: define some under pools:")

    emit(answer, output, table)


@app.command(name="allocate")
def allocate_cmd(
    pool: Annotated[str, typer.Argument(help="The pool's name.")],
    holder: Annotated[
        str, typer.Option("--for", help="Who gets it: an entity id, or a VM name, MAC or IP.")
    ],
    count: Annotated[int, typer.Option("--count", help="How many (1 to 4096).")] = 1,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Allocate the next free address (or MAC) of a pool and record it."""
    with open_store(db, readonly=False) as store:
        try:
            done = allocate(store, Recorder(store), pool, holder, count)
        except IpamError as e:
            fail(str(e))

    def table(a: AllocateAnswer) -> None:
        for x in a.allocated:
            sys.stdout.write(f"{x.address}\n")

    emit(done, output, table)


@app.command(name="release")
def release_cmd(
    address: Annotated[str, typer.Argument(help="An address (ADDRESS[@SPACE]) or a MAC.")],
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """End the allocation of an address or a MAC."""
    with open_store(db, readonly=False) as store:
        try:
            done = release(store, Recorder(store), address)
        except IpamError as e:
            fail(str(e))

    def table(a: ReleaseAnswer) -> None:
        for x in a.released:
            console.print(Text(f"released {x.id} (pool {x.pool}) from {x.entity}"), soft_wrap=True)

    emit(done, output, table)


@app.command(name="who")
def who_cmd(
    address: Annotated[str, typer.Argument(help="An address (ADDRESS[@SPACE]) or a MAC.")],
    at: MaybeAt = None,
    t_from: FromOption = None,
    t_to: ToOption = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Every holder of an address or a MAC, how it held it and when (the whole history
    unless --at or --from/--to)."""
    instant, lo, hi = _instant_or_window(at, t_from, t_to, None)
    with open_store(db) as store:
        try:
            answer = who(store, address, at=instant, t_from=lo, t_to=hi)
        except IpamError as e:
            fail(str(e), 2)

    def table(a: WhoAnswer) -> None:
        rows = [
            Row(
                [h.how, h.entity, h.t_from, _end(h.t_to), h.detail or ""],
                [h.id] if h.id != h.entity else [],
            )
            for h in a.holders
        ]
        cols = [Col("how"), Col("holder", spill=True), Col("from"), Col("to"), Col("pool/host")]
        columns.table(console, f"Who had {a.address}", cols, rows, empty="nobody, as recorded")

    emit(answer, output, table)


@app.command(name="conflicts")
def conflicts_cmd(
    at: MaybeAt = None,
    t_from: FromOption = None,
    t_to: ToOption = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Duplicate addresses and MACs, use never allocated, stale allocations, MACs outside
    every pool and allocations outside their pool, each with its interval."""
    instant, lo, hi = _instant_or_window(at, t_from, t_to, "now")
    if instant is None and lo is None:
        fail("a window needs its start: --from", 2)
    with open_store(db) as store:
        answer = conflicts(store, at=instant, t_from=lo, t_to=hi)

    def table(a: ConflictsAnswer) -> None:
        rows = [
            Row([c.kind, c.address, c.t_from, _end(c.t_to), c.pool or ""], c.entities)
            for c in a.conflicts
        ]
        cols = [Col("kind"), Col("address"), Col("from"), Col("to"), Col("pool")]
        columns.table(console, "Address and MAC conflicts", cols, rows, empty="none")

    emit(answer, output, table)


@app.command(name="usage")
def usage_cmd(
    t_from: Annotated[str, typer.Option("--from", help="Window start (any time form).")],
    t_to: Annotated[str, typer.Option("--to", help="Window end (default: now).")] = "now",
    pool: Annotated[
        str | None, typer.Option("--pool", help="One pool (default: every one).")
    ] = None,
    points: Annotated[int, typer.Option("--points", help="Instants counted at (2 to 1000).")] = 24,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Allocated, observed in use and free members of each pool over a window."""
    lo, hi = when(t_from), when(t_to)
    with open_store(db) as store:
        try:
            answer = usage(store, lo, hi, pool=pool, points=points)
        except IpamError as e:
            fail(str(e), 2)

    def table(a: UsageAnswer) -> None:
        for p in a.pools:
            rows = [Row([x.at, str(x.allocated), str(x.observed), str(x.free)]) for x in p.series]
            cols = [Col("at"), Col("allocated", right=True), Col("in use", right=True),
                    Col("free", right=True)]  # fmt: skip
            columns.table(console, f"Pool {p.pool} ({p.size} members)", cols, rows, empty="")

    emit(answer, output, table)


@app.command(name="export")
def export_cmd(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="dnsmasq, hosts or csv.")],
    at: AtOption = "now",
    pool: Annotated[
        str | None, typer.Option("--pool", help="One pool (default: every one).")
    ] = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """The allocations live at an instant as dnsmasq dhcp-host lines, a hosts file or a CSV."""
    t = when(at)
    with open_store(db) as store:
        try:
            answer = export(store, fmt.value, t, pool)
        except IpamError as e:
            fail(str(e), 2)

    def text(a: ExportAnswer) -> None:
        sys.stdout.write(a.text)

    emit(answer, output, text)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, rich_help_panel="Operations")
