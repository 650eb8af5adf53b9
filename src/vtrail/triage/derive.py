"""Membership as relations over time: `member_of` from an entity to each service it is
in, `in_domain` to each domain where it runs or is plugged in, under the policy in
force at each instant.

The recorder runs `MembershipDeriver` inside every batch's transaction (it is one
of the store's `derivers`), with the earliest instant the batch touched. In order,
it walks on from where it stopped, with the changes since alone; for a batch that
lands in the past, or a policy applied, it takes back what it derived from that
instant and walks again from the state then. Each relation begins and ends at the
recorded instant of the change that made it, so a VM that lived 20 s was a member
for those 20 s. Then `show`, `history`, `diff`, `topology` and the page see
membership as they see any relation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vtrail.ids import domain_id, service_id
from vtrail.policy.model import Policy
from vtrail.policy.record import KINDS as POLICY_KINDS
from vtrail.store import Store
from vtrail.store.derived import DerivedRelations, Edge
from vtrail.store.interfaces import Deriver
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow
from vtrail.timeexpr import from_us
from vtrail.triage.fabric import PLUGS, RUNS_ON, DomainIndex, Fabric, Place
from vtrail.triage.members import Matcher, scope
from vtrail.triage.policy_at import policy_at

#: The source derived membership is written under.
SOURCE = "membership"
MEMBER_OF, IN_DOMAIN = "member_of", "in_domain"

_END, _BEGIN = 0, 1
_NO: frozenset[str] = frozenset()
#: What a domain may name, as a place of its own.
_PLACES = {
    "host": lambda eid: Place(eid, _NO, _NO),
    "bridge": lambda eid: Place(None, frozenset((eid,)), _NO),
    "net": lambda eid: Place(None, _NO, frozenset((eid,))),
}
_NONE: frozenset[Edge] = frozenset()


@dataclass(slots=True)
class _State:
    """The walk at `cursor`: the fabric in force, and the relations open then."""

    store: Store
    cursor: int
    policy: Policy
    kinds: set[str] | None
    ids: set[str]
    plugs: bool
    fabric: Fabric
    matcher: Matcher
    domains: DomainIndex
    #: Derived relations open, by entity: edge -> the instant it began.
    held: dict[str, dict[Edge, int]] = field(default_factory=dict)

    def fetched(self) -> set[str] | None:
        """The kinds the walk reads: those services select, the places domains name,
        and NICs when domains name bridges or networks."""
        if self.kinds is None:
            return None
        return self.kinds | {"host"} | ({"nic", "bridge", "net"} if self.plugs else set())

    def wanted(self, eid: str) -> frozenset[Edge]:
        attrs = self.fabric.attrs.get(eid)
        kind = self.fabric.kind.get(eid)
        if attrs is None or kind is None:
            return _NONE
        if kind in _PLACES:
            # A place is in the domains that name it.
            place = _PLACES[kind](eid)
        elif eid in self.ids or self.kinds is None or kind in self.kinds:
            place = self.fabric.place(eid, self.plugs)
        else:
            return _NONE
        services = self.matcher.services_of(eid, kind, attrs)
        places = self.domains.of(place)
        return frozenset(
            [(eid, MEMBER_OF, service_id(s)) for s in services]
            + [(eid, IN_DOMAIN, domain_id(d)) for d in places]
        )


class MembershipDeriver:
    """Keeps `member_of` and `in_domain` (source `membership`) true to the history."""

    def __init__(self) -> None:
        self._state: _State | None = None

    def forget(self) -> None:
        self._state = None

    def idle(self, store: Store) -> bool:
        """No policy was ever recorded: there is no membership to derive."""
        return self._state is None and not TriageReader(store).has_kind(POLICY_KINDS)

    def __call__(self, store: Store, since: int) -> int:
        """Bring membership up to date from `since`; how many relations it opened."""
        if self.idle(store):
            return 0
        reader = TriageReader(store)
        hi = reader.last_change()
        if hi is None:
            return 0
        out = DerivedRelations(store, SOURCE, (MEMBER_OF, IN_DOMAIN))
        st = self._state
        if st is None or st.store is not store or since < st.cursor:
            self._state = None
            out.take_back(since)
            st = self._state = _load(store, reader, since, out.open_now())
            _reconcile(st, out, st.fabric.attrs.keys() | st.held.keys(), since)
        # A policy applied in the window: walk to it, then start again from the state then.
        for p in reader.change_instants(st.cursor, hi, POLICY_KINDS, ()):
            _walk(st, reader, out, p)
            st = self._state = _load(store, reader, p, _flat(st.held))
            _reconcile(st, out, st.fabric.attrs.keys() | st.held.keys(), p)
        _walk(st, reader, out, hi)
        return out.opened


def _flat(held: dict[str, dict[Edge, int]]) -> dict[Edge, int]:
    return {e: t for edges in held.values() for e, t in edges.items()}


def _load(store: Store, reader: TriageReader, t: int, open_now: dict[Edge, int]) -> _State:
    """The state at `t`, read whole: the policy then, and what it needs of the fabric."""
    policy = policy_at(store, from_us(t))
    kinds, ids = scope(policy)
    plugs = any(d.bridges or d.networks for d in policy.domains.values())
    st = _State(
        store, t, policy, kinds, ids, plugs, Fabric(), Matcher(policy), DomainIndex(policy.domains)
    )
    if policy.services or policy.domains:
        for v in reader.versions(t, t, st.fetched(), ids)[0]:
            st.fabric.begin_version(v)
        for r in reader.relations(t, t, _rels(plugs))[0]:
            st.fabric.begin_relation(r)
    for e, since in open_now.items():
        st.held.setdefault(e[0], {})[e] = since
    return st


def _rels(plugs: bool) -> tuple[str, ...]:
    return (RUNS_ON, *PLUGS) if plugs else (RUNS_ON,)


def _reconcile(st: _State, out: DerivedRelations, eids: Iterable[str], t: int) -> None:
    """Make the relations of `eids` open at `t` those their state then asks for."""
    for eid in eids:
        want = st.wanted(eid)
        have = st.held.get(eid, {})
        if want == have.keys():
            continue
        for e in have.keys() - want:
            out.close(e, have.pop(e), t)
        for e in want - have.keys():
            out.open(e, t)
            have[e] = t
        if have:
            st.held[eid] = have
        else:
            st.held.pop(eid, None)


def _walk(st: _State, reader: TriageReader, out: DerivedRelations, hi: int) -> None:
    """Apply the changes in `(cursor, hi]` in order, an instant at a time."""
    lo = st.cursor
    if hi <= lo:
        return
    events: list[tuple[int, int, int, VersionRow | RelationRow]] = []
    if st.policy.services or st.policy.domains:
        rows: list[VersionRow | RelationRow] = [
            *reader.changed_versions(lo, hi, st.fetched(), st.ids),
            *reader.changed_relations(lo, hi, _rels(st.plugs)),
        ]
        for seq, row in enumerate(rows):
            if lo < row.valid_from <= hi:
                events.append((row.valid_from, _BEGIN, seq, row))
            if row.valid_to is not None and lo < row.valid_to <= hi:
                events.append((row.valid_to, _END, seq, row))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    fabric = st.fabric
    i, n = 0, len(events)
    while i < n:
        t = events[i][0]
        touched: set[str] = set()
        while i < n and events[i][0] == t:
            _, phase, _, row = events[i]
            i += 1
            if isinstance(row, VersionRow):
                fabric.change_version(row, phase == _END)
                touched.add(row.eid)
                if row.kind == "nic":
                    touched.update(fabric.nic_owners(row.eid))
            else:
                touched.update(fabric.change_relation(row, phase == _END))
        _reconcile(st, out, touched, t)
    st.cursor = hi


def derivers() -> list[Deriver]:
    """What a store being recorded into derives from its history: for whoever opens one."""
    return [MembershipDeriver()]
