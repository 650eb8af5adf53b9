"""Counter samples, kept compact: blocks of up to `BLOCK` readings per (entity, metric).

A block stores its first reading in the row (`t0`, `v_first`) and the rest in
`data` as varints: zig-zag delta-of-delta of the timestamps (polled counters
tick at a steady interval, so these are tiny) and zig-zag deltas of the values
(integer counters). A block of gauges (floats) stores raw doubles instead; a
block that must hold both an integer beyond 2^53 and a float (a late reading
of the other type) tags each reading. `increase` is the block's growth
counting resets (a counter that went down restarted from zero), so lifetime
totals need no decoding. A block of integers also keeps marks (store/marks.py): where
its readings stand every `marks.EVERY` readings, so that its growth up to an instant
inside it costs a few readings decoded.

Integers are exact whatever their size: readings go up to 2^64 - 1 (a 64-bit
counter), deltas and totals are Python integers. A float that holds an
integer below 2^53 is that integer (a client that writes `1500.0` for a
counter gets it stored as compactly). The value columns have no type
affinity, so SQLite keeps an integer as INTEGER and a float as REAL; an
integer beyond SQLite's signed 64 bits is stored as its decimal text.

This module writes blocks; store/reads/samples.py reads series and totals back.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vtrail.store import marks as mk
from vtrail.store.interfaces import Store
from vtrail.store.varints import get as _get
from vtrail.store.varints import put as _varint
from vtrail.store.varints import unzz as _unzz
from vtrail.store.varints import zz as _zz

BLOCK = 240
_INT = 0
_FLOAT = 1
_MIXED = 2
_DOUBLE = struct.Struct("<d")
_I64 = (-(2**63), 2**63 - 1)
#: Integers up to this size are exact as doubles.
_DOUBLE_EXACT = 2**53

Num = int | float


def _exact(value: Num) -> Num:
    """An integral float below 2^53 as the integer it is; anything else as it is."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _DOUBLE_EXACT:
        return int(value)
    return value


def _mode(values: Iterable[Num]) -> int:
    values = list(values)
    if all(isinstance(v, int) for v in values):
        return _INT
    return _FLOAT if all(_fits(_FLOAT, v) for v in values) else _MIXED


def _fits(mode: int, value: Num) -> bool:
    """Whether `value` can be appended to a block of `mode`, exact, as it is."""
    if mode == _INT:
        return isinstance(value, int)
    return mode == _MIXED or isinstance(value, float) or abs(value) <= _DOUBLE_EXACT


def _put_value(mode: int, v: Num, prev: Num, out: bytearray) -> None:
    if mode == _INT:
        _varint(_zz(int(v) - int(prev)), out)
    elif mode == _FLOAT:
        out += _DOUBLE.pack(v)
    elif isinstance(v, int):
        out.append(_INT)
        _varint(_zz(v), out)
    else:
        out.append(_FLOAT)
        out += _DOUBLE.pack(v)


def encode(points: list[tuple[int, Num]]) -> bytes:
    """Everything after the first point, which lives in the row itself."""
    return _encode(points)[0]


def _encode(points: list[tuple[int, Num]]) -> tuple[bytes, bytes | None]:
    """The block's data, and its marks (None for a block that holds floats)."""
    mode = _mode(v for _, v in points)
    out = bytearray([mode])
    marks: list[mk.Mark] = []
    prev_t, prev_dt, prev_v = points[0][0], 0, points[0][1]
    grown: Num = 0
    for k, (t, v) in enumerate(points[1:], 1):
        dt = t - prev_t
        _varint(_zz(dt - prev_dt), out)
        _put_value(mode, v, prev_v, out)
        grown += v - prev_v if v >= prev_v else v
        if k % mk.EVERY == 0 and mode == _INT:
            marks.append((t, dt, len(out), int(v), int(grown)))
        prev_t, prev_dt, prev_v = t, dt, v
    return bytes(out), mk.pack(marks, points[0][0], int(points[0][1])) if mode == _INT else None


def decode(t0: int, v0: Num, data: bytes) -> list[tuple[int, Num]]:
    points = [(t0, v0)]
    mode = data[0]
    i, n = 1, len(data)
    t, dt, v = t0, 0, v0

    while i < n:
        z, i = _get(data, i)
        dt += _unzz(z)
        t += dt
        kind = mode
        if mode == _MIXED:
            kind = data[i]
            i += 1
        if kind == _FLOAT:
            v = _DOUBLE.unpack_from(data, i)[0]
            i += 8
        else:
            z, i = _get(data, i)
            v = int(v) + _unzz(z) if mode == _INT else _unzz(z)
        points.append((t, v))
    return points


def _increase(points: list[tuple[int, Num]]) -> Num:
    total: Num = 0
    for (_, a), (_, b) in itertools.pairwise(points):
        total += b - a if b >= a else b
    return total


def _db(v: Num) -> int | float | str:
    """A value as its column holds it."""
    if isinstance(v, int) and not _I64[0] <= v <= _I64[1]:
        return str(v)
    return v


def as_num(v: int | float | str) -> Num:
    """A value as the store holds it, back to the number it is."""
    return int(v) if isinstance(v, str) else v


_COLS = (
    "entity, metric, source, gauge, t0, t1, n, v_first, v_last, increase, dt_last, data, "
    "v_min, v_max, v_sum, marks"
)
_MARKS = ",".join("?" * 16)
#: A series: its entity, metric and the source that read it (0: recorded before 0014).
_SERIES = "entity = ? AND metric = ? AND source = ?"


@dataclass(slots=True)
class _Block:
    entity: int
    metric: str
    source: int
    gauge: bool
    t0: int
    t1: int
    n: int
    v_first: Num
    v_last: Num
    increase: Num
    dt_last: int
    data: bytes
    rowid: int | None  # None: the open block
    #: A gauge block's least, greatest and summed reading (None: a counter's block, or
    #: one written before 0015_gauge_summaries).
    v_min: Num | None = None
    v_max: Num | None = None
    v_sum: Num | None = None
    #: Where its readings stand every `marks.EVERY` (store/marks.py); None: a block that
    #: holds floats, or one begun before 0018_counter_block_marks.
    marks: bytes | None = None

    @classmethod
    def of(
        cls, points: list[tuple[int, Num]], entity: int, metric: str, source: int, gauge: bool
    ) -> _Block:
        dt = points[-1][0] - points[-2][0] if len(points) > 1 else 0
        values = [v for _, v in points]
        data, marks = _encode(points)
        return cls(
            entity,
            metric,
            source,
            gauge,
            points[0][0],
            points[-1][0],
            len(points),
            points[0][1],
            points[-1][1],
            _increase(points),
            dt,
            data,
            None,
            v_min=min(values) if gauge else None,
            v_max=max(values) if gauge else None,
            v_sum=sum(values) if gauge else None,
            marks=marks,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...], rowid: int | None) -> _Block:
        e, m, src, g, t0, t1, n, vf, vl, inc, dt, data, lo, hi, total, marks = row
        return cls(
            e,
            m,
            src,
            bool(g),
            t0,
            t1,
            n,
            as_num(vf),
            as_num(vl),
            as_num(inc),
            dt,
            data,
            rowid,
            v_min=None if lo is None else as_num(lo),
            v_max=None if hi is None else as_num(hi),
            v_sum=None if total is None else as_num(total),
            marks=None if marks is None else bytes(marks),
        )

    def key(self) -> tuple[int, str, int]:
        return (self.entity, self.metric, self.source)

    def row(self) -> tuple[int | str | float | bytes | None, ...]:
        return (
            self.entity,
            self.metric,
            self.source,
            int(self.gauge),
            self.t0,
            self.t1,
            self.n,
            _db(self.v_first),
            _db(self.v_last),
            _db(self.increase),
            self.dt_last,
            self.data,
            *(None if x is None else _db(x) for x in (self.v_min, self.v_max, self.v_sum)),
            self.marks,
        )


class SampleWriter:
    """Adds readings; the same reading twice is kept once, late ones go in their place.

    A series is an entity's metric as one source reads it: two probes reading one
    target's `probe.loss` from two vantages are two series, never interleaved."""

    def __init__(self, store: Store) -> None:
        self.c = store.conn

    def _open(self, key: tuple[int, str, int]) -> _Block | None:
        row = self.c.execute(f"SELECT {_COLS} FROM sample_open WHERE {_SERIES}", key).fetchone()
        return _Block.from_row(row, None) if row else None

    def add(
        self, entity: int, metric: str, ts: int, value: Num, source: int = 0, gauge: bool = False
    ) -> bool:
        """Store one reading; False when it was already there."""
        value = _exact(value)
        key = (entity, metric, source)
        b = self._open(key)
        if b is None:
            if self._sealed_holding(key, ts) is None:
                self._put_open(_Block.of([(ts, value)], *key, gauge), new=True)
                return True
        elif ts > b.t1:
            self._append(b, ts, value)
            return True
        target = b if b is not None and ts >= b.t0 else self._sealed_holding(key, ts)
        if target is None:
            target = b
        assert target is not None
        return self._insert_into(target, ts, value)

    def _append(self, b: _Block, ts: int, value: Num) -> None:
        """The common case: a newer reading, appended without decoding the block."""
        mode = b.data[0]
        if b.n >= BLOCK or not _fits(mode, value):
            # A reading of the other type (a float after integers) starts a block of
            # its own rather than making this one re-encode every reading.
            self.c.execute(f"INSERT INTO sample ({_COLS}) VALUES ({_MARKS})", b.row())
            self._put_open(_Block.of([(ts, value)], *b.key(), b.gauge), new=False)
            return
        dt = ts - b.t1
        tail = bytearray()
        _varint(_zz(dt - b.dt_last), tail)
        _put_value(mode, value, b.v_last, tail)
        increase = b.increase + (value - b.v_last if value >= b.v_last else value)
        summary: tuple[Num | None, ...] = (None, None, None)
        if b.v_min is not None and b.v_max is not None and b.v_sum is not None:
            summary = (min(b.v_min, value), max(b.v_max, value), b.v_sum + value)
        marks = b.marks
        if marks is not None and b.n % mk.EVERY == 0:
            # The block's n-th reading (from 0) is this one: a mark after it.
            mark = (ts, dt, len(b.data) + len(tail), int(value), int(increase))
            marks = mk.append(marks, mark, b.t0, int(b.v_first))
        # Only what an append changes: the first reading stays as its column holds it.
        self.c.execute(
            "UPDATE sample_open SET t1 = ?, n = ?, v_last = ?, increase = ?, dt_last = ?, "
            f"data = ?, v_min = ?, v_max = ?, v_sum = ?, marks = ? WHERE {_SERIES}",
            (
                ts,
                b.n + 1,
                _db(value),
                _db(increase),
                dt,
                b.data + tail,
                *(None if x is None else _db(x) for x in summary),
                marks,
                *b.key(),
            ),
        )

    def _put_open(self, b: _Block, *, new: bool) -> None:
        verb = "INSERT" if new else "INSERT OR REPLACE"
        self.c.execute(f"{verb} INTO sample_open ({_COLS}) VALUES ({_MARKS})", b.row())

    def _sealed_holding(self, key: tuple[int, str, int], ts: int) -> _Block | None:
        """The sealed block a reading at `ts` belongs in (the earliest one if before all)."""
        row = (
            self.c.execute(
                f"SELECT {_COLS}, rowid FROM sample WHERE {_SERIES} AND t0 <= ? "
                "ORDER BY t0 DESC LIMIT 1",
                (*key, ts),
            ).fetchone()
            or self.c.execute(
                f"SELECT {_COLS}, rowid FROM sample WHERE {_SERIES} ORDER BY t0 LIMIT 1", key
            ).fetchone()
        )
        return _Block.from_row(row[:16], row[16]) if row else None

    def _insert_into(self, b: _Block, ts: int, value: Num) -> bool:
        points = decode(b.t0, b.v_first, b.data)
        if any(t == ts for t, _ in points):
            return False
        points.append((ts, value))
        points.sort()
        nb = _Block.of(points, *b.key(), b.gauge)
        if b.rowid is None:
            self._put_open(nb, new=False)
        else:
            self.c.execute(
                "UPDATE sample SET t0 = ?, t1 = ?, n = ?, v_first = ?, v_last = ?, increase = ?, "
                "dt_last = ?, data = ?, v_min = ?, v_max = ?, v_sum = ?, marks = ? "
                "WHERE rowid = ?",
                (*nb.row()[4:], b.rowid),
            )
        return True


def add_many(writer: SampleWriter, readings: Iterable[tuple[int, str, int, Num]]) -> int:
    return sum(writer.add(e, m, t, v) for e, m, t, v in readings)
