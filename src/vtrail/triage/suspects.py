"""Every change in a window before an incident's onset, scored as a suspect.

Each change (`triage.changes`) is scored (docs/triage.md) by three parts, each
from 0 to 1:

- time: `0.5 ** (seconds before the onset / half-life)`;
- distance: `0.5 ** hops` from the affected paths and members in the fabric
  graph (0 on them; farther than `MAX_HOPS`, or not connected, 0);
- kind: the weight of its kind (`policy.model.CHANGE_KINDS`, or the policy's).

and its score is their mean weighted by the policy's `triage: weights:`.
The changes of one entity at one instant are one suspect, of its likeliest kind.

A window may hold 100,000 changes, of which only those near the affected paths
can be close: those are read whole; every other one has no closeness, so its
score falls with its age, and the rest are read newest first, a slice at a
time, until nothing older could rank among the suspects listed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from vtrail.policy.model import TriageSettings
from vtrail.store import Store
from vtrail.store.reads.changes import count, near_changes
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.rows import bulk
from vtrail.store.reads.triage import TriageReader
from vtrail.timeexpr import from_us
from vtrail.triage.changes import CHANGE_RELS, Change, classify, folded, name_of, span_said

#: Farther than this from the affected paths is far: no closeness at all.
MAX_HOPS = 2


@dataclass(frozen=True, slots=True)
class ScoreParts:
    time: float
    distance: float
    kind: float


@dataclass(frozen=True, slots=True)
class Suspect:
    entity: str
    at: datetime
    #: Its likeliest kind of change (docs/triage.md): moved, route, vanished, …
    kind: str
    score: float
    parts: ScoreParts
    seconds_before: float
    #: Hops from the affected paths and members (0: on them); None when farther than
    #: `MAX_HOPS` or not connected.
    hops: int | None
    reason: str
    #: Every change of the entity at that instant, in a line each.
    changes: list[str] = field(default_factory=list)


# -- distance -----------------------------------------------------------------------------


def distances(
    store: Store, seeds: Collection[str], instants: Iterable[int], depth: int = MAX_HOPS
) -> dict[str, int]:
    """Hops from the nearest of `seeds` to everything within `depth`, over the relations
    live at any of `instants` (the fabric at the onset and before it)."""
    reader = GraphReader(store)
    found = dict.fromkeys(seeds, 0)
    frontier = list(found)
    for d in range(1, depth + 1):
        if not frontier:
            break
        nxt: list[str] = []
        for t in instants:
            for e in reader.edges(frontier, t, CHANGE_RELS):
                for end in (e.src, e.dst):
                    if end not in found:
                        found[end] = d
                        nxt.append(end)
        frontier = nxt
    return found


# -- scoring ------------------------------------------------------------------------------


def score(
    s: TriageSettings, seconds_before: float, hops: int | None, kind: str
) -> tuple[float, ScoreParts]:
    """A suspect's score and its parts (docs/triage.md)."""
    time = 0.5 ** (max(0.0, seconds_before) / s.half_life)
    distance = 0.0 if hops is None or hops > MAX_HOPS else 0.5**hops
    parts = ScoreParts(round(time, 4), distance, s.kind_weight(kind))
    total = s.time + s.distance + s.kind
    value = (s.time * time + s.distance * distance + s.kind * parts.kind) / total if total else 0.0
    return value, parts


def when_said(seconds: float, began: str) -> str:
    """`18 s before loss began`, or `as loss began`."""
    return f"as {began}" if seconds <= 0 else f"{span_said(seconds)} before {began}"


@dataclass(frozen=True, slots=True)
class Ranking:
    suspects: list[Suspect]
    #: Suspects scored (the changes read, those of one entity at one instant as one).
    total: int


#: The first slice of far changes read, before the onset; each next one is twice as long.
FIRST_SLICE = 60_000_000


def gather(
    store: Store,
    settings: TriageSettings,
    lo: int,
    onset: int,
    hops_of: dict[str, int],
    limit: int,
) -> tuple[list[Change], dict[str, str], int]:
    """The changes in `(lo, onset]` that may rank among the best `limit`: every one near
    the affected paths (`hops_of`), and the far ones newest first until an older one
    could no longer rank. With the names read, and how many changes the window held."""
    names: dict[str, str] = {}
    near = set(hops_of)
    with bulk():
        versions, relations = near_changes(store, near, CHANGE_RELS, lo, onset)
        found = classify(versions, relations, lo, onset, names)
    weights = dict(settings.kinds)
    top = max(weights.values(), default=0.0)
    total = settings.time + settings.distance + settings.kind
    best: list[float] = []
    for c in found:
        value = score(settings, (onset - (c.last or c.t)) / 1e6, _hops(c, hops_of), c.kind)[0]
        _keep(best, value, limit)
    reader = TriageReader(store)
    hi, span = onset, FIRST_SLICE
    while hi > lo:
        at = max(lo, hi - span)
        with bulk():
            vs = [v for v in reader.changed_versions(at, hi, None) if v.eid not in near]
            rs = [
                r
                for r in reader.changed_relations(at, hi, CHANGE_RELS)
                if r.src not in near and r.dst not in near
            ]
            far = classify(vs, rs, at, hi, names)
        found += far
        for c in far:
            _keep(best, score(settings, (onset - (c.last or c.t)) / 1e6, None, c.kind)[0], limit)
        hi, span = at, span * 2
        # Nothing older is close: the most it can score is its time part and kind's.
        older = 0.5 ** ((onset - hi) / 1e6 / settings.half_life)
        bound = (settings.time * older + settings.kind * top) / total if total else 0.0
        if len(best) >= limit and best[0] > bound:
            break
    return found, names, count(store, CHANGE_RELS, lo, onset)


def _hops(c: Change, hops_of: dict[str, int]) -> int | None:
    """How close a change is: its entity's hops, or one more than the closest other's."""
    hops = hops_of.get(c.entity)
    for o in c.others:
        h = hops_of.get(o)
        if h is not None and (hops is None or h + 1 < hops):
            hops = h + 1
    return hops


def _keep(best: list[float], value: float, limit: int) -> None:
    """Keep the `limit` best scores in a heap, the lowest on top."""
    if len(best) < limit:
        heapq.heappush(best, value)
    elif value > best[0]:
        heapq.heapreplace(best, value)


def rank(
    changes: list[Change],
    names: dict[str, str],
    settings: TriageSettings,
    onset: int,
    hops_of: dict[str, int],
    where: Callable[[str], str | None],
    began: str,
    limit: int,
) -> Ranking:
    """The changes as suspects, best first: the top `limit`, and how many there were.

    `where` says where an entity lies on the affected paths (`hop 5 of web-1 → db-1`);
    `began` names the symptom (`loss began`)."""
    weights = dict(settings.kinds)
    grouped: dict[tuple[str, int], list[Change]] = {}
    for c in folded(changes):
        grouped.setdefault((c.entity, c.t), []).append(c)
    scored: list[tuple[float, int, str, list[Change], int | None, ScoreParts]] = []
    for (entity, t), cs in grouped.items():
        cs.sort(key=lambda c: -weights.get(c.kind, 0.0))
        found = [h for c in cs if (h := _hops(c, hops_of)) is not None]
        hops = min(found) if found else None
        last = max(c.last or c.t for c in cs)
        value, parts = score(settings, (onset - last) / 1e6, hops, cs[0].kind)
        scored.append((value, t, entity, cs, hops, parts))
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    name = name_of(names)
    out = []
    for value, t, entity, cs, hops, parts in scored[:limit]:
        lines = [c.what(name) for c in cs]
        seconds = (onset - t) / 1e6
        place = where(entity)
        if place is None:
            place = next((f"beside {w}" for o in cs[0].others if (w := where(o))), None)
        if place is None:
            place = "far from the affected paths" if hops is None else f"{hops} hops from them"
        reason = f"{lines[0]}, {when_said(seconds, began)}; {place}"
        out.append(
            Suspect(
                entity, from_us(t), cs[0].kind, round(value, 4), parts, seconds, hops, reason, lines
            )
        )
    return Ranking(out, len(scored))
