"""`vtrail ingest` and `vtrail rebuild`: observations from files, history from the journal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from vtrail.cli.common import DbOption, err_console, esc, fail, open_store
from vtrail.query import state
from vtrail.recording.ingest import ingest_lines, rebuild_in_place
from vtrail.recording.ingest import rebuild as replay_journal
from vtrail.recording.recorder import RecordStats
from vtrail.store import StoreError, default_path, factory
from vtrail.triage.derive import derivers


def _progress() -> Progress:
    """A bar on stderr while it is a terminal, gone when done; nothing at all elsewhere
    (a pipe, a log), where only the summary line is printed."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Record")
    def ingest(
        file: Annotated[
            str, typer.Argument(help="A JSON Lines file of observations, or - for stdin.")
        ],
        db: DbOption = None,
    ) -> None:
        """Record a file of observations, all or nothing (docs/observations.md)."""
        if file != "-" and not Path(file).is_file():
            fail(f"no such file: {file}", 2)
        with open_store(db, readonly=False) as store, _progress() as bar:
            # Of a file, the bar is the share of its bytes read; of stdin, a pulse.
            size = Path(file).stat().st_size if file != "-" else None
            task = bar.add_task("recording", total=size or None)
            fh: BinaryIO

            def tick(n: int) -> None:
                done = fh.tell() if size else None
                bar.update(task, description=f"recorded {n:,} observations", completed=done)

            # Bytes, decoded line by line: a line that is not UTF-8 is named by number.
            if file == "-":
                fh = sys.stdin.buffer
                stats = ingest_lines(store, fh, tick)
            else:
                with Path(file).open("rb") as fh:
                    stats = ingest_lines(store, fh, tick)
        err_console.print(
            f"recorded {stats.observations:,} observations "
            f"({stats.duplicates:,} already known, {stats.rows_written:,} rows, "
            f"{stats.samples:,} samples, {stats.replays:,} late arrivals put in place)",
            soft_wrap=True,
        )

    @app.command(rich_help_panel="Record")
    def rebuild(db: DbOption = None) -> None:
        """Replay the journal into fresh tables; the old store is kept as NAME.before-rebuild.db
        (on PostgreSQL, as the schema SCHEMA_before_rebuild)."""
        path = db or default_path()
        with open_store(path) as store:
            total = state.stats(store).counts.get("journal")
        with _progress() as bar:
            task = bar.add_task("replaying the journal", total=total or None)

            def tick(n: int) -> None:
                bar.update(task, description=f"replayed {n:,} observations", completed=n)

            try:
                if factory.server_url(db) is not None:
                    stats, backup = _rebuild_server(db, tick)
                else:
                    stats, path_backup = rebuild_in_place(path, tick, derivers())
                    backup = str(path_backup)
            except (StoreError, FileExistsError) as e:
                fail(str(e))
        where = "the store" if factory.server_url(db) is not None else str(path)
        err_console.print(
            esc(
                f"rebuilt {where} from {stats.observations:,} observations; "
                f"previous store: {backup}"
            ),
            soft_wrap=True,
        )


def _rebuild_server(db: Path | None, tick: Callable[[int], None]) -> tuple[RecordStats, str]:
    """The journal replayed into a fresh schema, which then takes the store's place
    (store/pgmaint.py); the old schema's name."""
    # Here only: psycopg is an extra, and a SQLite store needs none of it.
    from vtrail.store.pgmaint import Rebuild
    from vtrail.store.postgres import PostgresStore

    store = factory.open_store(db)
    assert isinstance(store, PostgresStore)
    try:
        job = Rebuild(store)
        try:
            # The fresh schema is a store of its own, named by a URL (the factory takes
            # one as `--db` does, even as a path).
            stats = replay_journal(store, Path(job.url), tick, derivers())
            backup = job.swap()
        except BaseException:
            job.abandon()
            raise
    finally:
        store.close()
    return stats, f"schema {backup}"
