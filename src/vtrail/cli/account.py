"""`vtrail account`: allocated and used resources and their cost over a window, by VM,
owner, service or host (docs/accounting.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from vtrail.accounting.account import (
    BY,
    CSV_COLUMNS,
    AccountAnswer,
    AccountRow,
    BadAccount,
    account,
    csv_rows,
    policy_in_force,
)
from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import (
    DbOption,
    ListOutput,
    Output,
    console,
    emit,
    fail,
    open_store,
    print_csv,
    when,
)
from vtrail.query.state import BadWindow


def _num(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _gb(n: int) -> str:
    return f"{n / 1e9:,.3f}"


def _label(r: AccountRow) -> str:
    return r.name or r.key or "(none)"


def table(a: AccountAnswer) -> None:
    priced = any(r.cost is not None for r in a.rows)
    cols = [
        Col(a.by),
        Col("vCPU·h", right=True),
        Col("GiB·h", right=True),
        Col("CPU s", right=True),
        Col("CPU share", right=True),
        Col("mem share", right=True),
        Col("disk GB", right=True),
        Col("net GB", right=True),
        *([Col("cost", right=True)] if priced else []),
    ]
    rows = []
    for r in a.rows:
        under = [r.key] if r.key is not None and r.name and r.name != r.key else []
        if len(r.hosts) > 1:
            under += [
                f"on {h.name or 'no host'}: {_num(h.vcpu_hours)} vCPU·h, "
                f"{_num(h.memory_gib_hours)} GiB·h, {_num(h.cpu_seconds)} CPU s"
                + (f", cost {_num(h.cost)}" if h.cost is not None else "")
                for h in r.hosts
            ]
        cells = [
            _label(r), _num(r.vcpu_hours), _num(r.memory_gib_hours), _num(r.cpu_seconds),
            _pct(r.cpu_share), _pct(r.memory_share),
            _gb(r.disk_read_bytes + r.disk_write_bytes), _gb(r.net_rx_bytes + r.net_tx_bytes),
            *([_num(r.cost)] if priced else []),
        ]  # fmt: skip
        rows.append(Row(cells, under))
    title = (
        f"Usage by {a.by} from {columns.instant(a.t_from)} to {columns.instant(a.t_to)} "
        f"(allocated while {' or '.join(a.states)})"
    )
    columns.table(console, title, cols, rows, empty="no VM was recorded in the window")
    idle = [
        Row(
            [
                h.name,
                _num(h.capacity_vcpu_hours),
                _num(h.allocated_vcpu_hours),
                _num(h.idle_vcpu_hours),
                _num(h.idle_memory_gib_hours),
                *([_num(h.idle_cost)] if priced else []),
            ],
        )
        for h in a.hosts
    ]
    idle_cols = [
        Col("host"),
        Col("vCPU·h", right=True),
        Col("allocated", right=True),
        Col("idle vCPU·h", right=True),
        Col("idle GiB·h", right=True),
        *([Col("idle cost", right=True)] if priced else []),
    ]
    share = " (shared out among their VMs)" if a.share_idle and priced else ""
    columns.table(console, f"Idle capacity of the hosts{share}", idle_cols, idle, empty="none")


def register(app: typer.Typer) -> None:
    @app.command(name="account", rich_help_panel="Ask")
    def account_cmd(
        t_from: Annotated[str, typer.Option("--from", help="Window start.")],
        t_to: Annotated[str, typer.Option("--to", help="Window end (default: now).")] = "now",
        by: Annotated[str, typer.Option("--by", help=f"Rows by {', '.join(BY)}.")] = "vm",
        output: Annotated[
            ListOutput, typer.Option("--output", "-o", help="table, json or csv.")
        ] = ListOutput.table,
        db: DbOption = None,
    ) -> None:
        """Allocated vCPU and memory hours, CPU used, disk and network bytes and their
        cost (the policy's rate card), and each host's idle capacity."""
        lo, hi = when(t_from), when(t_to)
        with open_store(db) as store:
            try:
                answer = account(store, policy_in_force(store, hi), lo, hi, by)
            except (BadWindow, BadAccount) as e:
                fail(str(e), 2)
        if output is ListOutput.csv:
            print_csv(CSV_COLUMNS, csv_rows(answer))
        else:
            emit(answer, Output(output.value), table)
