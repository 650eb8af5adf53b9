"""`vtrail compact`: pack the journal, and drop its oldest bodies when told to."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from vtrail.cli.common import DbOption, err_console, esc, fail, open_store
from vtrail.store import factory
from vtrail.store.journal import Journal
from vtrail.timeexpr import iso

DAY_US = 86_400 * 1_000_000


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1_000_000 else f"{n / 1e3:,.0f} kB"


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Record")
    def compact(
        keep_days: Annotated[
            int | None,
            typer.Option(
                "--keep-days",
                help="Drop the raw bodies of observations older than this many days. "
                "History is kept; replay (late observations, rebuild) then reaches back "
                "only this far.",
            ),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Pack the journal's bodies and give the space back; history is never deleted
        (on PostgreSQL: drop the same bodies, VACUUM FULL the journal, ANALYZE)."""
        if keep_days is not None and keep_days < 0:
            fail(f"--keep-days must be 0 or more, not {keep_days}", 2)
        keep_from = None if keep_days is None else time.time_ns() // 1000 - keep_days * DAY_US
        with open_store(db, readonly=False) as store:
            if factory.server_url(db) is not None:
                # Here only: psycopg is an extra, and a SQLite store needs none of it.
                from vtrail.store.pgmaint import compact as compact_server
                from vtrail.store.postgres import PostgresStore

                assert isinstance(store, PostgresStore)
                done = compact_server(store, keep_from)
            else:
                done = Journal(store).compact(keep_from)
        err_console.print(
            esc(
                f"packed {done.packed:,} bodies, dropped {done.dropped:,}; journal "
                f"{_size(done.bytes_before)} → {_size(done.bytes_after)}; "
                + (
                    "replayable in whole"
                    if done.horizon is None
                    else f"replayable from {iso(done.horizon)}"
                )
            )
        )
