"""`vtrail where|show|history|diff|ghosts|lifetime|snapshot|stats`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from vtrail.cli import render
from vtrail.cli.common import (
    AtOption,
    DbOption,
    Output,
    OutputOption,
    emit,
    open_store,
    vm_names,
    when,
    window,
)
from vtrail.query import state
from vtrail.store import Store

T = TypeVar("T")


def _named(
    table: Callable[[T, Mapping[str, str]], None], store: Store, *at: datetime
) -> Callable[[T], None]:
    """`table` told the names of the VMs the answer mentions, as they were `at`."""
    return lambda answer: table(answer, vm_names(store, answer, *at))


FromOption = Annotated[str, typer.Option("--from", help="Window start (any time form).")]
ToOption = Annotated[str, typer.Option("--to", help="Window end (any time form).")]


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Ask")
    def where(
        what: Annotated[
            str, typer.Argument(help="An entity id, VM name, MAC or IP (IP@SPACE picks a space).")
        ],
        at: AtOption = "now",
        space: Annotated[
            str | None,
            typer.Option(
                "--space",
                help="For an IP held in several address spaces: the namespace, host, "
                "libvirt network (NAME@HOST) or VM whose address it is.",
            ),
        ] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Where a VM was at an instant: host, state, NICs, ports, bridges, addresses."""
        t = when(at)
        with open_store(db) as store:
            emit(state.where(store, what, t, space), output, _named(render.where, store, t))

    @app.command(rich_help_panel="Ask")
    def show(
        entity: Annotated[str, typer.Argument(help="An entity id (or a name, MAC, IP).")],
        at: AtOption = "now",
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """An entity's attributes and relations at an instant."""
        t = when(at)
        with open_store(db) as store:
            emit(state.show(store, entity, t), output, _named(render.show, store, t))

    @app.command(rich_help_panel="Ask")
    def history(
        entity: Annotated[str, typer.Argument(help="An entity id (or a name, MAC, IP).")],
        t_from: Annotated[str | None, typer.Option("--from", help="Window start.")] = None,
        t_to: Annotated[str | None, typer.Option("--to", help="Window end.")] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Every version and relation change of an entity, with the source of each."""
        lo, hi = window(t_from, t_to)
        ends = [t for t in (hi, lo) if t is not None] or [datetime.now(UTC)]
        with open_store(db) as store:
            emit(state.history(store, entity, lo, hi), output, _named(render.history, store, *ends))

    @app.command(rich_help_panel="Ask")
    def diff(
        t_from: FromOption,
        t_to: ToOption = "now",
        kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """What appeared, vanished, changed and moved between two instants."""
        a, b = when(t_from), when(t_to)
        with open_store(db) as store:
            emit(state.diff(store, a, b, kind), output, _named(render.diff, store, b, a))

    @app.command(rich_help_panel="Ask")
    def ghosts(
        t_from: FromOption,
        t_to: ToOption = "now",
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Entities whose whole life fell inside the window, with what they carried."""
        a, b = when(t_from), when(t_to)
        with open_store(db) as store:
            emit(state.ghosts(store, a, b), output, lambda g: render.lifetimes(g.ghosts))

    @app.command(rich_help_panel="Ask")
    def lifetime(
        entity: Annotated[str, typer.Argument(help="An entity id (or a name, MAC, IP).")],
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """What a thing did while alive: first and last seen, lifetime, counter totals."""
        with open_store(db) as store:
            emit(state.lifetime(store, entity), output, render.lifetime)

    @app.command(rich_help_panel="Ask")
    def snapshot(
        at: AtOption = "now",
        kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Every live entity and relation at an instant."""
        t = when(at)
        with open_store(db) as store:
            emit(state.snapshot(store, t, kind), output, render.snapshot)

    @app.command(rich_help_panel="Ask")
    def stats(output: OutputOption = Output.table, db: DbOption = None) -> None:
        """Counts, time span, sources and size on disk."""
        with open_store(db) as store:
            emit(state.stats(store), output, render.stats)
