"""Health of a service or domain: each member's probe results, and when it was degraded.

A probe's results are gauge samples on its target from a source that names the
probe and its vantage (`probe:web-to-db@netns:h-web`); one pushed by an outside
monitor counts the same. Each (target, source) is a series of *rounds*: the
instants at which it read `probe.loss`, `probe.rtt_ms` or `probe.ok`. A round is
bad when its loss is above the threshold, its `ok` is 0, or its RTT is above a
multiple of the median of the same series' RTTs over the baseline before it. A
degraded interval runs from the first bad round to the first good one after it,
to the sample instant.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from vtrail.ids import parse_probe_source
from vtrail.policy.model import Policy
from vtrail.query.state import BadWindow, check_window
from vtrail.store import Store
from vtrail.store.reads.probes import probe_series
from vtrail.store.samples import Num
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.check import check
from vtrail.triage.members import UnknownService, membership

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


def degraded_for(policy: Policy, source: str) -> Degraded:
    """The thresholds for the series `source` read: its probe's `degraded:` settings
    when a probe of the policy wrote it, the defaults for any other (an outside
    monitor's results)."""
    found = parse_probe_source(source)
    probe = policy.probes.get(found[0]) if found is not None else None
    if probe is None:
        return DEFAULT_DEGRADED
    d = probe.degraded
    return replace(DEFAULT_DEGRADED, loss=d.loss, rtt_factor=d.rtt, baseline=d.baseline)


class UnknownGroup(LookupError):
    """A name that is neither a service nor a domain of the policy in force."""


# -- the answer -------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class SeriesHealth:
    """What one source measured of one member."""

    source: str
    #: The probe's name and its vantage, read from `probe:<name>@<vantage>`; an outside
    #: monitor's source is its own name, and has no vantage.
    probe: str
    vantage: str | None
    #: The last round at or before the instant asked (the window's end).
    last_round: datetime | None
    loss: float | None
    rtt_ms: float | None
    #: The largest loss and the median RTT over the window (at an instant: over the
    #: hour before it).
    loss_max: float | None
    rtt_median_ms: float | None
    rounds: int
    degraded: bool
    intervals: list[DegradedInterval]


@dataclass(frozen=True, slots=True)
class MemberHealth:
    entity: str
    series: list[SeriesHealth]
    degraded: bool


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    group: str
    #: `service` or `domain`.
    kind: str
    at: datetime
    t_from: datetime | None
    t_to: datetime | None
    members: list[MemberHealth]


# -- rounds and intervals -----------------------------------------------------------------


@dataclass(slots=True)
class Round:
    t: int
    loss: float | None = None
    rtt: float | None = None
    ok: float | None = None


def parse_source(source: str) -> tuple[str, str | None]:
    """(probe, vantage) of `probe:<name>@<vantage>`; any other source is its own probe."""
    found = parse_probe_source(source)
    return found if found is not None else (source, None)


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


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@dataclass(frozen=True, slots=True)
class Measured:
    """One series' rounds and judgements, for health and for triage's symptom."""

    entity: str
    source: str
    rounds: list[Round]
    why: list[str | None]


def measure(
    store: Store, policy: Policy, entities: Iterable[str], lo: int, hi: int
) -> list[Measured]:
    """Every probe series of `entities` with rounds in `[lo, hi]`, each round judged; read
    from the baseline before `lo` on, so that the first rounds have theirs."""
    back = int(DEFAULT_DEGRADED.baseline.total_seconds() * 1e6)
    found = probe_series(store, set(entities), READ, lo - back, hi)
    by_series: dict[tuple[str, str], dict[str, list[tuple[int, Num]]]] = {}
    for s in found:
        by_series.setdefault((s.entity, s.source), {})[s.metric] = s.points
    out = []
    for (entity, source), points in sorted(by_series.items()):
        rs = rounds(points)
        out.append(Measured(entity, source, rs, judge(rs, degraded_for(policy, source))))
    return out


def _series_health(m: Measured, lo: int, hi: int) -> SeriesHealth:
    probe, vantage = parse_source(m.source)
    inside = [(r, w) for r, w in zip(m.rounds, m.why, strict=True) if lo <= r.t <= hi]
    pairs = [(r, w) for r, w in zip(m.rounds, m.why, strict=True) if r.t <= hi]
    last, last_why = pairs[-1] if pairs else (None, None)
    shown = [r for r, _ in inside]
    losses = [r.loss for r in shown if r.loss is not None]
    return SeriesHealth(
        source=m.source,
        probe=probe,
        vantage=vantage,
        last_round=from_us(last.t) if last else None,
        loss=last.loss if last else None,
        rtt_ms=last.rtt if last else None,
        loss_max=max(losses) if losses else None,
        rtt_median_ms=_median([r.rtt for r in shown if r.rtt is not None]),
        rounds=len(shown),
        degraded=last_why is not None,
        intervals=intervals([r for r, _ in pairs], [w for _, w in pairs], lo),
    )


# -- the question -------------------------------------------------------------------------


def group_members(
    store: Store, policy: Policy, group: str, lo: datetime, hi: datetime
) -> tuple[str, list[str]]:
    """`service` or `domain`, and every entity in the group at some instant of `[lo, hi]`
    (a domain's: at either end, as `check` says who is in it)."""
    if group in policy.services:
        found = membership(store, policy, group, lo, hi).members
        return "service", sorted({m.entity for m in found})
    if group in policy.domains:
        members: set[str] = set()
        for t in dict.fromkeys((lo, hi)):
            for g in check(store, policy, "recorded", at=t).domains or ():
                if g.name == group:
                    members.update(g.members)
        return "domain", sorted(members)
    services = ", ".join(sorted(policy.services)) or "none"
    domains = ", ".join(sorted(policy.domains)) or "none"
    raise UnknownGroup(
        f"{group!r} is neither a service nor a domain of the policy in force "
        f"(services: {services}; domains: {domains})"
    )


def health(
    store: Store,
    policy: Policy,
    group: str,
    *,
    at: datetime | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> HealthAnswer:
    """Each member of service or domain `group`: its probe results at `at` and whether it
    was degraded then; or over `[t_from, t_to]`, the exact intervals it was."""
    if t_from is None and t_to is None:
        if at is None:
            raise BadWindow("health is at an instant (--at) or over a window (--from, --to)")
        lo_t, hi_t = at - LOOKBACK, at
    else:
        if at is not None:
            raise BadWindow("health is at an instant (--at) or over a window, not both")
        if t_from is None or t_to is None:
            raise BadWindow("a window needs both its start (--from) and its end (--to)")
        check_window(t_from, t_to)
        lo_t, hi_t = t_from, t_to
    kind, members = group_members(store, policy, group, lo_t, hi_t)
    lo, hi = to_us(lo_t), to_us(hi_t)
    by_entity: dict[str, list[SeriesHealth]] = {m: [] for m in members}
    for m in measure(store, policy, members, lo, hi):
        h = _series_health(m, lo, hi)
        if at is not None:
            # At an instant: only what is open then, from where it began.
            h = _open_at(h)
        by_entity[m.entity].append(h)
    out = [MemberHealth(e, s, any(x.degraded for x in s)) for e, s in by_entity.items()]
    return HealthAnswer(group, kind, at or hi_t, t_from, t_to, out)


def _open_at(h: SeriesHealth) -> SeriesHealth:
    still = [i for i in h.intervals if i.t_to is None]
    return replace(h, intervals=still)


__all__ = [
    "DEFAULT_DEGRADED",
    "Degraded",
    "HealthAnswer",
    "UnknownGroup",
    "UnknownService",
    "degraded_for",
    "health",
    "measure",
]
