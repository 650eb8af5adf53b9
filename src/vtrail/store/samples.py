"""Counter samples, kept compact: blocks of up to `BLOCK` readings per (entity, metric).

A block stores its first reading in the row (`t0`, `v_first`) and the rest in
`data` as varints: zig-zag delta-of-delta of the timestamps (polled counters
tick at a steady interval, so these are tiny) and zig-zag deltas of the values
(integer counters). A block whose values are not all integers stores them as
raw doubles instead. `increase` is the block's growth counting resets (a
counter that went down restarted from zero), so lifetime totals need no
decoding.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from vtrail.store.sqlite import SqliteStore

BLOCK = 240
_INT = 0
_FLOAT = 1
_MAX_EXACT = 2**53


@dataclass(frozen=True, slots=True)
class SeriesTotal:
    metric: str
    first_ts: int
    last_ts: int
    first: float
    last: float
    total: float
    count: int


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63) if n >= -(2**63) and n < 2**63 else _overflow(n)


def _overflow(n: int) -> int:
    raise ValueError(f"counter step {n} out of range")


def _unzz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def encode(points: list[tuple[int, float]]) -> bytes:
    """Everything after the first point, which lives in the row itself."""
    exact = all(v.is_integer() and abs(v) < _MAX_EXACT for _, v in points)
    out = bytearray([_INT if exact else _FLOAT])
    prev_t, prev_dt, prev_v = points[0][0], 0, points[0][1]
    for t, v in points[1:]:
        dt = t - prev_t
        _varint(_zz(dt - prev_dt), out)
        if exact:
            _varint(_zz(int(v) - int(prev_v)), out)
        else:
            out += struct.pack("<d", v)
        prev_t, prev_dt, prev_v = t, dt, v
    return bytes(out)


def decode(t0: int, v0: float, data: bytes) -> list[tuple[int, float]]:
    points = [(t0, v0)]
    exact = data[0] == _INT
    i, n = 1, len(data)
    t, dt, v = t0, 0, v0

    def read() -> int:
        nonlocal i
        shift = result = 0
        while True:
            b = data[i]
            i += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    while i < n:
        dt += _unzz(read())
        t += dt
        if exact:
            v = float(int(v) + _unzz(read()))
        else:
            v = struct.unpack_from("<d", data, i)[0]
            i += 8
        points.append((t, v))
    return points


def _increase(points: list[tuple[int, float]]) -> float:
    total = 0.0
    for (_, a), (_, b) in itertools.pairwise(points):
        total += b - a if b >= a else b
    return total


class SampleWriter:
    """Adds readings; the same reading twice is kept once, late ones go in their place."""

    def __init__(self, store: SqliteStore) -> None:
        self.c = store.conn

    def add(self, entity: int, metric: str, ts: int, value: float) -> bool:
        """Store one reading; False when it was already there."""
        row = self.c.execute(
            "SELECT t0, t1, n, v_first, data FROM sample WHERE entity = ? AND metric = ? "
            "AND t0 <= ? ORDER BY t0 DESC LIMIT 1",
            (entity, metric, ts),
        ).fetchone()
        if row is None:
            nxt = self.c.execute(
                "SELECT t0 FROM sample WHERE entity = ? AND metric = ? AND t0 > ? "
                "ORDER BY t0 LIMIT 1",
                (entity, metric, ts),
            ).fetchone()
            if nxt is not None:
                return self._insert_into(entity, metric, int(nxt[0]), ts, value)
            self._write(entity, metric, None, [(ts, value)])
            return True
        t0, t1, n, _v0, _data = row
        if ts > t1 and n < BLOCK:
            return self._insert_into(entity, metric, t0, ts, value)
        if ts > t1:
            self._write(entity, metric, None, [(ts, value)])
            return True
        return self._insert_into(entity, metric, t0, ts, value)

    def _insert_into(self, entity: int, metric: str, t0: int, ts: int, value: float) -> bool:
        row = self.c.execute(
            "SELECT v_first, data FROM sample WHERE entity = ? AND metric = ? AND t0 = ?",
            (entity, metric, t0),
        ).fetchone()
        points = decode(t0, row[0], row[1])
        if any(t == ts for t, _ in points):
            return False
        points.append((ts, value))
        points.sort()
        self._write(entity, metric, t0, points)
        return True

    def _write(
        self, entity: int, metric: str, old_t0: int | None, points: list[tuple[int, float]]
    ) -> None:
        if old_t0 is not None:
            self.c.execute(
                "DELETE FROM sample WHERE entity = ? AND metric = ? AND t0 = ?",
                (entity, metric, old_t0),
            )
        self.c.execute(
            "INSERT INTO sample (entity, metric, t0, t1, n, v_first, v_last, increase, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entity,
                metric,
                points[0][0],
                points[-1][0],
                len(points),
                points[0][1],
                points[-1][1],
                _increase(points),
                encode(points),
            ),
        )


def series(
    store: SqliteStore, entity: int, metric: str, t_from: int | None = None, t_to: int | None = None
) -> list[tuple[int, float]]:
    """Readings of one series, optionally within `[t_from, t_to]`."""
    lo = t_from if t_from is not None else -(2**62)
    hi = t_to if t_to is not None else 2**62
    rows = store.conn.execute(
        "SELECT t0, v_first, data FROM sample WHERE entity = ? AND metric = ? "
        "AND t1 >= ? AND t0 <= ? ORDER BY t0",
        (entity, metric, lo, hi),
    )
    return [p for t0, v0, data in rows for p in decode(t0, v0, data) if lo <= p[0] <= hi]


def metrics(store: SqliteStore, entity: int) -> list[str]:
    rows = store.conn.execute("SELECT DISTINCT metric FROM sample WHERE entity = ?", (entity,))
    return sorted(r[0] for r in rows)


def totals(store: SqliteStore, entity: int) -> list[SeriesTotal]:
    """Per metric: first and last reading and the growth over the whole life, resets counted."""
    rows = store.conn.execute(
        "SELECT metric, t0, t1, n, v_first, v_last, increase FROM sample WHERE entity = ? "
        "ORDER BY metric, t0",
        (entity,),
    ).fetchall()
    out: list[SeriesTotal] = []
    by_metric: dict[str, list[tuple[int, int, int, float, float, float]]] = {}
    for metric, *rest in rows:
        by_metric.setdefault(metric, []).append(tuple(rest))
    for metric, blocks in by_metric.items():
        total = 0.0
        prev_last: float | None = None
        for _t0, _t1, _n, first, last, inc in blocks:
            if prev_last is not None:
                total += first - prev_last if first >= prev_last else first
            total += inc
            prev_last = last
        out.append(
            SeriesTotal(
                metric,
                blocks[0][0],
                blocks[-1][1],
                blocks[0][3],
                blocks[-1][4],
                total,
                sum(b[2] for b in blocks),
            )
        )
    return out


def add_many(writer: SampleWriter, readings: Iterable[tuple[int, str, int, float]]) -> int:
    return sum(writer.add(e, m, t, v) for e, m, t, v in readings)
