"""Every change in a window before an incident's onset, scored as a suspect.

A change is read from the history as it was recorded, each at its own instant:
an entity that appeared, vanished, or changed attributes (a router's `routes`
changing is a route change), a relation that began or ended, one that moved
(the same `runs_on`, `plugged_into` or `port_of` ending at one end and
beginning at another at one instant), an entity that appeared and vanished
inside the window (a ghost), a rule of the policy that began to be violated.
The membership relations the recorder derives (`member_of`, `in_domain`) are
consequences of the others, not changes of their own, and are left out.

Each change is scored (docs/triage.md) by three parts, each from 0 to 1:

- time: `0.5 ** (seconds before the onset / half-life)`;
- distance: `0.5 ** hops` from the affected paths and members in the fabric
  graph (0 on them; farther than `MAX_HOPS`, or not connected, 0);
- kind: the weight of its kind (`policy.model.CHANGE_KINDS`, or the policy's).

and its score is their mean weighted by the policy's `triage: weights:`.
The changes of one entity at one instant are one suspect, of its likeliest kind.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from vtrail.model import JSONValue, split_id
from vtrail.policy.model import TriageSettings
from vtrail.query.graph import label
from vtrail.store import SqliteStore
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.rows import bulk
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow
from vtrail.timeexpr import from_us

#: Relations a change may be: all but those derived from the policy (membership) and
#: those that join everything to one thing (an image).
CHANGE_RELS = (
    "runs_on", "has_nic", "plugged_into", "port_of", "peer", "routes", "has_address",
)  # fmt: skip
#: Relations whose end moving to another end is one change: a migration, a replug.
MOVING = ("runs_on", "plugged_into", "port_of")
#: The policy's own entities: a change to one is a change of the policy.
POLICY_KINDS = ("service", "domain", "rule", "triage")
#: Farther than this from the affected paths is far: no closeness at all.
MAX_HOPS = 3


@dataclass(slots=True)
class Change:
    entity: str
    #: When it happened, in µs; a ghost's is when it appeared.
    t: int
    kind: str
    #: What to say of it, without the time: `port vtp-h2 moved from bridge vtbr0 to vtbr1`.
    what: Callable[[Callable[[str], str]], str]
    #: Other entities it touched (a relation's other end, where a thing moved from and
    #: to): a change is as close as the closest of them, plus one hop.
    others: tuple[str, ...] = ()
    #: The instant its time proximity is measured from: a ghost's is when it vanished.
    last: int = 0
    #: A relation's ends it left and joined (a move: from and to).
    left: tuple[str, ...] = ()
    joined: tuple[str, ...] = ()


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


# -- reading the changes ------------------------------------------------------------------


def _name_of(names: dict[str, str]) -> Callable[[str], str]:
    def name(eid: str) -> str:
        found = names.get(eid)
        if found is None:
            try:
                kind = split_id(eid)[0]
            except ValueError:
                return eid
            found = f"{kind} {label(eid, kind, {})}"
        return found

    return name


def _attr_delta(old: dict[str, JSONValue], new: dict[str, JSONValue]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _short(v: JSONValue) -> str:
    text = str(v) if not isinstance(v, str) else v
    return text if len(text) <= 24 else text[:21] + "..."


def _version_changes(
    rows: list[VersionRow], lo: int, hi: int, names: dict[str, str]
) -> list[Change]:
    out: list[Change] = []
    by_entity: dict[str, list[VersionRow]] = {}
    for r in rows:
        by_entity.setdefault(r.eid, []).append(r)
        names.setdefault(r.eid, f"{r.kind} {label(r.eid, r.kind, r.attrs)}")
    for eid, vs in by_entity.items():
        vs.sort(key=lambda r: r.valid_from)
        kind = vs[0].kind
        policy = kind in POLICY_KINDS
        began = {r.valid_from: r for r in vs}
        ended = {r.valid_to: r for r in vs if r.valid_to is not None}
        appeared = [r for r in vs if lo < r.valid_from <= hi and r.valid_from not in ended]
        vanished = [r for r in vs if r.valid_to is not None and lo < r.valid_to <= hi]
        vanished = [r for r in vanished if r.valid_to not in began]
        if (
            len(appeared) == 1
            and len(vanished) == 1
            and appeared[0].valid_from <= vanished[0].valid_from
            and vs[0].valid_from > lo
            and not policy
        ):
            start, end = appeared[0].valid_from, vanished[0].valid_to
            assert end is not None
            out.append(Change(eid, start, "ghost", _ghost(eid, start, end), (), end))
            continue
        for r in appeared:
            out.append(
                Change(
                    eid, r.valid_from, "policy" if policy else "appeared", _said(eid, "appeared")
                )
            )
        for r in vanished:
            assert r.valid_to is not None
            out.append(
                Change(eid, r.valid_to, "policy" if policy else "vanished", _said(eid, "vanished"))
            )
        for r in vs:
            prev = ended.get(r.valid_from)
            if prev is None or not lo < r.valid_from <= hi:
                continue
            keys = _attr_delta(prev.attrs, r.attrs)
            if not keys:
                continue
            what = "policy" if policy else "route" if "routes" in keys else "changed"
            out.append(Change(eid, r.valid_from, what, _delta(eid, keys, prev.attrs, r.attrs)))
    return out


def fixed(text: str) -> Callable[[Callable[[str], str]], str]:
    """What to say of a change whose line names nothing more."""
    return lambda _name: text


def _said(eid: str, verb: str) -> Callable[[Callable[[str], str]], str]:
    return lambda name: f"{name(eid)} {verb}"


def _ghost(eid: str, start: int, end: int) -> Callable[[Callable[[str], str]], str]:
    return lambda name: f"{name(eid)} lived {_span((end - start) / 1e6)} and vanished (a ghost)"


def _delta(
    eid: str, keys: list[str], old: dict[str, JSONValue], new: dict[str, JSONValue]
) -> Callable[[Callable[[str], str]], str]:
    def what(name: Callable[[str], str]) -> str:
        if "routes" in keys:
            return f"{name(eid)}'s routes changed"
        shown = ", ".join(f"{k} {_short(old.get(k))} → {_short(new.get(k))}" for k in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        return f"{name(eid)} changed: {shown}{more}"

    return what


def _relation_changes(rows: list[RelationRow], lo: int, hi: int) -> list[Change]:
    began: dict[tuple[str, str, int], list[str]] = {}
    ended: dict[tuple[str, str, int], list[str]] = {}
    for r in rows:
        if lo < r.valid_from <= hi:
            began.setdefault((r.src, r.rel, r.valid_from), []).append(r.dst)
        if r.valid_to is not None and lo < r.valid_to <= hi:
            ended.setdefault((r.src, r.rel, r.valid_to), []).append(r.dst)
    out: list[Change] = []
    for key in began.keys() | ended.keys():
        src, rel, t = key
        new, old = sorted(began.get(key, ())), sorted(ended.get(key, ()))
        if rel in MOVING and new and old:
            what = _moved(src, rel, old, new)
            out.append(Change(src, t, "moved", what, (*old, *new), 0, tuple(old), tuple(new)))
            continue
        kind = "route" if rel == "routes" else "relation"
        for dst in new:
            what = _related(src, rel, dst, "began")
            out.append(Change(src, t, kind, what, (dst,), 0, (), (dst,)))
        for dst in old:
            what = _related(src, rel, dst, "ended")
            out.append(Change(src, t, kind, what, (dst,), 0, (dst,), ()))
    return out


_VERB = {"runs_on": "moved", "plugged_into": "was replugged", "port_of": "moved"}


def _moved(
    src: str, rel: str, old: list[str], new: list[str]
) -> Callable[[Callable[[str], str]], str]:
    def what(name: Callable[[str], str]) -> str:
        a, b = ", ".join(map(name, old)), ", ".join(map(name, new))
        return f"{name(src)} {_VERB[rel]} from {a} to {b}"

    return what


def _related(src: str, rel: str, dst: str, verb: str) -> Callable[[Callable[[str], str]], str]:
    return lambda name: f"{name(src)} {rel} {name(dst)} {verb}"


def read_changes(store: SqliteStore, lo: int, hi: int) -> tuple[list[Change], dict[str, str]]:
    """Every change in `(lo, hi]`, and the names of the entities they read."""
    r = TriageReader(store)
    names: dict[str, str] = {}
    with bulk():
        versions = r.changed_versions(lo, hi, None)
        relations = r.changed_relations(lo, hi, CHANGE_RELS)
        found = _version_changes(versions, lo, hi, names)
        ghosts = {c.entity for c in found if c.kind == "ghost"}
        # A ghost's relations lived and died with it: they are the ghost.
        found += [c for c in _relation_changes(relations, lo, hi) if c.entity not in ghosts]
    return found, names


# -- distance -----------------------------------------------------------------------------


def distances(
    store: SqliteStore, seeds: Collection[str], instants: Iterable[int], depth: int = MAX_HOPS
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


def _span(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def when_said(seconds: float, began: str) -> str:
    """`18 s before loss began`, or `as loss began`."""
    return f"as {began}" if seconds <= 0 else f"{_span(seconds)} before {began}"


@dataclass(frozen=True, slots=True)
class Ranking:
    suspects: list[Suspect]
    total: int


def _folded(changes: list[Change]) -> list[Change]:
    """A relation that ended because its other end vanished at that instant, or began
    because it appeared, is part of that end's change: a NIC's plug ends with the port
    deleted, and a NIC replugged by a migration leaves the port that vanished with it.
    A thing moved onto a new bridge is not the bridge's doing: it moved."""
    # (entity, instant) -> the instant and kind of the change it belongs to.
    gone: dict[tuple[str, int], tuple[int, str]] = {}
    came: dict[tuple[str, int], tuple[int, str]] = {}
    for c in changes:
        if c.kind == "vanished":
            gone[c.entity, c.t] = (c.t, c.kind)
        elif c.kind == "appeared":
            came[c.entity, c.t] = (c.t, c.kind)
        elif c.kind == "ghost":
            gone[c.entity, c.last] = came[c.entity, c.t] = (c.t, c.kind)
    if not gone and not came:
        return changes
    out = []
    for c in changes:
        end = next((o for o in c.left if (o, c.t) in gone), None)
        found = gone.get((end, c.t)) if end is not None else None
        if found is None and c.kind == "relation":
            end = next((o for o in c.joined if (o, c.t) in came), None)
            found = came.get((end, c.t)) if end is not None else None
        if end is not None and found is not None:
            c = Change(end, found[0], found[1], c.what, (), c.last or c.t)
        out.append(c)
    return out


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
    for c in _folded(changes):
        grouped.setdefault((c.entity, c.t), []).append(c)
    scored: list[tuple[float, int, str, list[Change], int | None, ScoreParts]] = []
    for (entity, t), cs in grouped.items():
        cs.sort(key=lambda c: -weights.get(c.kind, 0.0))
        hops = hops_of.get(entity)
        for c in cs:
            for o in c.others:
                h = hops_of.get(o)
                if h is not None and (hops is None or h + 1 < hops):
                    hops = h + 1
        last = max(c.last or c.t for c in cs)
        value, parts = score(settings, (onset - last) / 1e6, hops, cs[0].kind)
        scored.append((value, t, entity, cs, hops, parts))
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    name = _name_of(names)
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
