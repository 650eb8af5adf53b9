"""`vtrail health`: each member of a service or domain, its probes' results, and when it
was degraded."""

from __future__ import annotations

from datetime import datetime
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
    vm_names,
    when,
)
from vtrail.triage.health import HealthAnswer, UnknownGroup, health
from vtrail.triage.policy_at import NoPolicy, recorded_policy


def _num(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:.3g}{unit}"


def table(a: HealthAnswer, names: dict[str, str]) -> None:
    window = a.t_from is not None and a.t_to is not None
    sick = sum(m.degraded for m in a.members)
    title = f"{a.kind} {a.group} at {columns.instant(a.at)}: {len(a.members)} members, "
    title += f"{sick} degraded now"
    if a.t_from is not None and a.t_to is not None:
        title = f"{a.kind} {a.group} from {columns.instant(a.t_from)} to "
        title += f"{columns.instant(a.t_to)}: {len(a.members)} members"
    rows = []
    for m in a.members:
        name = names.get(m.entity, m.entity)
        under = [m.entity] if name != m.entity else []
        if not m.series:
            rows.append(Row([name, "-", "-", "-", "no probe results"], under))
        for s in m.series:
            spans = [
                f"{columns.instant(i.t_from)} → "
                + (columns.instant(i.t_to) if i.t_to else "still degraded")
                + f" ({i.reason})"
                for i in s.intervals
            ]
            state = "DEGRADED" if s.degraded else "ok"
            loss = _num(s.loss_max if window else s.loss)
            rows.append(
                Row(
                    [name, s.vantage or s.source, loss, _num(s.rtt_ms, " ms"), state],
                    [*under, *spans],
                )
            )
    cols = [
        Col("member"),
        Col("from", spill=True),
        Col("max loss" if window else "loss", right=True),
        Col("rtt", right=True),
        Col("state"),
    ]
    columns.table(console, title, cols, rows, empty="the group has no members")
    if not any(m.series for m in a.members):
        console.print(Text("no probe results for these members", style="dim"))


def register(app: typer.Typer) -> None:
    @app.command(name="health", rich_help_panel="Ask")
    def health_cmd(
        group: Annotated[str, typer.Argument(help="A service or domain of the policy.")],
        at: Annotated[
            str | None,
            typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h', '6 hours ago'."),
        ] = None,
        t_from: Annotated[
            str | None, typer.Option("--from", help="Window start: every degraded interval.")
        ] = None,
        t_to: Annotated[str | None, typer.Option("--to", help="Window end (default: now).")] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Each member's probe loss and RTT (per vantage), and when it was degraded."""
        lo = hi = instant = None
        if t_from is None and t_to is None:
            instant = when(at or "now")
        else:
            if t_from is None:
                fail("a window needs its start: --from", 2)
            if at is not None:
                fail("health is at an instant (--at) or over a window (--from, --to)", 2)
            lo, hi = when(t_from), when(t_to or "now")
        about: datetime | None = instant or hi
        assert about is not None
        with open_store(db) as store:
            try:
                policy = recorded_policy(store, about)
                found = health(store, policy, group, at=instant, t_from=lo, t_to=hi)
            except (NoPolicy, UnknownGroup) as e:
                fail(str(e))
            names = vm_names(store, found, about) if output is Output.table else {}
            emit(found, output, lambda a: table(a, names))
