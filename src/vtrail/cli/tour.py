"""`vtrail tour`: the bundled example day, recorded and questioned with real output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule

from vtrail.cli import render
from vtrail.cli.common import console, esc, open_store
from vtrail.demo.example_day import GHOST, bundled_lines
from vtrail.query import state
from vtrail.recording.ingest import ingest_lines
from vtrail.store import default_path, store_files
from vtrail.timeexpr import parse_time


def _ask(question: str, command: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{question}[/]", align="left"))
    console.print(f"[dim]$ {esc(command)}[/]")


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Start here")
    def tour(
        db: Annotated[
            Path | None,
            typer.Option("--db", help="Where to record the example (replaced if it exists)."),
        ] = None,
    ) -> None:
        """Record the bundled example day of a small fabric and walk through the questions."""
        path = db or default_path().with_name("tour.db")
        for stale in store_files(path):
            stale.unlink(missing_ok=True)
        with open_store(path, readonly=False) as store:
            stats = ingest_lines(store, bundled_lines())
            console.print(
                f"Recorded the example day: {stats.observations} observations from "
                f"{len(stats.sources)} sources into [bold]{esc(path)}[/]."
            )
            t = parse_time
            d = f"--db {path}"
            _ask(
                "Where was web-1 at 03:00, before its migration?",
                f"vtrail where web-1 --at 2026-11-20T03:00Z {d}",
            )
            render.where(state.where(store, "web-1", t("2026-11-20T03:00Z")))
            _ask("...and an hour later?", f"vtrail where web-1 --at 2026-11-20T04:00Z {d}")
            render.where(state.where(store, "web-1", t("2026-11-20T04:00Z")))
            _ask(
                "What lived and died between 03:00 and 03:30?",
                f"vtrail ghosts --from 2026-11-20T03:00Z --to 2026-11-20T03:30Z {d}",
            )
            render.lifetimes(
                state.ghosts(store, t("2026-11-20T03:00Z"), t("2026-11-20T03:30Z")).ghosts
            )
            _ask("What did that bridge carry while it was alive?", f"vtrail lifetime {GHOST} {d}")
            render.lifetime(state.lifetime(store, GHOST))
            _ask(
                "What changed between 09:30 and 10:00?",
                f"vtrail diff --from 2026-11-20T09:30Z --to 2026-11-20T10:00Z {d}",
            )
            render.diff(state.diff(store, t("2026-11-20T09:30Z"), t("2026-11-20T10:00Z")))
            _ask(
                "hv-c was unreachable from 18:00 to 18:45; what happened to cache-1?",
                f"vtrail lifetime cache-1 {d}",
            )
            render.lifetime(state.lifetime(store, "cache-1"))
            console.print()
            console.print(
                f"Explore further with [bold]--db {esc(path)}[/]: vtrail snapshot, history, where, "
                "diff, ghosts, stats. Every command takes -o json."
            )
