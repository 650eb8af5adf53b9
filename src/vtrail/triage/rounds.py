"""A probe series' rounds and when each was bad: the judging that `health` and
`triage` share, whether they read every reading or only the blocks that need it.

A round is bad when its loss is above the threshold, its `ok` is 0, or its RTT is
above a multiple of the median of the same series' RTTs over the baseline before
it. A degraded interval runs from the first bad round to the first good one after
it, to the sample instant.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from vtrail.store.samples import Num
from vtrail.timeexpr import from_us

LOSS, RTT, OK = "probe.loss", "probe.rtt_ms", "probe.ok"
#: The metrics a health answer reads: what decides a round. A probe's other gauges
#: (`probe.rtt_min_ms`, `probe.rtt_max_ms`, `probe.jitter_ms`) are `vtrail counters`'.
READ = (LOSS, RTT, OK)
#: How far before an instant `health --at` looks for the start of what is open then.
LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Degraded:
    """When a round is bad: loss above `loss`, or RTT above `rtt_factor` times the median
    of the series' own RTTs over `baseline` before it (given `min_baseline` readings)."""

    loss: float = 0.2
    rtt_factor: float = 3.0
    baseline: timedelta = timedelta(minutes=10)
    min_baseline: int = 3


#: The thresholds of a probe whose policy says none.
DEFAULT_DEGRADED = Degraded()


@dataclass(frozen=True, slots=True)
class DegradedInterval:
    t_from: datetime
    #: The first good round after it; None while still degraded at the window's end.
    t_to: datetime | None
    #: Why its first round was bad: `loss 0.6 > 0.2`, `rtt 41.0 ms > 3 x 9.8 ms`.
    reason: str
    #: It was already degraded when the window began (its start lies before).
    in_force_at_start: bool
    #: Bad rounds in it.
    rounds: int


@dataclass(slots=True)
class Round:
    t: int
    loss: float | None = None
    rtt: float | None = None
    ok: float | None = None


def rounds(points: dict[str, list[tuple[int, Num]]]) -> list[Round]:
    """The rounds of one series: its metrics' readings, joined by instant."""
    loss, rtt, ok = (dict(points.get(m, ())) for m in (LOSS, RTT, OK))
    return [
        Round(t, loss.get(t), rtt.get(t), ok.get(t))
        for t in sorted(loss.keys() | rtt.keys() | ok.keys())
    ]


def judge(found: list[Round], d: Degraded) -> list[str | None]:
    """Why each round was bad, or None for a good one."""
    out: list[str | None] = []
    window: deque[tuple[int, float]] = deque()
    ordered: list[float] = []
    span = int(d.baseline.total_seconds() * 1e6)
    for r in found:
        while window and window[0][0] < r.t - span:
            _, old = window.popleft()
            del ordered[bisect.bisect_left(ordered, old)]
        why = None
        if r.ok is not None and r.ok < 1 and (r.loss is None or r.loss > d.loss):
            why = "probe failed" if r.loss is None else f"loss {r.loss:.2g} > {d.loss:g}"
        elif r.loss is not None and r.loss > d.loss:
            why = f"loss {r.loss:.2g} > {d.loss:g}"
        elif r.rtt is not None and len(ordered) >= d.min_baseline:
            median = ordered[len(ordered) // 2]
            if r.rtt > d.rtt_factor * median:
                why = f"rtt {r.rtt:.1f} ms > {d.rtt_factor:g} x {median:.1f} ms"
        out.append(why)
        if r.rtt is not None:
            window.append((r.t, r.rtt))
            bisect.insort(ordered, r.rtt)
    return out


def intervals(found: list[Round], why: list[str | None], lo: int) -> list[DegradedInterval]:
    """The degraded intervals that reach into `[lo, …]`: first bad round to first good."""
    out: list[DegradedInterval] = []
    start: int | None = None
    reason = ""
    n = 0
    for r, w in zip(found, why, strict=True):
        if w is not None:
            if start is None:
                start, reason, n = r.t, w, 0
            n += 1
        elif start is not None:
            if r.t >= lo:
                out.append(_interval(start, r.t, reason, n, lo))
            start = None
    if start is not None:
        out.append(_interval(start, None, reason, n, lo))
    return out


def _interval(start: int, end: int | None, reason: str, n: int, lo: int) -> DegradedInterval:
    return DegradedInterval(
        from_us(max(start, lo)), from_us(end) if end is not None else None, reason, start < lo, n
    )
