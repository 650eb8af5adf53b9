"""Tables that fit the terminal without cutting or folding what they hold.

Rich folds a cell that does not fit its column, so a 58-character NIC id at 80
columns came out as three stumps. Here a cell is never cut or folded: when a
table is too wide, the widest of the columns marked `spill` leave the row for
a line of their own under it, until the row fits; if it still does not,
instants drop the date they all share (the title then says it). Text under a
row (a full id, a spilled cell) breaks only between items, so an id is always
whole and can be copied. A line longer than the terminal (an id wider than
it) is left for the terminal to wrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from vtrail.timeexpr import iso

#: Between columns, and before the first.
GAP = "  "
INDENT = " "
#: Lines under a row start here, so that the row's first cell stands out.
UNDER = "    "

Cell = str | datetime | None


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    #: Numbers line up on the right.
    right: bool = False
    #: May leave the row for a line of its own (prefixed with its header) when too wide.
    spill: bool = False
    #: Where spilled, items in the cell are separated by this (a line breaks only there).
    sep: str = " "


@dataclass(slots=True)
class Row:
    cells: Sequence[Cell]
    #: Always on lines of their own under the row: full ids, how an end is known.
    under: list[str] = field(default_factory=list)


def instant(dt: datetime, *, date: bool = True) -> str:
    """ISO 8601 in UTC, without the milliseconds when they are zero (it parses back)."""
    text = iso(dt) or ""
    text = text.replace(".000Z", "Z")
    return text.split("T", 1)[1].removesuffix("Z") if not date else text


def _shared_date(rows: Sequence[Row]) -> str | None:
    days = {
        c.astimezone(UTC).date().isoformat()
        for r in rows
        for c in r.cells
        if isinstance(c, datetime)
    }
    return days.pop() if len(days) == 1 else None


def flow(first: str, rest: str, items: Sequence[str], sep: str, width: int) -> list[str]:
    """`items` joined by `sep` after `first`, broken into lines of `width` between items
    only (an item is never cut); lines after the first start with `rest`."""
    lines: list[str] = []
    line = first + (items[0] if items else "")
    for item in items[1:]:
        if cell_len(line + sep + item + sep.rstrip()) > width:
            lines.append(line + sep.rstrip())
            line = rest + item
        else:
            line += sep + item
    lines.append(line)
    return lines


def _span(widths: Sequence[int], shown: Sequence[int]) -> int:
    return len(INDENT) + sum(widths[i] for i in shown) + len(GAP) * (len(shown) - 1)


def table(
    console: Console, title: str, cols: Sequence[Col], rows: Sequence[Row], *, empty: str = ""
) -> None:
    """Print `rows` under `title`, fitted to the console's width (see the module's doc)."""
    width = console.width
    date = True
    shared = _shared_date(rows)

    def text(c: Cell) -> str:
        if isinstance(c, datetime):
            return instant(c, date=date)
        return c or ""

    def widths() -> list[int]:
        return [
            max([cell_len(col.header)] + [cell_len(text(r.cells[i])) for r in rows])
            for i, col in enumerate(cols)
        ]

    def fit() -> tuple[list[int], list[int]]:
        """The widths, and the columns left in the row: the widest that may spill leave
        first; a column that may spill and holds nothing is left out altogether."""
        w = widths()
        shown = [
            i for i, col in enumerate(cols) if not col.spill or any(text(r.cells[i]) for r in rows)
        ]
        while _span(w, shown) > width:
            spillable = [i for i in shown if cols[i].spill]
            if not spillable:
                return w, shown
            shown.remove(max(spillable, key=w.__getitem__))
        return w, shown

    w, shown = fit()
    if _span(w, shown) > width and shared is not None:
        # Full instants can be copied into --at; they give way only when nothing else does.
        date = False
        w, shown = fit()
    spilled = [i for i, col in enumerate(cols) if col.spill and i not in shown]

    heading = Text(title, style="bold")
    if not date and shared is not None:
        heading.append(f"  (times on {shared}, UTC)", style="dim")
    if heading.plain:
        console.print(heading, soft_wrap=True)
    if not rows:
        if empty:
            console.print(Text(INDENT + empty, style="dim"), soft_wrap=True)
        return

    def line(cells: Sequence[str], style: str = "") -> Text:
        out = Text(INDENT, style=style)
        for n, i in enumerate(shown):
            pad = w[i] - cell_len(cells[i])
            last = n == len(shown) - 1
            body = " " * pad + cells[i] if cols[i].right else cells[i] + ("" if last else " " * pad)
            out.append(body + ("" if last else GAP))
        out.rstrip()
        return out

    console.print(line([c.header for c in cols], "bold"), soft_wrap=True)
    for r in rows:
        cells = [text(c) for c in r.cells]
        console.print(line(cells), soft_wrap=True)
        for u in r.under:
            for part in flow(UNDER, UNDER + "  ", u.split(" "), " ", width):
                console.print(Text(part, style="dim"), soft_wrap=True)
        for i in spilled:
            if not cells[i]:
                continue
            items = cells[i].split(cols[i].sep)
            first = f"{UNDER}{cols[i].header} "
            for part in flow(first, " " * len(first), items, cols[i].sep, width):
                console.print(Text(part), soft_wrap=True)
