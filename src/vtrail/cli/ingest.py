"""`vtrail ingest` and `vtrail rebuild`: observations from files, history from the journal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vtrail.cli.common import DbOption, err_console, esc, fail, open_store
from vtrail.recording.ingest import ingest_lines, rebuild_in_place
from vtrail.store import StoreError, default_path


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
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
            task = bar.add_task("recording", total=None)

            def tick(n: int) -> None:
                bar.update(task, description=f"recorded {n:,} observations")

            # Bytes, decoded line by line: a line that is not UTF-8 is named by number.
            if file == "-":
                stats = ingest_lines(store, sys.stdin.buffer, tick)
            else:
                with Path(file).open("rb") as fh:
                    stats = ingest_lines(store, fh, tick)
        err_console.print(
            f"recorded {stats.observations:,} observations "
            f"({stats.duplicates:,} already known, {stats.rows_written:,} rows, "
            f"{stats.samples:,} samples, {stats.replays:,} late arrivals put in place)"
        )

    @app.command(rich_help_panel="Record")
    def rebuild(db: DbOption = None) -> None:
        """Replay the journal into fresh tables; the old store is kept as NAME.before-rebuild.db."""
        path = db or default_path()
        with _progress() as bar:
            bar.add_task("replaying the journal", total=None)
            try:
                stats, backup = rebuild_in_place(path)
            except (StoreError, FileExistsError) as e:
                fail(str(e))
        err_console.print(
            esc(
                f"rebuilt {path} from {stats.observations:,} observations; previous store: {backup}"
            )
        )
