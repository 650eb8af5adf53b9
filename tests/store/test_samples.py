"""Counter blocks: exact round trips, late and duplicate readings, totals across resets."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from vtrail.store import SqliteStore
from vtrail.store import samples as s


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
    assert s.series(store, e, "rx_bytes") == sorted(truth)
    (tot,) = s.totals(store, e)
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
