"""A counter block's marks (store/marks.py): the growth up to any instant read from them
is the growth a full decode of the block counts, however the block was written."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtrail.store import SqliteStore, Store
from vtrail.store import marks as mk
from vtrail.store import samples as s
from vtrail.store import sqlite as sqlite_store
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.reads.samples import series, totals

TOP = 2**64 - 1
MARKS = "0018_counter_block_marks"


def grown_by_decode(points: list[tuple[int, int]], x: int) -> int:
    """The growth up to the last reading at or before `x`, reading by reading."""
    return sum(b - a if b >= a else b for (_, a), (t, b) in itertools.pairwise(points) if t <= x)


#: A counter: steady growth, with resets (a step back to a small value) and readings
#: near the top of 64 bits.
counting = st.lists(
    st.tuples(
        st.integers(1, 10**10),
        st.one_of(st.integers(0, 10**12), st.integers(-(2**53), -1), st.just(None)),
    ),
    min_size=1,
    max_size=3 * mk.EVERY * 5,
)


def as_points(start: int, steps: list[tuple[int, int | None]]) -> list[tuple[int, int]]:
    t, v, out = 1_700_000_000_000_000, start, []
    for dt, grow in steps:
        t += dt
        # None: a reset; a negative growth: a reading lower than the last, also a reset.
        v = 0 if grow is None else max(0, v + grow) if v + grow <= TOP + 2**20 else grow % 7
        out.append((t, v))
    return out


@given(st.data(), st.integers(0, TOP), counting)
def test_the_growth_up_to_any_instant_is_the_full_decodes(
    data: st.DataObject, start: int, steps: list[tuple[int, int | None]]
) -> None:
    points = as_points(start, steps)
    block, marks = s._encode(points)
    assert marks is not None
    t0, v0, end = points[0][0], points[0][1], points[-1][0]
    # Anywhere: before the block, on a reading, between two, after it.
    xs = sorted(
        data.draw(
            st.lists(
                st.one_of(st.integers(t0 - 5, end + 5), st.sampled_from([t for t, _ in points])),
                max_size=8,
            )
        )
    )
    assert mk.growth_at(t0, v0, block, marks, xs) == [grown_by_decode(points, x) for x in xs]


def test_a_block_of_floats_has_no_marks() -> None:
    assert s._encode([(1, 0.5), (2, 1.5)])[1] is None
    assert s._encode([(1, 2**62), (2, 0.5)])[1] is None
    assert s._encode([(1, 2), (2, 3)])[1] == mk.NONE


def test_a_block_grown_past_64_kib_has_none() -> None:
    """Late readings can grow a sealed block past what a mark's 16-bit offsets reach."""
    rng = random.Random(5)
    points = [(k * 1_000_003 + rng.randrange(999), rng.randrange(TOP)) for k in range(8000)]
    data, marks = s._encode(points)
    assert len(data) > 0xFFFF and marks is None
    assert s._encode(points[:2000])[1] is not None


def stored_blocks(store: Store) -> list[tuple[int, int, bytes, bytes | None]]:
    rows = [
        *store.conn.execute("SELECT t0, v_first, data, marks FROM sample ORDER BY t0"),
        *store.conn.execute("SELECT t0, v_first, data, marks FROM sample_open"),
    ]
    return [
        (t0, int(s.as_num(v0)), bytes(d), None if m is None else bytes(m)) for t0, v0, d, m in rows
    ]


@pytest.mark.both_stores
def test_marks_kept_reading_by_reading_are_those_of_the_whole_block(store: Store) -> None:
    """Appends add a mark every `EVERY` readings; a late reading re-encodes its block: the
    marks stored are those the block's readings make, and answer as a decode does."""
    e = store.entity_id("vm:busy", create=True)
    rng = random.Random(18)
    truth, v = [], 2**60
    for k in range(3 * s.BLOCK + 40):
        v = v + rng.randrange(10**9) if k % 97 else rng.randrange(1000)  # resets
        truth.append((10_000_000 * k + rng.randrange(-4000, 4000), v))
    late = set(rng.sample(range(len(truth)), 30))
    w = s.SampleWriter(store)
    with store.write():
        for k, (t, val) in enumerate(truth):
            if k not in late:
                w.add(e, "cpu_time_ns", t, val)
        for k in sorted(late):
            w.add(e, "cpu_time_ns", *truth[k])
    assert series(store, e, "cpu_time_ns") == truth
    blocks = stored_blocks(store)
    assert len(blocks) == 4
    for t0, v0, data, marks in blocks:
        points = s.decode(t0, v0, data)
        assert marks == s._encode([(t, int(x)) for t, x in points])[1]
        assert marks is not None
        assert int.from_bytes(marks[:2], "little") == (len(points) - 1) // mk.EVERY
        xs = sorted(rng.randrange(t0 - 10, points[-1][0] + 10) for _ in range(20))
        got = mk.growth_at(t0, v0, data, marks, xs)
        assert got == [grown_by_decode(points, x) for x in xs]  # type: ignore[arg-type]


def test_blocks_written_before_0018_keep_no_marks_and_the_writer_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store from before marks: its blocks stay without (NULL), the open one too until
    it is sealed; the blocks begun after the migration have them."""
    fresh = SqliteStore(tmp_path / "writer.db")
    e = fresh.entity_id("vm:busy", create=True)
    w = s.SampleWriter(fresh)
    truth = [(10_000_000 * k, 2**62 + 1000 * k if k % 300 else k) for k in range(s.BLOCK + 50)]
    with fresh.write():
        for t, v in truth:
            w.add(e, "cpu_time_ns", t, v)
    cols = "entity, metric, source, gauge, t0, t1, n, v_first, v_last, increase, dt_last, data"
    rows = {t: fresh.conn.execute(f"SELECT {cols} FROM {t}").fetchall() for t in s_tables()}
    fresh.close()
    with monkeypatch.context() as m:
        m.setattr(sqlite_store, "MIGRATIONS", [x for x in MIGRATIONS if x.name < MARKS])
        old = SqliteStore(tmp_path / "old.db")
        assert old.entity_id("vm:busy", create=True) == e
        with old.write():
            for table, found in rows.items():
                old.conn.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * 12)})", found
                )
        old.close()
    store = SqliteStore(tmp_path / "old.db")  # applies 0018
    assert MARKS in {name for name, _ in store.migrations()}
    assert [b[3] for b in stored_blocks(store)] == [None, None]
    more = [(10_000_000 * k, 2**62 + 1000 * k) for k in range(s.BLOCK + 50, 2 * s.BLOCK + 60)]
    w = s.SampleWriter(store)
    with store.write():
        for t, v in more:
            w.add(e, "cpu_time_ns", t, v)
    assert series(store, e, "cpu_time_ns") == truth + more
    (tot,) = totals(store, e)
    assert tot.total == grown_by_decode(truth + more, more[-1][0])
    blocks = stored_blocks(store)
    # The two old blocks (the open one sealed as it was begun), then one begun since.
    assert [b[3] is None for b in blocks] == [True, True, False]
    t0, v0, data, marks = blocks[2]
    assert marks is not None
    points = s.decode(t0, v0, data)
    xs = [t for t, _ in points]
    assert mk.growth_at(t0, v0, data, marks, xs) == [
        grown_by_decode(points, x)  # type: ignore[arg-type]
        for x in xs
    ]
    store.close()


def s_tables() -> tuple[str, str]:
    return ("sample", "sample_open")
