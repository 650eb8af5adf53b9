"""The time-travel questions: where, show, history, diff, ghosts, snapshot, lifetime, stats.

Each takes a store and UTC datetimes and returns a typed result; the CLI and
the REST API render the same results (`vtrail.query.jsonable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vtrail.ids import KINDS, libvirt_net_id
from vtrail.model import JSONValue, Relation, Statement, Version, split_id
from vtrail.query.names import address_at, as_vm_id, resolve_one
from vtrail.store import Store, UnknownEntity
from vtrail.store.births import birth
from vtrail.store.journal import Journal
from vtrail.store.reads.rows import bulk
from vtrail.store.reads.samples import SeriesTotal, totals
from vtrail.store.reads.state import StateReader
from vtrail.store.reads.stats import StatsReader
from vtrail.store.samples import Num
from vtrail.timeexpr import from_us, iso, to_us


class BadWindow(ValueError):
    """A window whose end is not after its start."""


class UnknownKind(ValueError):
    """A kind filter that names no kind the store holds or vtrail documents."""


# -- results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NicAt:
    nic: str
    mac: JSONValue
    port: str | None
    bridge: str | None
    network: str | None
    addresses: list[str]


@dataclass(frozen=True, slots=True)
class WhereAnswer:
    query: str
    at: datetime
    entity: str
    kind: str
    alive: bool
    name: JSONValue
    state: JSONValue
    host: str | None
    nics: list[NicAt]
    addresses: list[str]
    attrs: dict[str, JSONValue]
    relations: list[Relation]


@dataclass(frozen=True, slots=True)
class ShowAnswer:
    entity: str
    at: datetime
    version: Version | None
    relations: list[Relation]
    #: What each source reporting the entity said at `at`; `version` is their merge.
    sources: list[Statement] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    entity: str
    versions: list[Version]
    relations: list[Relation]
    #: What each source said over the window, which the versions merge.
    statements: list[Statement] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    entity: str
    kind: str
    changes: dict[str, list[JSONValue]]


@dataclass(frozen=True, slots=True)
class Move:
    entity: str
    rel: str
    before: list[str]
    after: list[str]


@dataclass(frozen=True, slots=True)
class DiffAnswer:
    t_from: datetime
    t_to: datetime
    appeared: list[Version]
    vanished: list[Version]
    changed: list[Change]
    moved: list[Move]
    relations_added: list[Relation]
    relations_removed: list[Relation]


@dataclass(frozen=True, slots=True)
class CounterTotal:
    """One counter over an entity's life: its first and last reading and what it counted."""

    metric: str
    first_at: datetime
    last_at: datetime
    first_value: Num
    last_value: Num
    total: Num
    #: Readings recorded.
    count: int
    #: True when the entity was born while vtrail was recording and the total
    #: counts from zero at its birth (store/births.py), not from the first reading.
    from_birth: bool
    #: The source that read it; None for readings recorded before sources were told apart.
    source: str | None = None
    #: A level (a probe's loss): `total` is only its growth, and means nothing.
    gauge: bool = False

    @classmethod
    def of(cls, s: SeriesTotal, source: str | None) -> CounterTotal:
        first_at, last_at = from_us(s.first_ts), from_us(s.last_ts)
        return cls(
            s.metric,
            first_at,
            last_at,
            s.first,
            s.last,
            s.total,
            s.count,
            s.from_birth,
            source,
            s.gauge,
        )


@dataclass(frozen=True, slots=True)
class Lifetime:
    entity: str
    kind: str
    first_seen: datetime
    last_seen: datetime | None
    ended: datetime | None
    vanished_between: list[datetime] | None
    lifetime_s: float | None
    attrs: dict[str, JSONValue]
    counters: list[CounterTotal]
    attached: list[Relation] = field(default_factory=list)

    def read_last(self) -> dict[str, CounterTotal]:
        """One series per metric, the one read last: where two sources read one counter
        (a veth port's final rx, read by its peer's collector), the last holds it all."""
        last: dict[str, CounterTotal] = {}
        for c in self.counters:
            if c.metric not in last or c.last_at > last[c.metric].last_at:
                last[c.metric] = c
        return last


@dataclass(frozen=True, slots=True)
class GhostsAnswer:
    t_from: datetime
    t_to: datetime
    #: By first sighting.
    ghosts: list[Lifetime]


@dataclass(frozen=True, slots=True)
class SnapshotAnswer:
    at: datetime
    entities: list[Version]
    relations: list[Relation]


def source_state(last_kind: str, alive: int) -> str:
    """`disconnected` after a disconnect; `ended` when its last word was an event
    that ended all it reported (a namespace that was deleted says so); else
    `connected`."""
    if last_kind == "disconnect":
        return "disconnected"
    if last_kind == "event" and alive == 0:
        return "ended"
    return "connected"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    name: str
    observations: int
    last_observed: datetime
    connected: bool
    state: str


@dataclass(frozen=True, slots=True)
class StatsAnswer:
    path: str
    journal_path: str
    size_bytes: int
    first: datetime | None
    last: datetime | None
    counts: dict[str, int]
    live_by_kind: dict[str, int]
    sources: list[SourceInfo]
    migrations: list[str]
    #: Journal bodies of observations before this were dropped (`vtrail compact`):
    #: replay, and so a late observation, is possible from then on, and `vtrail
    #: rebuild` no longer. None: the whole journal is kept.
    journal_kept_from: datetime | None = None


def check_window(t_from: datetime | None, t_to: datetime | None) -> None:
    """Refuse a window that does not end after it starts (an open end always does)."""
    if t_from is None or t_to is None or t_to > t_from:
        return
    if t_to == t_from:
        raise BadWindow(f"the window ends when it starts ({iso(t_to)}): it holds no time")
    raise BadWindow(f"the window ends ({iso(t_to)}) before it starts ({iso(t_from)})")


def check_kind(store: Store, kind: str | None) -> None:
    """Refuse a kind filter that would silently match nothing: a kind neither documented
    nor ever recorded in this store."""
    if kind is None or kind in KINDS:
        return
    r = StatsReader(store)
    if kind and r.has_kind(kind):
        return
    known = ", ".join(sorted(KINDS | set(r.recorded_kinds())))
    raise UnknownKind(f"unknown kind {kind!r}: the kinds are {known}")


# -- the questions --------------------------------------------------------------


def show(store: Store, entity: str, at: datetime) -> ShowAnswer:
    eid = resolve_one(store, entity)
    n, t, r = store.entity_id(eid), to_us(at), StateReader(store)
    v, rels = r.state_at(n, t)
    return ShowAnswer(eid, at, v, rels, r.statements(n, t, t + 1))


def history(
    store: Store, entity: str, t_from: datetime | None = None, t_to: datetime | None = None
) -> HistoryAnswer:
    check_window(t_from, t_to)
    eid = resolve_one(store, entity)
    lo = to_us(t_from) if t_from else None
    hi = to_us(t_to) if t_to else None
    n, r = store.entity_id(eid), StateReader(store)
    return HistoryAnswer(
        eid, r.versions(n, lo, hi), r.relations(n, lo, hi), r.statements(n, lo, hi)
    )


def where(store: Store, query: str, at: datetime, space: str | None = None) -> WhereAnswer:
    """Where a VM (or the VM behind a NIC, MAC or IP) was at `at`. An address held in
    several spaces then is refused unless `space` (or `<address>@<space>`) picks one."""
    r, t = StateReader(store), to_us(at)
    found = r.state_of(query, t) if as_vm_id(query, space) else None
    if found is not None:
        eid, (v, rels) = query, found
    else:
        held = address_at(store, query, at, space)
        eid = resolve_one(store, query) if held is None else (held.holders or [held.ip])[0]
        eid = _owner(store, r, eid, t)
        v, rels = r.state_at(store.entity_id(eid), t)
    host = next((x.key.dst for x in rels if x.key.rel == "runs_on" and x.key.src == eid), None)
    nics = [
        nic_at(store, r, x.key.dst, t, host)
        for x in rels
        if x.key.rel == "has_nic" and x.key.src == eid
    ]
    addresses = sorted(
        {a for nic in nics for a in nic.addresses}
        | {x.key.dst for x in rels if x.key.rel == "has_address" and x.key.src == eid}
    )
    attrs = dict(v.attrs) if v else {}
    return WhereAnswer(
        query=query,
        at=at,
        entity=eid,
        kind=split_id(eid)[0],
        alive=v is not None,
        name=attrs.get("name"),
        state=attrs.get("state"),
        host=host,
        nics=nics,
        addresses=addresses,
        attrs=attrs,
        relations=rels,
    )


def _owner(store: Store, r: StateReader, eid: str, t: int) -> str:
    """Climb from an address or NIC to the VM that held it at `t`, if any."""
    for _ in range(3):
        kind = split_id(eid)[0]
        if kind == "vm":
            return eid
        incoming = [x for x in r.relations_at(store.entity_id(eid), t) if x.key.dst == eid]
        up = {
            "ip": ("has_address",),
            "nic": ("has_nic",),
            "port": ("plugged_into",),
        }.get(kind)
        nxt = next((x.key.src for x in incoming if up and x.key.rel in up), None)
        if nxt is None:
            return eid
        eid = nxt
    return eid


def nic_at(store: Store, r: StateReader, nic: str, t: int, host: str | None) -> NicAt:
    """A VM's NIC at `t`: its MAC, and the port, bridge or network and addresses behind it."""
    v, rels = r.state_at(store.entity_id(nic), t)
    attrs = dict(v.attrs) if v else {}
    port = next((x.key.dst for x in rels if x.key.rel == "plugged_into" and x.key.src == nic), None)
    bridge = network = None
    addrs = {x.key.dst for x in rels if x.key.rel == "has_address" and x.key.src == nic}
    if port is not None:
        kind = split_id(port)[0]
        if kind == "bridge":
            bridge, port = port, None
        elif kind == "net":
            network, port = port, None
    if port is not None:
        prels = r.relations_at(store.entity_id(port), t)
        bridge = next(
            (x.key.dst for x in prels if x.key.rel == "port_of" and x.key.src == port), None
        )
        addrs |= {x.key.dst for x in prels if x.key.rel == "has_address" and x.key.src == port}
    name = attrs.get("network")
    if network is None and host is not None and isinstance(name, str):
        # The libvirt network of that name on the VM's host.
        network = libvirt_net_id(split_id(host)[1], name)
    return NicAt(nic, attrs.get("mac"), port, bridge, network, sorted(addrs))


def diff(store: Store, t_from: datetime, t_to: datetime, kind: str | None = None) -> DiffAnswer:
    """What appeared, vanished, changed and moved between two instants."""
    check_window(t_from, t_to)
    check_kind(store, kind)
    with bulk():
        return _diff(store, t_from, t_to, kind)


def _diff(store: Store, t_from: datetime, t_to: datetime, kind: str | None) -> DiffAnswer:
    r, a, b = StateReader(store), to_us(t_from), to_us(t_to)
    before, after = r.window_edges(a, b, kind)
    appeared = r.to_versions([row for e, row in after.items() if e not in before])
    vanished = r.to_versions([row for e, row in before.items() if e not in after])
    # Stored attrs are canonical: equal text means equal attributes.
    pairs = [(before[e], row) for e, row in after.items() if e in before and before[e][5] != row[5]]
    codec = store.attrs
    parsed = codec.parse_many([p[0][5] for p in pairs] + [p[1][5] for p in pairs])
    changed = []
    n = len(pairs)
    for (_, row), ov, nv in zip(pairs, parsed[:n], parsed[n:], strict=True):
        if isinstance(ov, list) and isinstance(nv, list) and ov[0] == nv[0]:
            # Same key set: compare values in place, no dicts built.
            it = zip(codec.keys(ov[0]), ov[1:], nv[1:], strict=True)
            delta = {k: [x, y] for k, x, y in it if x != y}
        else:
            old, new = codec.unpack(ov), codec.unpack(nv)
            delta = {
                k: [old.get(k), new.get(k)]
                for k in sorted(set(old) | set(new))
                if old.get(k) != new.get(k)
            }
        changed.append(Change(row[1], row[2], delta))
    began, ended = r.relation_changes(a, b)
    added = [x for x in began if x.valid_to is None or x.valid_to > from_us(b)]
    removed = [x for x in ended if x.valid_from <= from_us(a)]
    if kind:
        keep = {row[1] for row in (*before.values(), *after.values())}
        added = [x for x in added if x.key.src in keep or x.key.dst in keep]
        removed = [x for x in removed if x.key.src in keep or x.key.dst in keep]
    moved = _moves(r, store, added, removed, a, b)
    return DiffAnswer(
        t_from,
        t_to,
        sorted(appeared, key=lambda v: v.entity),
        sorted(vanished, key=lambda v: v.entity),
        sorted(changed, key=lambda c: c.entity),
        moved,
        added,
        removed,
    )


def _moves(
    r: StateReader,
    store: Store,
    added: list[Relation],
    removed: list[Relation],
    a: int,
    b: int,
) -> list[Move]:
    """Entities whose `runs_on` or `plugged_into` points elsewhere at the end."""
    out = []
    touched = sorted({(x.key.src, x.key.rel) for x in (*added, *removed) if x.key.rel in _MOVING})
    for src, rel in touched:
        n = store.entity_id(src)
        before = _targets(r.relations_at(n, a), src, rel)
        after = _targets(r.relations_at(n, b), src, rel)
        if before and after and before != after:
            out.append(Move(src, rel, before, after))
    return out


_MOVING = ("runs_on", "plugged_into", "port_of")


def _targets(rels: list[Relation], src: str, rel: str) -> list[str]:
    return sorted(x.key.dst for x in rels if x.key.src == src and x.key.rel == rel)


def lifetime(store: Store, entity: str) -> Lifetime:
    """What a thing did while alive: first and last seen, lifetime, counter totals."""
    eid = resolve_one(store, entity)
    return _lifetime(store, StateReader(store), store.entity_id(eid))


def _lifetime(store: Store, r: StateReader, n: int) -> Lifetime:
    eid = store.entity_name(n)
    fl = r.first_last(n)
    if fl is None:
        raise UnknownEntity(f"{eid} was referred to but never itself recorded")
    first, end, vanished = fl
    versions = r.versions(n)
    last_attrs = dict(versions[-1].attrs) if versions else {}
    last_seen = vanished if vanished is not None else end
    return Lifetime(
        entity=eid,
        kind=split_id(eid)[0],
        first_seen=from_us(first),
        last_seen=from_us(last_seen) if last_seen is not None else None,
        ended=from_us(end) if end is not None else None,
        vanished_between=[from_us(vanished), from_us(end)]
        if vanished is not None and end is not None
        else None,
        lifetime_s=(end - first) / 1e6 if end is not None else None,
        attrs=last_attrs,
        counters=[
            CounterTotal.of(c, store.source_name(c.source) if c.source else None)
            for c in totals(store, n, birth(store, n))
        ],
        attached=r.relations(n),
    )


def ghosts(store: Store, t_from: datetime, t_to: datetime) -> GhostsAnswer:
    """Entities whose whole life fell inside the window."""
    check_window(t_from, t_to)
    r = StateReader(store)
    found = r.ghosts(to_us(t_from), to_us(t_to))
    lives = [_lifetime(store, r, e) for e, _, _ in sorted(found, key=lambda g: g[1])]
    return GhostsAnswer(t_from, t_to, lives)


def snapshot(store: Store, at: datetime, kind: str | None = None) -> SnapshotAnswer:
    check_kind(store, kind)
    versions, relations = StateReader(store).snapshot(to_us(at), kind)
    return SnapshotAnswer(
        at,
        sorted(versions, key=lambda v: v.entity),
        sorted(relations, key=lambda x: (x.key.src, x.key.rel, x.key.dst)),
    )


def stats(store: Store) -> StatsAnswer:
    r = StatsReader(store)
    span = r.span()
    return StatsAnswer(
        path=store.location,
        journal_path=store.journal_location,
        size_bytes=store.size_bytes(),
        first=from_us(span[0]) if span else None,
        last=from_us(span[1]) if span else None,
        counts=r.counts(),
        live_by_kind=r.kinds(),
        sources=[
            SourceInfo(name, n, from_us(t), state == "connected", state)
            for name, n, t, kind, alive in r.sources()
            for state in (source_state(kind, alive),)
        ],
        migrations=[name for name, _ in store.migrations()],
        journal_kept_from=from_us(kept) if (kept := Journal(store).horizon()) is not None else None,
    )
