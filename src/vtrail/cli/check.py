"""`vtrail check`: every rule of a policy at an instant, or its violations over a window."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import DbOption, Output, OutputOption, console, emit, fail, open_store, when
from vtrail.policy.load import PolicyError, load_policy
from vtrail.policy.model import Policy
from vtrail.store import Store
from vtrail.triage import CheckAnswer, check
from vtrail.triage.policy_at import NoPolicy, recorded_policy


def _policy(path: Path | None, store: Store, at: datetime) -> tuple[Policy, str]:
    """The file's policy, or the one recorded in force at `at`; and where it came from."""
    try:
        if path is None:
            return recorded_policy(store, at), "recorded"
        return load_policy(path), str(path)
    except (PolicyError, NoPolicy) as e:
        fail(str(e), 2)


def table(a: CheckAnswer) -> None:
    broken = [r for r in a.rules if not r.holds]
    title = f"Rules at {columns.instant(a.at)}: {len(a.rules) - len(broken)} hold, "
    title += f"{len(broken)} violated"
    console.print(Text(f"policy {a.policy}", style="dim"), soft_wrap=True)
    rows = [
        Row([r.name, r.kind, "holds" if r.holds else "VIOLATED", r.reason], r.members)
        for r in a.rules
    ]
    cols = [Col("rule"), Col("kind"), Col("state"), Col("why", spill=True)]
    columns.table(console, title, cols, rows, empty="the policy has no rules")
    if a.t_from is None or a.t_to is None:
        return
    found = sorted(
        ((r.name, v) for r in a.rules for v in r.violations), key=lambda x: (x[1].t_from, x[0])
    )
    console.print()
    start = ["already violated at the window's start"]
    rows = [
        Row(
            [name, v.t_from, v.t_to or "open", v.reason],
            [*v.members, *start[: v.in_force_at_start]],
        )
        for name, v in found
    ]
    cols = [Col("rule"), Col("from"), Col("to"), Col("why", spill=True)]
    title = f"Violations from {columns.instant(a.t_from)} to {columns.instant(a.t_to)}"
    columns.table(console, title, cols, rows, empty="none: every rule held throughout")


def register(app: typer.Typer) -> None:
    @app.command(name="check", rich_help_panel="Ask")
    def check_cmd(
        at: Annotated[
            str | None,
            typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h', '6 hours ago'."),
        ] = None,
        t_from: Annotated[
            str | None, typer.Option("--from", help="Window start: every violation in it.")
        ] = None,
        t_to: Annotated[str | None, typer.Option("--to", help="Window end (default: now).")] = None,
        policy: Annotated[
            Path | None,
            typer.Option(
                "--policy",
                help="A policy file (YAML, docs/policy.md) to evaluate, applied or not: "
                "what-if, and rules checked against the past.",
            ),
        ] = None,
        output: OutputOption = Output.table,
        db: DbOption = None,
    ) -> None:
        """Whether each rule of a policy held at an instant, or when it was violated."""
        lo = hi = None
        if t_from is None and t_to is None:
            instant: datetime | None = when(at or "now")
        else:
            if t_from is None:
                fail("a window needs its start: --from", 2)
            lo, hi = when(t_from), when(t_to or "now")
            instant = when(at) if at is not None else None
        # The policy in force at the instant the answer is about: `at`, or the window's end.
        about = instant or hi
        assert about is not None, "an instant, or a window with its end"
        with open_store(db) as store:
            rules, source = _policy(policy, store, about)
            emit(check(store, rules, source, at=instant, t_from=lo, t_to=hi), output, table)
