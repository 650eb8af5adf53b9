"""`vtrail triage`: for the incident near T, the symptom, the paths then and before, and
every change before it ranked as a suspect (docs/triage.md).

1. The symptom: which members (or which of two endpoints) were degraded, as their
   probes say (`triage.health`), and the onset: the first bad round of the incident
   open at T (or, when none is open, of the latest one before T), or T itself when
   no probe was degraded.
2. The paths: between each affected probe's vantage and its target (or between the
   two endpoints asked), at the onset and at the last healthy round before it,
   compared hop by hop (`query.path.compare`): the first hop where they differ, and
   where the path broke.
3. The suspects: every change in the window before the onset (`triage.suspects`),
   scored by time, distance to those paths and members, and kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vtrail.ids import rule_id
from vtrail.policy.model import Policy, TriageSettings
from vtrail.query.graph import label
from vtrail.query.names import Ambiguous, resolve
from vtrail.query.path import BadPath, PathComparison, compare
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.stats import StatsReader
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.changes import Change, fixed
from vtrail.triage.check import check
from vtrail.triage.health import Measured, group_members, measure, parse_source
from vtrail.triage.members import Matcher
from vtrail.triage.policy_at import policy_at, recorded_policy
from vtrail.triage.rounds import LOOKBACK, intervals
from vtrail.triage.suspects import Suspect, distances, gather, rank

#: Paths traced at most: each is two walks of the fabric.
MAX_PATHS = 4
#: Suspects listed when the question does not say.
LIMIT = 20
#: Rule violations are looked for this many half-lives before the onset.
VIOLATIONS = 10


class BadTriage(ValueError):
    """A triage question that cannot be asked: no target, or more than two."""


@dataclass(frozen=True, slots=True)
class Affected:
    """One probe series degraded in the incident: its target, and from when."""

    entity: str
    source: str
    probe: str
    vantage: str | None
    t_from: datetime
    t_to: datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class IncidentPath:
    a: str
    b: str
    #: Hop number (1 = the first) of the first hop that differs between the path before
    #: and the path at the onset; None when they are the same.
    first_difference: int | None
    #: The entity at that hop, before and at the onset (None past a path's end).
    differs_before: str | None
    differs_at_onset: str | None
    #: Where the path at the onset broke, when it did.
    broken_at: str | None
    comparison: PathComparison


@dataclass(frozen=True, slots=True)
class TriageAnswer:
    #: The instant asked, and what was asked about.
    at: datetime
    targets: list[str]
    onset: datetime
    #: What began at the onset: `loss began`, `rtt rose`, or `the instant asked`.
    onset_reason: str
    last_healthy: datetime
    #: The window of changes ranked: before the onset.
    t_from: datetime
    t_to: datetime
    affected: list[Affected]
    #: Affected entities (members, endpoints).
    members: list[str]
    paths: list[IncidentPath]
    suspects: list[Suspect]
    #: How many changes the window held (versions and relations that began or ended).
    changes: int
    weights: TriageSettings


# -- the symptom ----------------------------------------------------------------------------


def _incident(found: list[Measured], lo: int, hi: int) -> list[Affected]:
    """The degraded intervals of the incident near `hi`: those open at `hi`, else the
    latest to begin; with every other one that overlaps them."""
    spans: list[tuple[int, int | None, Measured, str]] = []
    for m in found:
        upto = [(r, w) for r, w in zip(m.rounds, m.why, strict=True) if r.t <= hi]
        for i in intervals([r for r, _ in upto], [w for _, w in upto], lo):
            spans.append((_us(i.t_from), _us(i.t_to) if i.t_to else None, m, i.reason))
    if not spans:
        return []
    open_now = [s for s in spans if s[1] is None]
    chosen = open_now or [max(spans, key=lambda s: s[0])]
    start = min(s[0] for s in chosen)
    keep = [s for s in spans if s in chosen or s[1] is None or s[1] > start]
    out = []
    for t0, t1, m, reason in sorted(keep, key=lambda s: (s[0], s[2].entity, s[2].source)):
        probe, vantage = parse_source(m.source)
        out.append(
            Affected(
                m.entity,
                m.source,
                probe,
                vantage,
                from_us(t0),
                from_us(t1) if t1 is not None else None,
                reason,
            )
        )
    return out


def _us(t: datetime) -> int:
    return to_us(t)


def _last_healthy(found: list[Measured], onset: int) -> int | None:
    """The last round before the onset of a series that went bad at it."""
    best = None
    for m in found:
        before = [r.t for r, w in zip(m.rounds, m.why, strict=True) if r.t < onset and w is None]
        if before and (best is None or before[-1] > best):
            best = before[-1]
    return best


# -- the paths ------------------------------------------------------------------------------


def _trace(store: Store, a: str, b: str, before: datetime, onset: datetime) -> IncidentPath:
    c = compare(store, a, b, before, onset)
    x, y = [h.entity for h in c.before.hops], [h.entity for h in c.after.hops]
    first = next(
        (i for i in range(max(len(x), len(y))) if i >= len(x) or i >= len(y) or x[i] != y[i]), None
    )
    return IncidentPath(
        c.a,
        c.b,
        first + 1 if first is not None else None,
        x[first] if first is not None and first < len(x) else None,
        y[first] if first is not None and first < len(y) else None,
        c.after.broken_at,
        c,
    )


def _hops(p: IncidentPath) -> tuple[list[str], list[str]]:
    return (
        [h.entity for h in p.comparison.before.hops],
        [h.entity for h in p.comparison.after.hops],
    )


def _places(paths: list[IncidentPath], names: dict[str, str]) -> dict[str, str]:
    """Where each entity on a path lies: `hop 5 of web-1 → db-1` (the path before first)."""
    out: dict[str, str] = {}
    for p in paths:
        for answer in (p.comparison.before, p.comparison.after):
            for h in answer.hops:
                names.setdefault(h.entity, f"{h.kind} {h.label}")
    for p in paths:
        ends = f"{_label(p.a, names)} → {_label(p.b, names)}"
        for answer in (p.comparison.before, p.comparison.after):
            for i, h in enumerate(answer.hops, 1):
                out.setdefault(h.entity, f"hop {i} of {ends}")
    return out


def _label(eid: str, names: dict[str, str]) -> str:
    found = names.get(eid)
    return found.split(" ", 1)[-1] if found else eid


# -- the question ---------------------------------------------------------------------------


def _targets(
    store: Store, policy: Policy, what: list[str], lo: datetime, hi: datetime
) -> tuple[list[str], list[tuple[str, str]]]:
    """The entities whose probes are read, and the endpoint pairs asked (A B)."""
    if len(what) == 1:
        return group_members(store, policy, what[0], lo, hi)[1], []
    if len(what) == 2:
        ids = []
        for text in what:
            found = resolve(store, text)
            if len(found) > 1:
                raise Ambiguous(text, found)
            ids += found
        return ids, [(what[0], what[1])]
    raise BadTriage(
        "triage is about a service or a domain (triage web), or two endpoints (triage A B)"
    )


def triage(
    store: Store,
    what: list[str],
    at: datetime,
    window: timedelta | None = None,
    limit: int = LIMIT,
    policy: Policy | None = None,
) -> TriageAnswer:
    """The incident near `at` about service or domain `what[0]`, or endpoints `what`."""
    if policy is None:
        # A service or domain needs the policy that defines it; two endpoints need none,
        # but take its weights when one is in force.
        policy = recorded_policy(store, at) if len(what) == 1 else policy_at(store, at)
    settings = policy.triage
    span = window if window is not None else timedelta(seconds=settings.window)
    if span <= timedelta(0):
        raise BadTriage(f"the window must be longer than 0 s, not {span}")
    hi = to_us(at)
    # The members of the last hour before T (of the window, if shorter): the incident's.
    entities, pairs = _targets(store, policy, what, at - min(span, LOOKBACK), at)
    found = measure(store, policy, entities, hi - int(span.total_seconds() * 1e6), hi)
    affected = _incident(found, hi - int(span.total_seconds() * 1e6), hi)
    if affected:
        onset = min(to_us(a.t_from) for a in affected)
        sick = {(a.entity, a.source) for a in affected}
        healthy = _last_healthy([m for m in found if (m.entity, m.source) in sick], onset)
        began = "loss began" if affected[0].reason.startswith("loss") else "it degraded"
        members = sorted({a.entity for a in affected})
    else:
        onset, healthy, began = hi, None, "the instant asked"
        members = entities
    lo = onset - int(span.total_seconds() * 1e6)
    before = healthy if healthy is not None else lo
    # What the first look saw is where the record starts, not a change: the window
    # of changes begins there at the earliest.
    recorded = StatsReader(store).span()
    lo_changes = max(lo, recorded[0]) if recorded else lo
    paths: list[IncidentPath] = []
    asked = list(pairs)
    for a in affected:
        if a.vantage is not None and (a.vantage, a.entity) not in asked:
            asked.append((a.vantage, a.entity))
    for a_end, b_end in asked[:MAX_PATHS]:
        try:
            path = _trace(store, a_end, b_end, from_us(before), from_us(onset))
        except (UnknownEntity, BadPath, Ambiguous):
            if pairs:
                raise
            continue
        # A probe's vantage named otherwise than the pair asked (`web-1`, `vm:…`)
        # traces the same hops: one path, said once.
        if not any(_hops(q) == _hops(path) for q in paths):
            paths.append(path)
    names = {
        n.eid: f"{n.kind} {label(n.eid, n.kind, n.attrs)}"
        for n in GraphReader(store).nodes(members, onset).values()
    }
    where = _places(paths, names)
    for m in members:
        where.setdefault(m, f"on {_label(m, names)}, affected")
    hops = distances(store, set(members) | set(where), dict.fromkeys((before, onset)))
    changes, read, total = gather(store, settings, lo_changes, onset, hops, limit)
    names = {**read, **names}
    adjacent = {e for e, h in hops.items() if h <= 1}
    changes += _violations(store, policy, adjacent, lo_changes, onset)
    ranking = rank(changes, names, settings, onset, hops, where.get, began, limit)
    return TriageAnswer(
        at,
        what,
        from_us(onset),
        began,
        from_us(before),
        from_us(lo),
        from_us(onset),
        affected,
        members,
        paths,
        ranking.suspects,
        total,
        settings,
    )


def _violations(store: Store, policy: Policy, near: set[str], lo: int, hi: int) -> list[Change]:
    """A rule violation that began in the window is a change of its own. Only the rules
    of the services of what is on the affected paths or next to them (`near`), and only
    from `VIOLATIONS` half-lives before the onset: an older one's time part is nothing,
    and the change that began it is a suspect of its own."""
    lo = max(lo, hi - int(VIOLATIONS * policy.triage.half_life * 1e6))
    if not policy.rules or hi <= lo:
        return []
    matcher = Matcher(policy)
    services: set[str] = set()
    for n in GraphReader(store).nodes(near, hi).values():
        services |= matcher.services_of(n.eid, n.kind, n.attrs)
    rules = {k: r for k, r in policy.rules.items() if services & set(r.services)}
    if not rules:
        return []
    named = {s for r in rules.values() for s in r.services}
    some = Policy(
        {s: policy.services[s] for s in named}, policy.domains, rules, triage=policy.triage
    )
    found = check(store, some, "recorded", t_from=from_us(lo), t_to=from_us(hi))
    out = []
    for r in found.rules:
        for v in r.violations:
            if v.in_force_at_start:
                continue
            line = f"rule {r.name} began to be violated: {v.reason}"
            out.append(
                Change(rule_id(r.name), to_us(v.t_from), "violation", fixed(line), tuple(v.members))
            )
    return out
