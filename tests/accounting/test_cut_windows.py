"""`account` over windows that start and end anywhere inside counter blocks: what the
blocks' marks give (store/marks.py) is what decoding every reading gives, to the unit.

The store is the story's fabric (story.py: web-1 migrating at hour 4, db-1 paused, shut
off and started again) with dense counters written through the sample writer: a
reading every 20 s, so that each series has several blocks of 240. The same store with
its marks removed (as blocks written before 0018_counter_block_marks have none) is
answered by decoding every cut block whole, reading by reading: the reference.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting.story import (
    BATCH,
    DB,
    HV_A,
    HV_B,
    POLICY,
    SRC_A,
    SRC_B,
    WEB,
    WEB_NIC,
    H,
    observations,
)
from factory import at
from stores import STORES, copy, location
from vtrail.accounting import usage as usage_module
from vtrail.accounting.account import account
from vtrail.accounting.stretches import Fabric, Place, Stretch, fabric
from vtrail.accounting.usage import Used, _Places, usage
from vtrail.policy.load import parse_policy
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store
from vtrail.store import samples as s
from vtrail.store.reads.account import Block
from vtrail.timeexpr import to_us
from vtrail.triage.derive import derivers

EVERY_S = 20
TOP = 2**64 - 1
US = 10**6
#: (entity, metric, source, from hour, to hour): each a series of its own.
SERIES = [
    (WEB, "cpu_time_ns", SRC_A, 0, 4),  # web-1 on hv-a, then hv-b's series takes over
    (WEB, "cpu_time_ns", SRC_B, 4, 10),
    (WEB_NIC, "rx_bytes", SRC_A, 0, 10),  # one series across the migration
    (DB, "cpu_time_ns", SRC_A, 0, 10),  # resets when db-1 restarts, near 2^64 before
    (DB, "disk.vda.rd_bytes", SRC_A, 0, 10),
    (BATCH, "cpu_time_ns", SRC_B, 0, 10),  # a third of its readings arrive late
]


def readings(k: int, start: int, end: int) -> list[tuple[int, int]]:
    rng = random.Random(k)
    v = TOP - 10**15 if k == 3 else 2**60 if k == 0 else rng.randrange(10**6)
    out = []
    for n in range(start * H // EVERY_S, end * H // EVERY_S + 1):
        t = to_us(at(n * EVERY_S)) + rng.randrange(-2000, 2000)
        # db-1's counter restarts with its process at hour 7, and wraps past 2^64 once.
        v = rng.randrange(10**9) if (k == 3 and n == 7 * H // EVERY_S) else v
        v = v + rng.randrange(10**9) if v < TOP - 10**9 else rng.randrange(100)
        out.append((t, v))
    return out


def dense(path: Path) -> Path:
    store = open_store(path)
    store.derivers = derivers()
    Recorder(store).record([dataclasses.replace(o, samples=()) for o in observations()])
    w = s.SampleWriter(store)
    with store.write():
        for k, (entity, metric, src, start, end) in enumerate(SERIES):
            e, source = store.entity_id(entity), store.source_id(src)
            points = readings(k, start, end)
            late = points[::3] if entity == BATCH else []
            for t, v in [p for p in points if p not in late] + late:
                w.add(e, metric, t, v, source)
    store.close()
    return path


def unmarked(path: Path) -> Path:
    store = open_store(path)
    with store.write():
        store.conn.execute("UPDATE sample SET marks = NULL")
        store.conn.execute("UPDATE sample_open SET marks = NULL")
    store.close()
    return path


@pytest.fixture(scope="module", params=STORES)
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Store]]:
    """Both on SQLite files, then both on a real PostgreSQL server."""
    d = tmp_path_factory.mktemp("cut")
    written = dense(Path(location(request, request.param, d / "marked.db")))
    plain = open_store(unmarked(Path(copy(request, written, d / "plain.db"))), readonly=True)
    marked = open_store(written, readonly=True)
    yield marked, plain
    marked.close()
    plain.close()


def test_the_stores_hold_what_the_test_needs(stores: tuple[Store, Store]) -> None:
    marked, plain = stores
    n = "SELECT count(*) FROM sample WHERE marks IS NOT NULL"
    assert marked.conn.execute(n).fetchone()[0] >= 20
    assert plain.conn.execute(n).fetchone()[0] == 0
    assert marked.conn.execute("SELECT max(n) FROM sample").fetchone()[0] > s.BLOCK


def both(
    stores: tuple[Store, Store], lo: int, hi: int
) -> tuple[dict[Place, list[int | float]], dict[Place, list[int | float]]]:
    owners = {n: x.owner for n, x in parse_policy(POLICY, "p").services.items()}
    got = []
    for store in stores:
        fab = fabric(store, lo, hi, owners)
        got.append({p: u.counts for p, u in usage(store, fab, lo, hi).items() if any(u.counts)})
    return got[0], got[1]


#: Anywhere from before the first reading to after the last, often right on one.
instant = st.one_of(
    st.integers(-H * US, 11 * H * US).map(lambda x: to_us(at(0)) + x),
    st.sampled_from([t for k, x in enumerate(SERIES) for t, _ in readings(k, x[3], x[4])]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instant, instant)
def test_usage_over_any_window_is_the_full_decodes(
    stores: tuple[Store, Store], a: int, b: int
) -> None:
    lo, hi = min(a, b), max(a, b) + 1
    fast, full = both(stores, lo, hi)
    assert fast == full
    assert all(type(x) is int for counts in fast.values() for x in counts)


def test_a_window_on_readings_and_between_them_gives_the_hand_totals(
    stores: tuple[Store, Store],
) -> None:
    """Ends exactly on a reading: that reading is the window's last, not its first."""
    points = readings(4, 0, 10)  # db-1's disk reads: no reset, one series
    lo, hi = points[100][0], points[700][0]
    fast, full = both(stores, lo, hi)
    on_a = {p: c for p, c in fast.items() if p.vm == DB}
    assert sum(c[usage_module.DISK_READ] for c in on_a.values()) == points[700][1] - points[100][1]
    assert fast == full


def test_no_block_of_integers_is_decoded_whole(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marks answer every cut: by the window's ends, and by a stretch's start inside
    a block (the NIC's one series across web-1's migration, db-1's pause)."""
    marked, plain = stores
    lo, hi = to_us(at(0.7 * H)) + 13, to_us(at(9.3 * H)) - 7
    want = account(plain, parse_policy(POLICY, "p"), at(0.7 * H), at(9.3 * H))
    decoded: list[int] = []
    real = usage_module.decode

    def counting(t0: int, v0: int | float, data: bytes) -> list[tuple[int, int | float]]:
        decoded.append(t0)
        return real(t0, v0, data)

    monkeypatch.setattr(usage_module, "decode", counting)
    got = account(marked, parse_policy(POLICY, "p"), at(0.7 * H), at(9.3 * H))
    assert decoded == []
    assert got == want
    assert lo < hi
    # The reference did decode: every series' blocks cut by the window's two ends.
    account(plain, parse_policy(POLICY, "p"), at(0.7 * H), at(9.3 * H))
    assert len(decoded) >= 2 * len(SERIES)


# The same comparison on generated series and stretches, block by block.

places = [Place("vm:x", h, None, ()) for h in (HV_A, HV_B, None, HV_A)]


@given(
    st.data(),
    st.lists(st.tuples(st.integers(1, 10**7), st.integers(-50, 10**9)), min_size=1, max_size=80),
    st.lists(st.integers(0, 9 * 10**8), min_size=1, max_size=4, unique=True),
    st.one_of(st.none(), st.integers(0, TOP), st.just(float("inf"))),
)
def test_a_cut_block_bills_each_stretch_what_its_readings_add_up_to(
    data: st.DataObject,
    steps: list[tuple[int, int]],
    starts: list[int],
    prev: int | float | None,
) -> None:
    t, v, points = 0, 2**55, []
    for dt, grow in steps:
        t += dt
        v = v + grow if grow >= 0 else -grow  # a negative step: the counter restarted
        points.append((t, v))
    starts = sorted(starts)
    fab = Fabric(
        {"vm:x": [Stretch(a, a + 1, places[i], None, 0, 0) for i, a in enumerate(starts)]},
        {},
        {},
        {},
    )
    where = _Places(fab, "vm:x")
    on = [t for t, _ in points]
    lo = data.draw(st.one_of(st.integers(-5, t + 5), st.sampled_from(on)))
    hi = data.draw(
        st.one_of(st.integers(lo + 1, t + 10), st.sampled_from(on)).filter(lambda x: x > lo)
    )
    nb = s._Block.of(points, 1, "cpu_time_ns", 1, False)
    assert nb.marks is not None
    block = Block(1, "vm:x", "cpu_time_ns", 1, nb.t0, nb.t1, nb.v_first, nb.v_last,
                  nb.increase, 1, nb.data, nb.marks)  # fmt: skip
    fast: dict[Place, Used] = {p: Used() for p in places}
    full: dict[Place, Used] = {p: Used() for p in places}
    where.cut(block, nb.data, nb.marks, prev, lo, hi, usage_module.CPU, fast)
    where.walk(points, prev, lo, hi, usage_module.CPU, full)  # type: ignore[arg-type]
    assert {p: u.counts for p, u in fast.items()} == {p: u.counts for p, u in full.items()}
