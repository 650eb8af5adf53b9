"""`vtrail assets`, `vtrail asset ID` and `vtrail inventory FILE`: asset records
(docs/assets.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from vtrail.assets.card import AssetCard, FactChange, asset
from vtrail.assets.continuity import Link
from vtrail.assets.listing import CSV_COLUMNS, AssetsAnswer, assets, csv_rows
from vtrail.cli import columns
from vtrail.cli.columns import Col, Row, instant
from vtrail.cli.common import (
    AtOption,
    DbOption,
    ListOutput,
    Output,
    OutputOption,
    console,
    emit,
    err_console,
    fail,
    open_store,
    print_csv,
    when,
)
from vtrail.cli.render import _span as span
from vtrail.collectors.inventory import PREFIX, InventoryError, now, observation, read_inventory
from vtrail.recording.recorder import Recorder


def _table(a: AssetsAnswer) -> None:
    cols = [
        Col("asset"),
        Col("kind"),
        Col("owner"),
        Col("cost centre", spill=True),
        Col("purpose", spill=True),
        Col("support end"),
        Col("flags", spill=True, sep=", "),
    ]
    rows = [
        Row(
            [
                x.name or x.entity,
                x.kind,
                x.owner or "—",
                x.cost_centre or "—",
                x.purpose or "—",
                x.support_end or "—",
                ", ".join(x.flags),
            ],
            [x.entity] if x.name else [],
        )
        for x in a.assets
    ]
    title = f"Assets at {instant(a.at)}"
    if a.owner is not None:
        title += f" owned by {a.owner}"
    columns.table(console, title, cols, rows, empty="none")


def _line(key: str, value: str) -> None:
    console.print(Text(f"  {key:<14} {value}"), soft_wrap=True)


def _changes(title: str, changes: list[FactChange]) -> None:
    rows = [Row([c.at, c.before or "—", c.after or "—", c.source or ""]) for c in changes]
    cols = [Col("at"), Col("before"), Col("after"), Col("said by", spill=True)]
    columns.table(console, title, cols, rows, empty="none")


def _link(key: str, other: str, x: Link) -> None:
    _line(
        key,
        f"{other} ({x.verdict}): ended {instant(x.ended)}, new one seen {instant(x.first_seen)}",
    )
    for e in x.evidence:
        _line(
            "",
            f"same {e.kind} {e.value}: last {instant(e.last_seen)}, then {instant(e.first_seen)}",
        )


def _card(c: AssetCard) -> None:
    console.print(Text.assemble((c.identity.name or c.entity, "bold"), f"  ({c.kind})"))
    console.print(Text(f"  {c.entity}"), soft_wrap=True)
    if c.identity.uuid:
        _line("uuid", c.identity.uuid)
    for key, value in c.facts.items():
        disputed = (
            f" (but {value.disputed_by} says {value.disputed_value})" if value.disputed_by else ""
        )
        _line(key.replace("_", " "), f"{value.value}  [{value.source}]{disputed}")
    for key, text in c.hardware.items():
        _line(key.replace("_", " "), text)
    days = (
        f", {abs(c.support.days_left)} days {'left' if c.support.days_left >= 0 else 'ago'}"
        if c.support.days_left is not None
        else ""
    )
    _line(
        "support", f"{c.support.status}{' until ' + c.support.end if c.support.end else ''}{days}"
    )
    _line("flags", ", ".join(c.flags) or "none")
    _line("first seen", instant(c.first_seen) if c.first_seen else "never recorded")
    _line("ended", instant(c.ended) if c.ended else "still alive")
    if c.lifetime_s is not None:
        _line("lived", span(c.lifetime_s))
    if c.identity.macs:
        _line("MACs", ", ".join(c.identity.macs))
    for d in c.identity.disks:
        _line("disk", d)
    lin = c.lineage
    for image in lin.images:
        _line("image", image)
    if lin.cloned_from:
        _line("cloned from", lin.cloned_from_entity or lin.cloned_from)
    if lin.replaces:
        _link("replaces", lin.replaces.earlier, lin.replaces)
    if lin.replaced_by:
        _link("replaced by", lin.replaced_by.later, lin.replaced_by)
    rows = [Row([p.host, p.t_from, p.t_to or "still"]) for p in c.placements]
    columns.table(
        console,
        "where it ran",
        [Col("host"), Col("from"), Col("to")],
        rows,
        empty="nowhere recorded",
    )
    _changes("renames", c.renames)
    _changes("owner changes", c.owner_changes)


def register(app: typer.Typer) -> None:
    @app.command("assets", rich_help_panel="Ask")
    def assets_cmd(
        at: AtOption = "now",
        owner: Annotated[
            str | None, typer.Option("--owner", help="Only those this owner owns (case aside).")
        ] = None,
        flagged: Annotated[
            bool,
            typer.Option(
                "--flagged", help="Only those without an owner, past support, or in doubt."
            ),
        ] = False,
        output: Annotated[
            ListOutput, typer.Option("--output", "-o", help="table, json or csv.")
        ] = ListOutput.table,
        db: DbOption = None,
    ) -> None:
        """Every VM and host with its owner, cost centre, purpose and support end."""
        t = when(at)
        with open_store(db) as store:
            answer = assets(store, t, owner, flagged)
        if output is ListOutput.csv:
            print_csv(CSV_COLUMNS, csv_rows(answer))
        else:
            emit(answer, Output(output.value), _table)

    @app.command("asset", rich_help_panel="Ask")
    def asset_cmd(
        entity: Annotated[str, typer.Argument(help="A VM or host (id, VM name, MAC).")],
        at: AtOption = "now",
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """A VM's or host's identity card: owner, support, where it ran, renames, owner
        changes, lifetime, lineage, and the VM it likely continues."""
        t = when(at)
        with open_store(db) as store:
            emit(asset(store, entity, t), output, _card)

    @app.command(rich_help_panel="Record")
    def inventory(
        file: Annotated[Path, typer.Argument(help="An inventory, YAML or CSV (docs/assets.md).")],
        db: DbOption = None,
    ) -> None:
        """Record an inventory file's owners, cost centres and support ends once, as the
        source inventory:PATH. A bad row is refused in one line and nothing is recorded."""
        try:
            rows = read_inventory(file)
        except InventoryError as e:
            fail(str(e))
        source = f"{PREFIX}{file.absolute()}"
        with open_store(db, readonly=False) as store:
            Recorder(store).record([observation(rows, source, now())])
        err_console.print(Text(f"recorded {len(rows)} assets from {source}"), soft_wrap=True)
