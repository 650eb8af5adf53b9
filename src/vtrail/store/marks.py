"""A counter block's marks: where its readings stand every `EVERY` readings, so that a
question whose window starts or ends inside a block decodes a few readings, not all.

Accounting bills a counter's growth to the window and to the stretch of a VM's life each
reading falls in (accounting/usage.py), so a block cut by the window's start, its end or
a migration needs its growth up to an instant: up to its last reading at or before it,
resets counted as store/samples.py counts them. A mark, kept at record time after every
`EVERY`-th reading of a block of integers, holds that reading's instant and value, the
block's growth so far, and where decoding stands (the byte after the reading in `data`
and the time step the next delta-of-delta is from). The growth up to any instant is
then the last mark's at or before it, plus at most `EVERY - 1` readings decoded on.

`marks` column (BLOB): the count (uint16); the marks' instants (int64 each: one `struct`
call and a bisection find the mark); per mark, where its record starts after the
table and where decoding resumes in `data` (uint16 each: a block grown past 64 KiB by
late readings has no marks); then the records, varints of
the time step (less the mean step since the mark before: 0 for a steady poll), the
value less the block's first, and the growth less that difference (0 until a reset).
Integers of any size stay exact.

A block holding floats has no marks (NULL), nor has one written before
0018_counter_block_marks, an open block begun before it, or a block grown past 64 KiB:
those are decoded whole.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence

from vtrail.store.varints import get, put, unzz, zz

#: Readings between two marks: a cut decodes 8 readings on average, for about 20 bytes a
#: mark. A block's row then stays within half a page (the 240 readings of a polled
#: counter take 1.2 to 1.5 KB), so that two still fit in a page of 4 KiB: at 8, a row
#: of 10-s NIC counters outgrew it and took a page to itself.
EVERY = 16
_COUNT = struct.Struct("<H")
_AT = struct.Struct("<q")
_WHERE = struct.Struct("<HH")
#: What a `_WHERE` field holds: a block larger (grown by late readings) has no marks.
_FAR = 0xFFFF
#: The marks of a block of integers with fewer than `EVERY` readings.
NONE = _COUNT.pack(0)

#: A mark: a reading's instant, the time step to it, where decoding resumes after it,
#: its value and the block's growth up to it.
Mark = tuple[int, int, int, int, int]


def _record(mark: Mark, since: int, v0: int) -> bytes:
    """A mark's varints; `since` is the instant of the mark before (or of the block's
    first reading): the time step is kept as its difference from the mean step since,
    0 for a steady poll."""
    t, dt, _pos, v, grown = mark
    out = bytearray()
    put(zz(dt - (t - since) // EVERY), out)
    put(zz(v - v0), out)
    put(zz(grown - (v - v0)), out)
    return bytes(out)


def pack(marks: Sequence[Mark], t0: int, v0: int) -> bytes | None:
    """The marks of a block whose first reading is `(t0, v0)`."""
    table, where, records = bytearray(), bytearray(), bytearray()
    since = t0
    for m in marks:
        if len(records) > _FAR or m[2] > _FAR:
            return None
        table += _AT.pack(m[0])
        where += _WHERE.pack(len(records), m[2])
        records += _record(m, since, v0)
        since = m[0]
    return _COUNT.pack(len(marks)) + table + where + records


def append(blob: bytes, mark: Mark, t0: int, v0: int) -> bytes | None:
    """`blob` with one more mark, after the last (a reading appended to the open block)."""
    m = _COUNT.unpack_from(blob)[0]
    table, where = 2 + 8 * m, 2 + 12 * m
    since = _AT.unpack_from(blob, table - 8)[0] if m else t0
    if len(blob) - where > _FAR or mark[2] > _FAR:
        return None
    return b"".join(
        (
            _COUNT.pack(m + 1),
            blob[2:table],
            _AT.pack(mark[0]),
            blob[table:where],
            _WHERE.pack(len(blob) - where, mark[2]),
            blob[where:],
            _record(mark, since, v0),
        )
    )


def growth_at(t0: int, v0: int, data: bytes, blob: bytes, xs: Sequence[int]) -> list[int]:
    """The block's growth from its first reading up to its last at or before each of `xs`
    (ascending): 0 before its second reading."""
    m = _COUNT.unpack_from(blob)[0]
    ats = struct.unpack_from(f"<{m}q", blob, 2)
    where, records = 2 + 8 * m, 2 + 12 * m
    # Where decoding stands: after the reading at `t` of value `v`.
    pos, t, dt, v, grown = 1, t0, 0, v0, 0
    n = len(data)
    out: list[int] = []
    for x in xs:
        j = bisect.bisect_right(ats, x) - 1
        if j >= 0 and ats[j] > t:
            rec, pos = _WHERE.unpack_from(blob, where + 4 * j)
            zdt, i = get(blob, records + rec)
            zv, i = get(blob, i)
            zr, _ = get(blob, i)
            t, v = ats[j], v0 + unzz(zv)
            dt = unzz(zdt) + (t - (ats[j - 1] if j else t0)) // EVERY
            grown = v - v0 + unzz(zr)
        while pos < n:
            # The two varints of a reading, read here rather than by `get`: this loop is
            # what a cut costs.
            z = data[pos]
            i = pos + 1
            if z > 0x7F:
                z &= 0x7F
                shift = 7
                while (c := data[i]) > 0x7F:
                    z |= (c & 0x7F) << shift
                    shift += 7
                    i += 1
                z |= c << shift
                i += 1
            step = dt + ((z >> 1) ^ -(z & 1))
            if t + step > x:
                break
            z = data[i]
            i += 1
            if z > 0x7F:
                z &= 0x7F
                shift = 7
                while (c := data[i]) > 0x7F:
                    z |= (c & 0x7F) << shift
                    shift += 7
                    i += 1
                z |= c << shift
                i += 1
            nv = v + ((z >> 1) ^ -(z & 1))
            grown += nv - v if nv >= v else nv
            pos, t, dt, v = i, t + step, step, nv
        out.append(grown)
    return out
