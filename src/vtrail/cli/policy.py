"""`vtrail policy apply|show|diff`: the policy file recorded, and read back at any instant."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import (
    AtOption,
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    err_console,
    fail,
    open_store,
    when,
)
from vtrail.policy.diff import PolicyChange, changed_keys
from vtrail.policy.load import PolicyError, load_policy
from vtrail.recording.recorder import Recorder
from vtrail.store import Store
from vtrail.triage import policy_at
from vtrail.triage.policy_at import Applied, PolicyAnswer, PolicyDiffAnswer

app = typer.Typer(
    name="policy",
    help="Services, diagnostic domains and placement rules, recorded with their history "
    "(docs/policy.md).",
    no_args_is_help=True,
)


class ShowOutput(StrEnum):
    yaml = "yaml"
    json = "json"


_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def _short(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def changes_table(title: str, found: list[PolicyChange], empty: str) -> None:
    rows = [
        Row(
            [_SIGN[c.change], c.part, c.name, c.change],
            [f"{k}: {_short(a)} → {_short(b)}" for k, a, b in changed_keys(c)]
            if c.change == "changed"
            else [],
        )
        for c in found
    ]
    cols = [Col(""), Col("what"), Col("name"), Col("change")]
    columns.table(console, title, cols, rows, empty=empty)


def _applied(a: Applied, file: str) -> None:
    changes_table(
        f"Applied {file} at {columns.instant(a.at)}: {a.services} services, "
        f"{a.domains} domains, {a.rules} rules, {a.probes} probes"
        + (f", {a.provisioning} provisioning rules and quotas" if a.provisioning else ""),
        a.changes,
        "nothing changed: this policy was already in force",
    )


def _diff(a: PolicyDiffAnswer) -> None:
    changes_table(
        f"Policy changes from {columns.instant(a.t_from)} to {columns.instant(a.t_to)}",
        a.changes,
        "none: the same policy was in force at both instants",
    )


def _yaml(a: PolicyAnswer) -> None:
    # Plain text, never markup: a policy may hold anything in its descriptions.
    sys.stdout.write(f"# the policy in force at {columns.instant(a.at)}\n")
    sys.stdout.write(yaml.safe_dump(a.policy, sort_keys=False, allow_unicode=True, width=100))


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="A policy file (YAML; docs/policy.md).")],
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Check a policy file and record it as in force from now; say what changed.

    A file with any fault is refused in one line naming the place, and nothing is
    recorded."""
    if not file.is_file():
        fail(f"no such file: {file}", 2)
    with open_store(db, readonly=False) as store:
        try:
            done = record(store, file)
        except PolicyError as e:
            fail(str(e))
    emit(done, output, lambda a: _applied(a, str(file)))


def record(store: Store, file: Path) -> Applied:
    """Check the policy in `file` and record it as in force from now (`PolicyError` if it
    has a fault): `apply`, and `vtrail demo` with its fabric's policy."""
    policy = load_policy(file, policy_at.known_kinds(store))
    recorder = Recorder(store)
    return policy_at.apply(store, policy, datetime.now(UTC), lambda o: recorder.record([o]))


@app.command()
def show(
    at: AtOption = "now",
    output: Annotated[
        ShowOutput, typer.Option("--output", "-o", help="yaml (a file to apply) or json.")
    ] = ShowOutput.yaml,
    db: DbOption = None,
) -> None:
    """The policy in force at an instant, as a file that can be applied again."""
    t = when(at)
    with open_store(db) as store:
        answer = policy_at.show(store, t)
    emit(answer, Output.json if output is ShowOutput.json else Output.table, _yaml)
    if not any(answer.policy.values()):
        err_console.print(Text(f"no policy was in force at {columns.instant(t)}"), soft_wrap=True)


@app.command()
def diff(
    t_from: Annotated[str, typer.Option("--from", help="Window start (any time form).")],
    t_to: Annotated[str, typer.Option("--to", help="Window end (any time form).")] = "now",
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """What changed in the policy between two instants: services, domains, rules."""
    a, b = when(t_from), when(t_to)
    with open_store(db) as store:
        emit(policy_at.diff(store, a, b), output, _diff)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, rich_help_panel="Triage")
