"""Compliance of a policy at an instant, or over a window by walking its changes in order.

The walk starts from what was in force at the window's start (the versions of
the entities that could be members, the placement relations) and applies
each later change in the order recorded, all the changes of one instant
together. After each instant it re-evaluates only the rules the changes
touched: those of a service an entity joined or left, and those of a service
whose member moved (its host, its NICs' plugs). A `max-hops` rule is also
touched by any change to the network its paths cross. A violation begins and
ends at the recorded instant of the change that began or ended it, so one
that lasted 30 s between two polls, or that a VM living 20 s caused, is found
to the microsecond.

At an instant, the answer also says who is in each service and each domain
then, which the page colours the drawing by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vtrail.policy.model import Policy
from vtrail.query.state import BadWindow, check_window
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.answer import CheckAnswer, Group, RuleCheck, Violation
from vtrail.triage.fabric import PLUGS, RUNS_ON, DomainIndex, Fabric, Place
from vtrail.triage.members import Matcher, scope
from vtrail.triage.provisioning import audit
from vtrail.triage.rules import EVALUATE, PER_MEMBER, SHOWN, Breach, Context, Hops

#: What a path crosses: a change to any of these may change a `max-hops` rule's answer.
NETWORK_KINDS = ("nic", "port", "bridge", "router", "netns", "ip", "net")
NETWORK_RELS = ("has_nic", "plugged_into", "port_of", "peer", "routes", "has_address")

_NONE: frozenset[str] = frozenset()
# Within one instant, what ended is taken away before what began is put in.
_END, _BEGIN = 0, 1
_VERSION, _RELATION, _NETWORK = 0, 1, 2


@dataclass(slots=True)
class _Open:
    since: int
    breach: Breach
    at_start: bool


class _Walk:
    def __init__(self, store: Store, policy: Policy, lo: int, instant: bool) -> None:
        self.store, self.policy = store, policy
        self.matcher = Matcher(policy)
        self.fabric = Fabric()
        self.members: dict[str, set[str]] = {s: set() for s in policy.services}
        self.member_of: dict[str, frozenset[str]] = {}
        self.rules_of: dict[str, set[str]] = {}
        for r in policy.rules.values():
            for s in r.services:
                self.rules_of.setdefault(s, set()).add(r.name)
        self.hop_rules = {r.name for r in policy.rules.values() if r.kind == "max-hops"}
        # At an instant the answer says who is in each domain, which needs the plugs
        # whenever a domain names bridges or networks; over a window only a rule does.
        needed = instant or any(r.kind == "same-domain" for r in policy.rules.values())
        self.plugs = needed and any(d.bridges or d.networks for d in policy.domains.values())
        self.cx = Context(
            self.fabric, DomainIndex(policy.domains), self.members, Hops(store), lo, self.plugs
        )
        self.open: dict[str, dict[Any, _Open]] = {n: {} for n in policy.rules}
        self.closed: dict[str, list[Violation]] = {n: [] for n in policy.rules}
        #: For the rules broken member by member: each member's open breach.
        self.member_keys: dict[str, dict[str, Any]] = {n: {} for n in policy.rules}

    # -- reading ------------------------------------------------------------------

    def run(self, lo: int, hi: int) -> None:
        kinds, ids = scope(self.policy)
        if self.plugs and kinds is not None:
            kinds.add("nic")
        r = TriageReader(self.store)
        vlive, vbegan = r.versions(lo, hi, kinds, ids)
        rels = (RUNS_ON, *PLUGS) if self.plugs else (RUNS_ON,)
        rlive, rbegan = r.relations(lo, hi, rels)
        for v in vlive:
            self.fabric.begin_version(v)
        for x in rlive:
            self.fabric.begin_relation(x)
        for eid in list(self.fabric.attrs):
            self._rematch(eid)
        for name in self.policy.rules:
            self._evaluate(name, lo, None, at_start=True)
        if hi <= lo:
            return
        events: list[tuple[int, int, int, int, Any]] = []
        seq = 0
        for rows, what in (
            (vlive, _VERSION),
            (vbegan, _VERSION),
            (rlive, _RELATION),
            (rbegan, _RELATION),
        ):
            for row in rows:
                seq += 1
                if row.valid_from > lo:
                    events.append((row.valid_from, _BEGIN, seq, what, row))
                if row.valid_to is not None and row.valid_to <= hi:
                    events.append((row.valid_to, _END, seq, what, row))
        if self.hop_rules:
            for t in r.change_instants(lo, hi, NETWORK_KINDS, NETWORK_RELS):
                seq += 1
                events.append((t, _BEGIN, seq, _NETWORK, None))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        self._walk(events)

    # -- the walk -----------------------------------------------------------------

    def _walk(self, events: list[tuple[int, int, int, int, Any]]) -> None:
        i, n = 0, len(events)
        fabric = self.fabric
        while i < n:
            t = events[i][0]
            changed: set[str] = set()
            moved: set[str] = set()
            network = False
            while i < n and events[i][0] == t:
                _, phase, _, what, row = events[i]
                i += 1
                if what == _VERSION:
                    assert isinstance(row, VersionRow)
                    fabric.change_version(row, phase == _END)
                    changed.add(row.eid)
                elif what == _RELATION:
                    assert isinstance(row, RelationRow)
                    moved.update(fabric.change_relation(row, phase == _END))
                else:
                    network = True
            # Each rule touched, with the members the changes touched in it (None: all).
            touched: dict[str, set[str] | None] = {}

            for eid in changed:
                _touch(touched, self._rematch(eid), eid)
                if self.plugs and fabric.kind.get(eid) == "nic":
                    moved.update(fabric.nic_owners(eid))
            for m in moved:
                for s in self.member_of.get(m, _NONE):
                    _touch(touched, self.rules_of.get(s, set()), m)
            if self.hop_rules:
                self.cx.hops.forget(None if network else changed | moved)
                if network:
                    touched.update(dict.fromkeys(self.hop_rules))
            for name, members in touched.items():
                self._evaluate(name, t, members)

    def _rematch(self, eid: str) -> set[str]:
        """Put `eid` in the services its version now matches; the rules of those it
        joined or left."""
        attrs = self.fabric.attrs.get(eid)
        new = (
            self.matcher.services_of(eid, self.fabric.kind[eid], attrs)
            if attrs is not None
            else _NONE
        )
        old = self.member_of.get(eid, _NONE)
        if new == old:
            return set()
        for s in old - new:
            self.members[s].discard(eid)
        for s in new - old:
            self.members[s].add(eid)
        if new:
            self.member_of[eid] = new
        else:
            self.member_of.pop(eid, None)
        touched: set[str] = set()
        for s in old ^ new:
            touched |= self.rules_of.get(s, set())
        return touched

    def _evaluate(
        self, name: str, t: int, members: set[str] | None, at_start: bool = False
    ) -> None:
        """Re-evaluate rule `name` at `t`: close the breaches gone, open the new ones.
        A rule broken member by member looks at `members` only (None: at all)."""
        rule = self.policy.rules[name]
        self.cx.t = t
        current = self.open[name]
        one = PER_MEMBER.get(rule.kind)
        if one is not None and members is not None:
            keys = self.member_keys[name]
            for m in members:
                b = one(rule, self.cx, m)
                old = keys.get(m)
                if old is not None and (b is None or b.key != old):
                    self.closed[name].append(_violation(current.pop(old), t))
                    del keys[m]
                if b is not None and b.key not in current:
                    current[b.key] = _Open(t, b, at_start)
                    keys[m] = b.key
            return
        found = {b.key: b for b in EVALUATE[rule.kind](rule, self.cx)}
        for key in [k for k in current if k not in found]:
            self.closed[name].append(_violation(current.pop(key), t))
        for key, b in found.items():
            if key not in current:
                current[key] = _Open(t, b, at_start)
        if one is not None:
            self.member_keys[name] = {k[0][0]: k for k in current}

    # -- the answer ---------------------------------------------------------------

    def rules(self) -> list[RuleCheck]:
        out = []
        for name, rule in self.policy.rules.items():
            still = sorted(self.open[name].values(), key=lambda o: (o.since, o.breach.members))
            violations = sorted(
                [*self.closed[name], *(_violation(o, None) for o in still)],
                key=lambda v: (v.t_from, v.members),
            )
            reasons = [o.breach.reason for o in still]
            if len(reasons) > SHOWN:
                reasons = [*reasons[:SHOWN], f"and {len(reasons) - SHOWN} more"]
            out.append(
                RuleCheck(
                    name=name,
                    kind=rule.kind,
                    services=list(rule.services),
                    holds=not still,
                    members=sorted({m for o in still for m in o.breach.members}),
                    reason="; ".join(reasons) if reasons else None,
                    violations=violations,
                )
            )
        return out

    def groups(self, t: int) -> tuple[list[Group], list[Group]]:
        """Each service's members and each domain's places and what is in them, at `t`
        (the walk standing at `t`)."""
        services = [Group(s, sorted(self.members[s])) for s in self.policy.services]
        index, fabric = self.cx.domains, self.fabric
        found: dict[str, set[str]] = {d: set() for d in self.policy.domains}
        reader = GraphReader(self.store)
        for kind, named in (
            ("host", index.hosts),
            ("bridge", index.bridges),
            ("net", index.networks),
        ):
            if not any(named.values()):
                continue
            for eid in reader.with_prefix(f"{kind}:", t):
                place = Place(
                    eid if kind == "host" else None,
                    frozenset((eid,)) if kind == "bridge" else _NONE,
                    frozenset((eid,)) if kind == "net" else _NONE,
                )
                for d in index.of(place):
                    found[d].add(eid)
        if self.plugs:
            for eid in {src for src, rel in fabric.out if rel in (RUNS_ON, "has_nic")}:
                for d in index.of(fabric.place(eid, True)):
                    found[d].add(eid)
        else:
            # Where only hosts place things, what runs on one host is in the same domains.
            on: dict[str, list[str]] = {}
            for (src, rel), hosts in fabric.out.items():
                if rel == RUNS_ON and hosts:
                    on.setdefault(min(hosts), []).append(src)
            for host, there in on.items():
                for d in index.of(Place(host, _NONE, _NONE)):
                    found[d].update(there)
        return services, [Group(d, sorted(found[d])) for d in self.policy.domains]


def _touch(touched: dict[str, set[str] | None], rules: set[str], member: str) -> None:
    for name in rules:
        found = touched.setdefault(name, set())
        if found is not None:
            found.add(member)


def _violation(o: _Open, end: int | None) -> Violation:
    b = o.breach
    return Violation(
        from_us(o.since),
        from_us(end) if end is not None else None,
        list(b.members),
        b.reason,
        b.place,
        o.at_start,
    )


def check(
    store: Store,
    policy: Policy,
    source: str,
    *,
    at: datetime | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> CheckAnswer:
    """Every rule of `policy` at `at`, or over the window `[t_from, t_to]` with the exact
    intervals it was violated. `source` says where the policy came from."""
    if t_from is None and t_to is None:
        if at is None:
            raise BadWindow("a check is at an instant (--at) or over a window (--from, --to)")
        lo = hi = to_us(at)
        end = at
    else:
        if at is not None:
            raise BadWindow(
                "a check is at an instant (--at) or over a window (--from, --to), not both"
            )
        if t_from is None or t_to is None:
            raise BadWindow("a window needs both its start (--from) and its end (--to)")
        check_window(t_from, t_to)
        lo, hi = to_us(t_from), to_us(t_to)
        end = t_to
    walk = _Walk(store, policy, lo, instant=at is not None)
    walk.run(lo, hi)
    rules = walk.rules() + audit(store, policy.provisioning, lo, hi)
    if at is None:
        return CheckAnswer(end, t_from, t_to, source, rules)
    services, domains = walk.groups(lo)
    return CheckAnswer(end, t_from, t_to, source, rules, services, domains)
