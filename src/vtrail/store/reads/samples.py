"""The counter questions' SQL: the readings of a series, the metrics an entity has, and
the totals over its life, read from the blocks of store/samples.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import bounds
from vtrail.store.samples import Num, as_num, decode


def block_data(
    store: Store, rowid: int | None, series: tuple[int, str, int] | None = None
) -> bytes:
    """A block's readings after its first, for a reader that read its row without them:
    a sealed block's by its rowid, the open one (which has none) by its series
    (entity, metric, source)."""
    return bytes(block_columns(store, "data", rowid, series)[0])


def block_columns(
    store: Store, cols: str, rowid: int | None, series: tuple[int, str, int] | None = None
) -> tuple[Any, ...]:
    """Columns of one block's row, found as `block_data` finds it."""
    if rowid is not None:
        row = store.conn.execute(f"SELECT {cols} FROM sample WHERE rowid = ?", (rowid,))
    else:
        assert series is not None, "the open block is found by its series"
        row = store.conn.execute(
            f"SELECT {cols} FROM sample_open WHERE entity = ? AND metric = ? AND source = ?",
            series,
        )
    return tuple(row.fetchone())


@dataclass(frozen=True, slots=True)
class SeriesTotal:
    metric: str
    #: The source that read it (0: recorded before series were told apart by source).
    source: int
    #: A series of levels (a probe's loss): `total` is its growth, which means nothing.
    gauge: bool
    first_ts: int
    last_ts: int
    first: Num
    last: Num
    total: Num
    count: int
    #: True when the entity was born while vtrail was recording and the total
    #: counts from zero at its birth (store/births.py), not from the first reading.
    from_birth: bool = False


_BLOCKS = (
    "SELECT {cols} FROM sample WHERE entity = :e{m} UNION ALL "
    "SELECT {cols} FROM sample_open WHERE entity = :e{m} ORDER BY {order}"
)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A series of an entity: its metric as one source read it."""

    metric: str
    source: int
    gauge: bool


def series(
    store: Store,
    entity: int,
    metric: str,
    t_from: int | None = None,
    t_to: int | None = None,
    source: int | None = None,
) -> list[tuple[int, Num]]:
    """Readings of one series, optionally within `[t_from, t_to]`; of the one `source`
    read (None: the one source that read it; of several, their readings in time order)."""
    lo, hi = bounds(t_from, t_to)
    which = " AND metric = :m" + ("" if source is None else " AND source = :s")
    sql = _BLOCKS.format(cols="t0, t1, v_first, data", m=which, order="t0")
    rows = store.conn.execute(sql, {"e": entity, "m": metric, "s": source})
    return [
        p
        for t0, t1, v0, data in rows
        if t1 >= lo and t0 <= hi
        for p in decode(t0, as_num(v0), data)
        if lo <= p[0] <= hi
    ]


def metrics(store: Store, entity: int) -> list[SeriesKey]:
    """Every series of an entity, by metric then source."""
    sql = _BLOCKS.format(cols="metric, source, gauge", m="", order="metric, source")
    return sorted(
        {SeriesKey(m, s, bool(g)) for m, s, g in store.conn.execute(sql, {"e": entity})},
        key=lambda k: (k.metric, k.source),
    )


def totals(store: Store, entity: int, born: int | None = None) -> list[SeriesTotal]:
    """Per metric: first and last reading and the growth over the whole life, resets counted.

    `born` is the instant of the entity's birth if it was born while vtrail was
    recording (store/births.py): a counter then counted from zero at that
    instant, so what it read first is part of what it carried. That holds for
    integer counters read at or after the birth; a gauge (a float) or a reading
    from before the recorded birth keeps the growth from its first reading.
    """
    sql = _BLOCKS.format(
        cols="metric, source, gauge, t0, t1, n, v_first, v_last, increase", m="", order="1, 2, 4"
    )
    rows = store.conn.execute(sql, {"e": entity}).fetchall()
    out: list[SeriesTotal] = []
    by_series: dict[SeriesKey, list[tuple[int, int, int, Num, Num, Num]]] = {}
    for metric, source, gauge, t0, t1, n, first, last, inc in rows:
        by_series.setdefault(SeriesKey(metric, source, bool(gauge)), []).append(
            (t0, t1, n, as_num(first), as_num(last), as_num(inc))
        )
    for key, blocks in by_series.items():
        t0, first = blocks[0][0], blocks[0][3]
        from_birth = (
            born is not None
            and not key.gauge
            and t0 >= born
            and isinstance(first, int)
            and first >= 0
        )
        total: Num = first if from_birth else 0
        prev_last: Num | None = None
        for _t0, _t1, _n, head, last, inc in blocks:
            if prev_last is not None:
                total += head - prev_last if head >= prev_last else head
            total += inc
            prev_last = last
        out.append(
            SeriesTotal(
                key.metric,
                key.source,
                key.gauge,
                t0,
                blocks[-1][1],
                first,
                blocks[-1][4],
                total,
                sum(b[2] for b in blocks),
                from_birth,
            )
        )
    return out
