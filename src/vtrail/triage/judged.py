"""A probe series judged from its blocks' rows, decoding only the blocks that need it.

A block of gauge readings keeps its least, greatest and summed reading in its row
(store/reads/probes.py). Every round a block holds is certainly good when:
- a `probe.loss` block's greatest loss is within the threshold;
- a `probe.ok` block's least reading is 1;
- a `probe.rtt_ms` block's greatest RTT is within the factor times the least RTT
  of every block its rounds' baselines reach into: a median is never below the
  least of the readings it is the median of.

The other blocks are decoded with the baseline before them and judged round by
round by `rounds.judge`, as if the whole series had been decoded; those that
straddle the window's ends are decoded for their figures alone. So the answer is
the one a full decoding gives, while a day of good rounds costs its rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vtrail.store.reads.probes import Block, ProbeBlocks
from vtrail.store.samples import Num
from vtrail.triage.rounds import (
    LOSS,
    OK,
    READ,
    RTT,
    Degraded,
    DegradedInterval,
    Round,
    intervals,
    judge,
    rounds,
)

Points = Callable[[Block], list[tuple[int, Num]]]


@dataclass(frozen=True, slots=True)
class Judged:
    """One series over `[lo, hi]`, each figure exact."""

    #: The last round at or before `hi`, with its readings then; and whether it was bad.
    last: Round | None
    last_bad: bool
    #: Rounds in the window: the readings of the metric read most often (a probe of
    #: vtrail's reads its loss, or its `ok`, every round).
    count: int
    loss_max: float | None
    rtt_avg: float | None
    rtt_max: float | None
    intervals: list[DegradedInterval]


@dataclass(slots=True)
class _Tally:
    n: int = 0
    total: float = 0.0
    top: float | None = None

    def add(self, n: int, total: float, top: float) -> None:
        self.n += n
        self.total += total
        self.top = top if self.top is None else max(self.top, top)


def judge_blocks(pb: ProbeBlocks, d: Degraded, start: int, lo: int, hi: int) -> Judged:
    """Series `pb` over `[lo, hi]`, its rounds judged from `start` (before `lo`: the
    baseline and the start of an interval already in force)."""
    blocks = {m: pb.blocks.get(m, []) for m in READ}
    decoded: dict[int, list[tuple[int, Num]]] = {}

    def points(b: Block) -> list[tuple[int, Num]]:
        found = decoded.get(id(b))
        if found is None:
            found = decoded[id(b)] = b.points()
        return found

    spans, suspect = _spans(blocks, d, start, lo, hi)
    seq: list[tuple[Round, str | None]] = []
    for i, (s_lo, s_hi) in enumerate(spans):
        # The RTTs before the span feed the baselines of its rounds, needed only when an
        # RTT block of the span may hold a slow round: in a good one, no baseline drawn
        # from fewer readings than the whole can make a round slow (see `_good`).
        slow = any(id(b) in suspect for b in blocks[RTT] if b.t1 >= s_lo and b.t0 <= s_hi)
        context = max(start, s_lo - int(d.baseline.total_seconds() * 1e6)) if slow else s_lo
        reach = {m: context if m == RTT else s_lo for m in blocks}
        found = rounds(
            {
                m: [
                    p
                    for b in bs
                    if b.t1 >= reach[m] and b.t0 <= s_hi
                    for p in points(b)
                    if reach[m] <= p[0] <= s_hi
                ]
                for m, bs in blocks.items()
            }
        )
        seq += [(r, w) for r, w in zip(found, judge(found, d), strict=True) if r.t >= s_lo]
        after = _next_instant(blocks, s_hi, points)
        if after is not None and (i + 1 == len(spans) or after < spans[i + 1][0]):
            seq.append((Round(after), None))  # outside every span: a good round
    seq = [(r, w) for r, w in seq if r.t <= hi]
    tallies = {m: _tally(bs, lo, hi, points) for m, bs in blocks.items()}
    last = _last(blocks, hi, points)
    verdicts = {r.t: w for r, w in seq}
    return Judged(
        last=last,
        last_bad=last is not None and verdicts.get(last.t) is not None,
        count=max(t.n for t in tallies.values()),
        loss_max=tallies[LOSS].top,
        rtt_avg=tallies[RTT].total / tallies[RTT].n if tallies[RTT].n else None,
        rtt_max=tallies[RTT].top,
        intervals=intervals([r for r, _ in seq], [w for _, w in seq], lo),
    )


def _spans(
    blocks: dict[str, list[Block]], d: Degraded, start: int, lo: int, hi: int
) -> tuple[list[tuple[int, int]], set[int]]:
    """The instants to judge round by round: every block that may hold a bad round,
    merged where they overlap; and those blocks (by `id`)."""
    out: list[tuple[int, int]] = []
    suspect: set[int] = set()
    for metric, bs in blocks.items():
        for i, b in enumerate(bs):
            if b.t1 < start or b.t0 > hi:
                continue
            if not _good(metric, bs, i, d):
                out.append((b.t0, b.t1))
                suspect.add(id(b))
    out.sort()
    merged: list[tuple[int, int]] = []
    for s_lo, s_hi in out:
        if merged and s_lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], s_hi))
        else:
            merged.append((s_lo, s_hi))
    return merged, suspect


def _good(metric: str, bs: list[Block], i: int, d: Degraded) -> bool:
    b = bs[i]
    if b.v_min is None or b.v_max is None:
        return False
    if metric == LOSS:
        return b.v_max <= d.loss
    if metric == OK:
        return b.v_min >= 1
    reach = b.t0 - int(d.baseline.total_seconds() * 1e6)
    least = b.v_min
    for c in reversed(bs[:i]):
        if c.t1 < reach:
            break
        if c.v_min is None:
            return False
        least = min(least, c.v_min)
    return b.v_max <= d.rtt_factor * least


def _next_instant(blocks: dict[str, list[Block]], t: int, points: Points) -> int | None:
    """The first reading of any metric after `t`."""
    found: list[int] = []
    for bs in blocks.values():
        i = bisect.bisect_right([b.t1 for b in bs], t)
        if i == len(bs):
            continue
        b = bs[i]
        if b.t0 > t:
            found.append(b.t0)
        else:
            found += [p[0] for p in points(b) if p[0] > t][:1]
    return min(found, default=None)


def _tally(bs: Iterable[Block], lo: int, hi: int, points: Points) -> _Tally:
    out = _Tally()
    for b in bs:
        if b.t1 < lo or b.t0 > hi:
            continue
        if lo <= b.t0 and b.t1 <= hi and b.v_sum is not None and b.v_max is not None:
            out.add(b.n, float(b.v_sum), float(b.v_max))  # all inside: its row says it all
            continue
        inside = [float(v) for t, v in points(b) if lo <= t <= hi]
        if inside:
            out.add(len(inside), sum(inside), max(inside))
    return out


def _last(blocks: dict[str, list[Block]], hi: int, points: Points) -> Round | None:
    latest: dict[str, tuple[int, Num]] = {}
    for metric, bs in blocks.items():
        before = [b for b in bs if b.t0 <= hi]
        if not before:
            continue
        b = before[-1]
        if b.t1 <= hi:
            latest[metric] = (b.t1, b.v_last)
        elif inside := [p for p in points(b) if p[0] <= hi]:
            latest[metric] = inside[-1]
    if not latest:
        return None
    t = max(p[0] for p in latest.values())

    def at(metric: str) -> float | None:
        p = latest.get(metric)
        return float(p[1]) if p is not None and p[0] == t else None

    return Round(t, at(LOSS), at(RTT), at(OK))
