"""Health judged from the blocks' rows gives the answer a full decoding gives.

Random probe series (loss, RTT and ok, rounds every ~10 s, episodes of loss and of
slow RTT, rounds without an RTT when all was lost) are written through the sample
writer into a real SQLite store; some blocks lose their summaries, as blocks written
before 0015_gauge_summaries have none. `judge_blocks` over a random window must
then agree with judging every decoded round, figure by figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vtrail.store import SqliteStore
from vtrail.store.reads import probes
from vtrail.store.reads.probes import probe_blocks
from vtrail.store.samples import BLOCK, Num, SampleWriter, decode
from vtrail.triage.judged import judge_blocks
from vtrail.triage.rounds import LOSS, OK, READ, RTT, Degraded, intervals, judge, rounds

D = Degraded()
STEP = 10_000_000
BACK = int(D.baseline.total_seconds() * 1e6)
SOURCE = "probe:p@host"


@st.composite
def series(draw: st.DrawFn) -> tuple[list[tuple[int, float, float | None, float]], list[int]]:
    n = draw(st.integers(1, 3 * BLOCK + 40))
    episodes = draw(st.lists(st.tuples(st.integers(0, n), st.integers(1, 60), st.booleans())))
    out = []
    t = 0
    for i in range(n):
        t += STEP + draw(st.integers(-2_000_000, 2_000_000)) if i else 0
        loss, rtt = 0.0, 10.0 + (i % 7) / 10
        for start, length, slow in episodes:
            if start <= i < start + length:
                if slow:
                    rtt *= 5
                else:
                    loss = draw(st.sampled_from([0.2, 0.4, 1.0]))
        out.append((t, loss, None if loss == 1.0 else rtt, 0.0 if loss == 1.0 else 1.0))
    # Blocks whose rows lose their summaries: a store from before the summaries.
    stripped = draw(st.lists(st.integers(0, 3), max_size=2))
    return out, stripped


def _reference(store: SqliteStore, start: int, lo: int, hi: int) -> dict[str, object]:
    [pb] = probe_blocks(store, {"vm:x"}, READ, start, hi)
    points = {
        m: [p for b in bs for p in b.points() if start <= p[0] <= hi] for m, bs in pb.blocks.items()
    }
    rs = rounds(points)
    why = judge(rs, D)
    pairs = [(r, w) for r, w in zip(rs, why, strict=True) if r.t <= hi]
    last, last_why = pairs[-1] if pairs else (None, None)
    inside = {m: [v for t, v in ps if lo <= t <= hi] for m, ps in points.items()}
    rtts = inside.get(RTT, [])
    return {
        "last": last,
        "last_bad": last_why is not None,
        "count": max((len(v) for v in inside.values()), default=0),
        "loss_max": max(inside.get(LOSS, []), default=None),
        "rtt_avg": sum(rtts) / len(rtts) if rtts else None,
        "rtt_max": max(rtts, default=None),
        "intervals": intervals([r for r, _ in pairs], [w for _, w in pairs], lo),
    }


@settings(max_examples=150, deadline=None)
@given(series(), st.floats(0, 1), st.floats(0, 1))
@example(([(i * STEP, 0.0, 10.0, 1.0) for i in range(BLOCK * 2)], []), 0.3, 0.6)
def test_judged_from_rows_as_from_every_round(
    drawn: tuple[list[tuple[int, float, float | None, float]], list[int]], a: float, b: float
) -> None:
    readings, stripped = drawn
    with TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "vtrail.db")
        with store.write():
            w = SampleWriter(store)
            e = store.entity_id("vm:x", create=True)
            src = store.source_id(SOURCE)
            for t, loss, rtt, ok in readings:
                w.add(e, LOSS, t, loss, src, gauge=True)
                w.add(e, OK, t, ok, src, gauge=True)
                if rtt is not None:
                    w.add(e, RTT, t, rtt, src, gauge=True)
            for k in stripped:
                store.conn.execute(
                    "UPDATE sample SET v_min = NULL, v_max = NULL, v_sum = NULL "
                    "WHERE rowid IN (SELECT rowid FROM sample ORDER BY rowid LIMIT 1 OFFSET ?)",
                    (k,),
                )
        end = readings[-1][0]
        lo, hi = sorted((int(a * end), int(b * end)))
        hi = max(hi, lo + 1)
        [pb] = probe_blocks(store, {"vm:x"}, READ, lo - BACK, hi)
        got = judge_blocks(pb, D, lo - BACK, lo, hi)
        want = _reference(store, lo - BACK, lo, hi)
        store.close()
    assert got.last == want["last"]
    assert got.last_bad == want["last_bad"]
    assert got.count == want["count"]
    assert got.loss_max == want["loss_max"]
    assert got.rtt_max == want["rtt_max"]
    assert (got.rtt_avg is None) == (want["rtt_avg"] is None)
    if got.rtt_avg is not None:
        assert isinstance(want["rtt_avg"], float)
        assert math.isclose(got.rtt_avg, want["rtt_avg"], rel_tol=1e-9)
    assert got.intervals == want["intervals"]


def test_a_good_day_is_judged_from_its_rows_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All good: no block is decoded but those that straddle the window's ends."""
    store = SqliteStore(tmp_path / "vtrail.db")
    with store.write():
        w = SampleWriter(store)
        e = store.entity_id("vm:x", create=True)
        src = store.source_id(SOURCE)
        for i in range(BLOCK * 20):
            for metric, v in ((LOSS, 0.0), (OK, 1.0), (RTT, 10.0 + i % 3)):
                w.add(e, metric, i * STEP, v, src, gauge=True)
    lo, hi = BLOCK * 2 * STEP + 5, BLOCK * 18 * STEP + 5
    [pb] = probe_blocks(store, {"vm:x"}, READ, lo - BACK, hi)
    decoded: list[int] = []

    def counting(t0: int, v0: Num, data: bytes) -> list[tuple[int, Num]]:
        decoded.append(t0)
        return decode(t0, v0, data)

    monkeypatch.setattr(probes, "decode", counting)
    got = judge_blocks(pb, D, lo - BACK, lo, hi)
    assert len(decoded) == 2 * len(READ)
    assert got.count == BLOCK * 16 and got.intervals == [] and not got.last_bad
    assert got.loss_max == 0.0 and got.rtt_max == 12.0
