"""Counter blocks: exact round trips, late and duplicate readings, totals across resets."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtrail.store import SqliteStore
from vtrail.store import samples as s
from vtrail.store.dialect import SQLITE
from vtrail.store.reads.samples import series, totals

pytestmark = pytest.mark.both_stores


@given(
    st.lists(
        st.tuples(st.integers(0, 10**13), st.one_of(st.integers(0, 2**50), st.floats(0, 1e12))),
        min_size=1,
        max_size=60,
        unique_by=lambda p: p[0],
    )
)
def test_encode_decode_round_trip(points: list[tuple[int, float]]) -> None:
    pts = sorted((t, float(v)) for t, v in points)
    assert s.decode(pts[0][0], pts[0][1], s.encode(pts)) == pts


def test_any_arrival_order_gives_the_same_series(store: SqliteStore) -> None:
    e = store.entity_id("port:h/vnet0", create=True)
    rng = random.Random(7)
    truth, v = [], 0
    for k in range(s.BLOCK * 3 + 17):
        v += rng.randrange(0, 10_000) if k % 200 else -v  # a counter reset now and then
        truth.append((1_000_000 * 10 * k + rng.randrange(-900, 900), float(v)))
    order = truth[:]
    rng.shuffle(order[: len(order) // 2])  # the first half arrives shuffled
    w = s.SampleWriter(store)
    for t, val in order + truth[:50]:  # then some duplicates
        w.add(e, "rx_bytes", t, val)
    assert series(store, e, "rx_bytes") == sorted(truth)
    (tot,) = totals(store, e)
    expected = sum(
        b - a if b >= a else b
        for (_, a), (_, b) in zip(sorted(truth), sorted(truth)[1:], strict=False)
    )
    assert tot.total == expected and tot.count == len(truth) and tot.last == sorted(truth)[-1][1]


def test_sealed_blocks_are_compact(store: SqliteStore) -> None:
    e = store.entity_id("port:h/vnet0", create=True)
    w = s.SampleWriter(store)
    for k in range(s.BLOCK * 4):
        w.add(e, "tx_bytes", 10_000_000 * k, float(1_500 * k))
    sizes = [len(r[0]) for r in store.conn.execute("SELECT data FROM sample")]
    assert len(sizes) == 3
    assert all(size <= 3 * s.BLOCK + 8 for size in sizes)  # ~3 bytes per steady reading


TOP = 2**64 - 1


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**13),
            st.one_of(st.integers(-(2**63), TOP), st.floats(allow_nan=False, allow_infinity=False)),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda p: p[0],
    )
)
def test_any_mix_of_integers_and_floats_round_trips_exactly(
    points: list[tuple[int, float]],
) -> None:
    pts = sorted(points)
    got = s.decode(pts[0][0], pts[0][1], s.encode(pts))
    assert got == pts
    # Integers beyond 2^53 come back as the same integers, not as floats near them.
    assert all(
        type(a) is type(b) for (_, a), (_, b) in zip(got, pts, strict=True) if abs(b) > 2**53
    )


def test_counters_up_to_2_64_are_exact_in_blocks_and_totals(store: SqliteStore) -> None:
    e = store.entity_id("vm:busy", create=True)
    w = s.SampleWriter(store)
    start = TOP - 3 * s.BLOCK * 1_000  # a 64-bit counter that ends at its very top
    truth = [(10_000_000 * k, start + 1_000 * k + k % 7) for k in range(3 * s.BLOCK)]
    with store.write():
        for t, v in truth:
            assert w.add(e, "cpu_time_ns", t, v)
        assert not w.add(e, "cpu_time_ns", *truth[5])  # the same reading twice is kept once
    assert truth[-1][1] <= TOP and truth[-1][1] > 2**63
    assert series(store, e, "cpu_time_ns") == truth
    assert all(type(v) is int for _, v in series(store, e, "cpu_time_ns"))
    (tot,) = totals(store, e)
    assert (tot.first, tot.last) == (truth[0][1], truth[-1][1])
    assert tot.total == truth[-1][1] - truth[0][1] and type(tot.total) is int
    # Beyond SQLite's signed 64 bits a value is kept as its decimal text, not a REAL
    # (PostgreSQL's column is NUMERIC, exact by its type).
    if store.dialect is SQLITE:
        kinds = {r[0] for r in store.conn.execute("SELECT typeof(v_last) FROM sample")}
        assert kinds == {"text"}


def test_a_value_above_2_53_costs_an_append_not_a_rewrite(store: SqliteStore) -> None:
    e = store.entity_id("vm:busy", create=True)
    w = s.SampleWriter(store)
    calls = 0
    real = s.decode

    def counting(*args: object) -> object:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    low = store.entity_id("vm:idle", create=True)
    s.decode = counting  # type: ignore[assignment]
    try:
        for k in range(100):
            w.add(e, "cpu_time_ns", 10_000_000 * k, 2**60 + 12_345 * k)
            w.add(low, "cpu_time_ns", 10_000_000 * k, 12_345 * k)
    finally:
        s.decode = real
    assert calls == 0
    big, small = (
        store.conn.execute("SELECT length(data) FROM sample_open WHERE entity = ?", (n,)).fetchone()
        for n in (e, low)
    )
    assert big == small  # the same few bytes a reading above 2^53 as below it


def test_late_readings_of_the_other_type_keep_both_exact(store: SqliteStore) -> None:
    e = store.entity_id("probe:a", create=True)
    w = s.SampleWriter(store)
    truth = [(k * 10, 2**62 + k) for k in range(0, 40, 2)]
    for t, v in truth:
        w.add(e, "m", t, v)
    late = [(k * 10, k + 0.25) for k in range(1, 40, 4)]
    for t, v in late:
        w.add(e, "m", t, v)
    w.add(e, "m", 1000, 0.5)  # a float after integers: a block of its own, not a rewrite
    w.add(e, "m", 1010, 2**63 + 1)
    assert series(store, e, "m") == sorted([*truth, *late, (1000, 0.5), (1010, 2**63 + 1)])


def test_an_integral_float_is_stored_as_the_integer_it_is(store: SqliteStore) -> None:
    e = store.entity_id("port:h/vnet0", create=True)
    w = s.SampleWriter(store)
    for k in range(10):
        w.add(e, "tx_bytes", k, float(1_500 * k))
    assert series(store, e, "tx_bytes") == [(k, 1_500 * k) for k in range(10)]
    assert all(type(v) is int for _, v in series(store, e, "tx_bytes"))
    (data,) = store.conn.execute("SELECT data FROM sample_open").fetchone()
    assert data[0] == 0 and len(data) < 30  # varints, not doubles


def test_totals_count_from_zero_at_a_birth_seen_while_recording(store: SqliteStore) -> None:
    e = store.entity_id("port:sw/ghost0", create=True)
    w = s.SampleWriter(store)
    for t, v in ((100, 400_000_000), (110, 1_000_000_000), (120, 300_000_000), (130, 900_000_000)):
        w.add(e, "tx_bytes", t, v)  # a reset at 120
    w.add(e, "rtt_ms", 100, 0.75)
    w.add(e, "rtt_ms", 110, 0.5)
    after_first = 600_000_000 + 300_000_000 + 600_000_000
    by = {x.metric: x for x in totals(store, e)}
    assert by["tx_bytes"].total == after_first and not by["tx_bytes"].from_birth
    gauge = by["rtt_ms"]
    by = {x.metric: x for x in totals(store, e, born=100)}
    assert by["tx_bytes"].total == 400_000_000 + after_first and by["tx_bytes"].from_birth
    assert by["rtt_ms"] == gauge  # a gauge did not count anything from zero
    # A reading from before the recorded birth: the counter did not start then.
    by = {x.metric: x for x in totals(store, e, born=105)}
    assert by["tx_bytes"].total == after_first
