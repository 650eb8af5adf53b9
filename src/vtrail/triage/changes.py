"""The changes of a window before an incident's onset, as triage reads them.

A change is read from the history as it was recorded, each at its own instant:
an entity that appeared, vanished, or changed attributes (a router's `routes`
changing is a route change), a relation that began or ended, one that moved
(the same `runs_on`, `plugged_into` or `port_of` ending at one end and
beginning at another at one instant), an entity that appeared and vanished
inside the window (a ghost). The membership relations the recorder derives
(`member_of`, `in_domain`) are consequences of the others, not changes of their
own, and are left out. A relation that ended because its other end vanished at
that instant (or began because it appeared) is part of that end's change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vtrail.model import JSONValue, split_id
from vtrail.query.graph import label
from vtrail.store.reads.triage import RelationRow, VersionRow

#: Relations a change may be: all but those derived from the policy (membership) and
#: those that join everything to one thing (an image).
CHANGE_RELS = (
    "runs_on", "has_nic", "plugged_into", "port_of", "peer", "routes", "has_address",
)  # fmt: skip
#: Relations whose end moving to another end is one change: a migration, a replug.
MOVING = ("runs_on", "plugged_into", "port_of")
#: The policy's own entities: a change to one is a change of the policy.
POLICY_KINDS = ("service", "domain", "rule", "triage")


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


# -- reading ------------------------------------------------------------------


def name_of(names: dict[str, str]) -> Callable[[str], str]:
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
    return lambda name: f"{name(eid)} lived {span_said((end - start) / 1e6)} and vanished (a ghost)"


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


def span_said(seconds: float) -> str:
    """A duration as a person says it: `450 ms`, `18 s`, `12 min`, `3.5 h`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def classify(
    versions: list[VersionRow],
    relations: list[RelationRow],
    lo: int,
    hi: int,
    names: dict[str, str],
) -> list[Change]:
    """The changes in `(lo, hi]` these rows hold (every row of an entity that began or
    ended then, so that a version is told from the one before it); `names` gains the
    name of each entity whose versions are read."""
    found = _version_changes(versions, lo, hi, names)
    ghosts = {c.entity for c in found if c.kind == "ghost"}
    # A ghost's relations lived and died with it: they are the ghost.
    return found + [c for c in _relation_changes(relations, lo, hi) if c.entity not in ghosts]


def folded(changes: list[Change]) -> list[Change]:
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
            out.append(Change(end, found[0], found[1], c.what, (), c.last or c.t))
        else:
            out.append(c)
    return out
