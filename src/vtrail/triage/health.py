"""Health of a service or domain: each member's probe results, and when it was degraded.

A probe's results are gauge samples on its target from a source that names the
probe and its vantage (`probe:web-to-db@netns:h-web`); one pushed by an outside
monitor counts the same. Each (target, source) is a series of *rounds*: the
instants at which it read `probe.loss`, `probe.rtt_ms` or `probe.ok`, judged as
triage/rounds.py says. `health` judges them from the blocks' rows
(triage/judged.py); `measure`, for triage's shorter windows, decodes every round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from vtrail.ids import parse_probe_source
from vtrail.policy.model import Policy
from vtrail.query.state import BadWindow, check_window
from vtrail.store import Store
from vtrail.store.reads.probes import probe_blocks, probe_series
from vtrail.store.samples import Num
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.check import check
from vtrail.triage.judged import Judged, judge_blocks
from vtrail.triage.members import UnknownService, membership
from vtrail.triage.rounds import (
    DEFAULT_DEGRADED,
    LOOKBACK,
    READ,
    Degraded,
    DegradedInterval,
    Round,
    judge,
    rounds,
)


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


def parse_source(source: str) -> tuple[str, str | None]:
    """(probe, vantage) of `probe:<name>@<vantage>`; any other source is its own probe."""
    found = parse_probe_source(source)
    return found if found is not None else (source, None)


class UnknownGroup(LookupError):
    """A name that is neither a service nor a domain of the policy in force."""


# -- the answer -------------------------------------------------------------------------


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
    #: The largest loss, and the mean and largest RTT, over the window (at an instant:
    #: over the hour before it).
    loss_max: float | None
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    #: Rounds in the window, counted by the metric the series read most often.
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


def _series_health(source: str, j: Judged) -> SeriesHealth:
    probe, vantage = parse_source(source)
    return SeriesHealth(
        source=source,
        probe=probe,
        vantage=vantage,
        last_round=from_us(j.last.t) if j.last else None,
        loss=j.last.loss if j.last else None,
        rtt_ms=j.last.rtt if j.last else None,
        loss_max=j.loss_max,
        rtt_avg_ms=j.rtt_avg,
        rtt_max_ms=j.rtt_max,
        rounds=j.count,
        degraded=j.last_bad,
        intervals=j.intervals,
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
    back = int(DEFAULT_DEGRADED.baseline.total_seconds() * 1e6)
    found = probe_blocks(store, set(members), READ, lo - back, hi)
    for pb in sorted(found, key=lambda pb: (pb.entity, pb.source)):
        judged = judge_blocks(pb, degraded_for(policy, pb.source), lo - back, lo, hi)
        h = _series_health(pb.source, judged)
        if at is not None:
            # At an instant: only what is open then, from where it began.
            h = _open_at(h)
        by_entity[pb.entity].append(h)
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
