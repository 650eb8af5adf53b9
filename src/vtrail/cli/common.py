"""What every command shares: the store option, times, output and one-line errors."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from vtrail.query.jsonable import to_jsonable
from vtrail.query.names import Ambiguous, names_at
from vtrail.query.state import BadWindow, UnknownKind
from vtrail.store import Store, StoreError, UnknownEntity, default_path, factory
from vtrail.timeexpr import TimeParseError, parse_time
from vtrail.triage.derive import derivers
from vtrail.wire import ObservationError

# No emoji codes: an id such as "vm:x:" prints as typed, not as "vm❌".
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


class Output(StrEnum):
    table = "table"
    json = "json"


class ListOutput(StrEnum):
    """What a listing that a spreadsheet may want prints."""

    table = "table"
    json = "json"
    csv = "csv"


def print_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(header)
    out.writerows(rows)


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="VTRAIL_DB",
        help="Store file, or a postgresql:// URL (default: $VTRAIL_DB, else "
        "~/.local/share/vtrail/vtrail.db).",
        show_default=False,
    ),
]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]
AtOption = Annotated[
    str, typer.Option("--at", help="Instant: ISO 8601, epoch, 'now', '-6h', '6 hours ago'.")
]


def esc(value: object) -> str:
    """`value` as Rich markup that prints exactly as it is. Everything from the user or
    the store goes through this before it joins a markup template or a table cell."""
    return escape(str(value))


def fail(message: str, code: int = 1) -> NoReturn:
    # A Text is never read as markup: the message may quote anything the user typed.
    err_console.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def when(text: str) -> datetime:
    try:
        return parse_time(text)
    except TimeParseError as e:
        fail(str(e), 2)


def window(t_from: str | None, t_to: str | None) -> tuple[datetime | None, datetime | None]:
    """A window whose ends are optional: each end read when given (the question picks
    the default of an end left out)."""
    return (when(t_from) if t_from else None, when(t_to) if t_to else None)


@contextmanager
def open_store(db: Path | None, *, readonly: bool = True, cache_mib: int = 128) -> Iterator[Store]:
    """The store, with every known failure turned into a one-line error."""
    path = db or default_path()
    try:
        store = factory.open_store(path, readonly=readonly, cache_mib=cache_mib)
    except StoreError as e:
        fail(str(e))
    if not readonly:
        store.derivers = derivers()
    try:
        yield store
    except (UnknownEntity, Ambiguous, BadWindow, UnknownKind, ObservationError, StoreError) as e:
        fail(str(e))
    except UnicodeEncodeError as e:
        # Only what the user typed can hold one: an argument with bytes that are not
        # UTF-8 (the shell passes them through as surrogates), which no store holds.
        if isinstance(e.object, str) and e.reason == "surrogates not allowed":
            fail(f"{e.object!r} is not UTF-8 text", 2)
        raise
    finally:
        store.close()


def emit(answer: Any, output: Output, table: Callable[[Any], None]) -> None:
    if output is Output.json:
        data = to_jsonable(answer)
        try:
            text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False)
        except ValueError:
            # A store recorded before NaN and Infinity were refused may hold them:
            # JSON has no such numbers, so they print as null.
            text = json.dumps(_finite(data), indent=2, sort_keys=False)
        sys.stdout.write(text + "\n")
    else:
        table(answer)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def vm_names(store: Store, answer: Any, *instants: datetime) -> dict[str, str]:
    """The names the VMs `answer` mentions had at `instants` (the first each was alive at):
    tables show a VM by its name, its uuid under it."""
    ids: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.partition(":")[0] == "vm":
                ids.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(to_jsonable(answer))
    return names_at(store, ids, *instants)
