"""The accounting question's SQL: the counter blocks a window of usage is read from.

Accounting reads a VM's `cpu_time_ns` and `disk.<dev>.rd_bytes`/`wr_bytes`, and its
NICs' `rx_bytes`/`tx_bytes`, for every VM at once. A block whose readings all fall in
one stretch of a VM's life is counted from its `increase` without decoding
(store/samples.py); only a block cut by the window's ends or by a migration is read,
and of it, from its marks (store/marks.py), the few readings around each cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from vtrail.store.interfaces import Store
from vtrail.store.reads.samples import block_columns
from vtrail.store.samples import Num, as_num

#: The metrics accounting reads, as SQL over a block's `metric` (kinds `vm` and `nic`).
_METRICS = (
    "(s.metric = 'cpu_time_ns' OR s.metric = 'rx_bytes' OR s.metric = 'tx_bytes' "
    "OR (s.metric LIKE 'disk.%' AND (s.metric LIKE '%.rd\\_bytes' ESCAPE '\\' "
    "OR s.metric LIKE '%.wr\\_bytes' ESCAPE '\\')))"
)
_COLS = "s.entity, e.eid, s.metric, s.source, s.t0, s.t1, s.v_first, s.v_last, s.increase"
#: A block that the window's start or end cuts is read whole with its row, in the one
#: ordered read, rather than by a query of its own.
_CUT = "s.t0 < :lo OR s.t1 > :hi"
_CONTENTS = f"CASE WHEN {_CUT} THEN s.data END, CASE WHEN {_CUT} THEN s.marks END"
_KINDS = "e.kind IN ('vm', 'nic') AND s.gauge = 0"


class Block(NamedTuple):
    """A block as its row holds it: values beyond SQLite's 64 bits are text (`as_num`)."""

    entity_n: int
    entity: str
    metric: str
    source: int
    t0: int
    t1: int
    first: int | float | str
    last: int | float | str
    #: The growth from the block's first reading to its last, resets counted.
    increase: int | float | str
    #: Where its readings are: a sealed block's rowid, or None for the series' open block.
    rowid: int | None
    #: Its data and marks (store/marks.py) when the window cuts it, else None: most
    #: blocks are counted from their `increase`, and their data is never read.
    data: bytes | None
    marks: bytes | None


def contents(store: Store, b: Block) -> tuple[bytes, bytes | None]:
    """A block's data and marks: read with its row if the window cuts it, else now (a
    block cut by a migration only)."""
    data, marks = b.data, b.marks
    if data is None:
        data, marks = block_columns(store, "data, marks", b.rowid, (b.entity_n, b.metric, b.source))
    return bytes(data), None if marks is None else bytes(marks)


def blocks(store: Store, lo: int, hi: int) -> Iterator[Block]:
    """The blocks of accounted counters with a reading in `(lo, hi]`, of every VM and
    NIC, by entity, metric and source, each series' in time order."""
    where = f"s.t1 > :lo AND s.t0 <= :hi AND {_KINDS} AND {_METRICS}"
    rows = store.conn.execute(
        f"SELECT {_COLS}, s.rowid, {_CONTENTS} FROM sample s JOIN entity e ON e.id = s.entity "
        f"WHERE {where} UNION ALL SELECT {_COLS}, NULL, {_CONTENTS} FROM sample_open s "
        f"JOIN entity e ON e.id = s.entity WHERE {where} ORDER BY 1, 3, 4, 5",
        {"lo": lo, "hi": hi},
    )
    return map(Block._make, rows)


@dataclass(frozen=True, slots=True)
class Before:
    """A series' last reading at or before the window's start."""

    entity: str
    metric: str
    source: int
    t: int
    value: Num


def before(store: Store, lo: int) -> list[Before]:
    """Each accounted series' last reading of its blocks that end at or before `lo`. A
    block that runs past `lo` is among `blocks`, whose readings up to `lo` are decoded
    once, there."""
    out: list[Before] = []
    for table in ("sample", "sample_open"):
        # The row of each series with the greatest t1, in SQL both stores take (SQLite's
        # bare columns beside max() are its own).
        rows = store.conn.execute(
            "SELECT eid, metric, source, t1, v_last FROM (SELECT e.eid, s.metric, s.source, "
            "s.t1, s.v_last, row_number() OVER (PARTITION BY s.entity, s.metric, s.source "
            f"ORDER BY s.t1 DESC) AS n FROM {table} s JOIN entity e ON e.id = s.entity "
            f"WHERE s.t1 <= :lo AND {_KINDS} AND {_METRICS}) AS last WHERE n = 1",
            {"lo": lo},
        )
        out += [Before(eid, m, src, t, as_num(v)) for eid, m, src, t, v in rows]
    # A series' open block comes after its sealed ones: it wins.
    found = {(b.entity, b.metric, b.source): b for b in out}
    return list(found.values())
