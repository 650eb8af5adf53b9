"""`vtrail quota`: what each owner ran at once over a window, its peak and when."""

from __future__ import annotations

from typing import Annotated

import typer

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import DbOption, Output, OutputOption, console, emit, open_store, when
from vtrail.provisioning.quota import COUNTS, QuotaAnswer, quota


def table(a: QuotaAnswer) -> None:
    title = f"Quota usage from {columns.instant(a.t_from)} to {columns.instant(a.t_to)}"
    rows = []
    for o in a.owners:
        for count in COUNTS:
            limit = o.quota.get(count) if o.quota else None
            p = o.peak[count]
            over = limit is not None and p.value > limit
            rows.append(
                Row([o.owner, count, str(p.value), p.at, "-" if limit is None else str(limit),
                     "OVER" if over else ""])
            )  # fmt: skip
    cols = [Col("owner"), Col("count"), Col("peak"), Col("reached"), Col("quota"), Col("")]
    columns.table(console, title, cols, rows, empty="no owned VM ran in the window")


def register(app: typer.Typer) -> None:
    @app.command(name="quota", rich_help_panel="Ask")
    def quota_cmd(
        t_from: Annotated[str, typer.Option("--from", help="Window start.")],
        t_to: Annotated[str, typer.Option("--to", help="Window end (default: now).")] = "now",
        owner: Annotated[
            str | None, typer.Option("--owner", help="Only this owner's usage.")
        ] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Each owner's quota usage over time (VMs, vCPUs, memory, addresses): the peak and
        when it was reached (docs/provisioning.md)."""
        lo, hi = when(t_from), when(t_to)
        with open_store(db) as store:
            emit(quota(store, lo, hi, owner), output, table)
