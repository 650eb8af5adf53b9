"""What breaks each kind of rule at one instant, and why, in a line.

A rule is evaluated on its services' members that run somewhere (a VM defined
but shut off runs nowhere and breaks no placement rule). It yields its
breaches: each a set of members, the host or domain concerned, and a reason.
A breach is identified by its members and place, so that a violation lasts
exactly while the same members break the rule in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from vtrail.ids import domain_id, host_id
from vtrail.model import split_id
from vtrail.policy.model import Rule
from vtrail.query.names import Ambiguous
from vtrail.query.path import BadPath, path
from vtrail.query.walk import Walk
from vtrail.store import Store, UnknownEntity
from vtrail.timeexpr import from_us
from vtrail.triage.fabric import DomainIndex, Fabric

#: How many names a reason spells out before it counts the rest.
SHOWN = 3


@dataclass(frozen=True, slots=True)
class Breach:
    members: tuple[str, ...]
    place: str | None
    reason: str

    @property
    def key(self) -> tuple[tuple[str, ...], str | None]:
        return self.members, self.place


def listed(names: Iterable[str]) -> str:
    """`a`, `a and b`, `a, b and c`, `a, b, c and 4 more`."""
    items = sorted(names)
    if len(items) > SHOWN + 1:
        return f"{', '.join(items[:SHOWN])} and {len(items) - SHOWN} more"
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


class Hops:
    """Router hops between two entities at an instant, by the path walk, kept until the
    walk says the network or either end changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.kept: dict[tuple[str, str], tuple[int | None, str]] = {}
        self.ends: dict[str, set[tuple[str, str]]] = {}

    def forget(self, members: Iterable[str] | None) -> None:
        """Forget the pairs with any of `members` at an end; None: every pair."""
        if members is None:
            self.kept.clear()
            self.ends.clear()
            return
        for m in members:
            for pair in self.ends.pop(m, ()):
                self.kept.pop(pair, None)

    def between(self, a: str, b: str, t: int) -> tuple[int | None, str]:
        """(router hops, or None with no path; why there was none)."""
        found = self.kept.get((a, b))
        if found is None:
            found = self.kept[(a, b)] = self._walk(a, b, from_us(t))
            self.ends.setdefault(a, set()).add((a, b))
            self.ends.setdefault(b, set()).add((a, b))
        return found

    def _walk(
        self, a: str, b: str, at: datetime, walk: Walk | None = None
    ) -> tuple[int | None, str]:
        """Over the record at `at`, or over `walk`, a view of it (a planner's)."""
        try:
            p = path(self.store, a, b, at, walk)
        except (UnknownEntity, Ambiguous, BadPath) as e:
            return None, str(e)
        if not p.reachable:
            # The walk's reason starts "no path at <instant>: "; the pair's line says the rest.
            return None, (p.reason or "no path").split(": ", 1)[-1]
        return sum(1 for h in p.hops if h.kind == "router" and h.via == "namespace"), ""


@dataclass(slots=True)
class Context:
    """What a rule is evaluated against at the walk's current instant."""

    fabric: Fabric
    domains: DomainIndex
    members: Mapping[str, set[str]]
    hops: Hops
    t: int
    #: Whether the walk keeps what NICs are plugged into (a domain lists bridges or networks).
    plugs: bool = False

    def placed(self, services: Iterable[str]) -> dict[str, str]:
        """Members of `services` that run somewhere, with their host."""
        out: dict[str, str] = {}
        for s in services:
            for m in self.members.get(s, ()):
                host = self.fabric.host(m)
                if host is not None:
                    out[m] = host
        return out

    def names(self, eids: Iterable[str]) -> str:
        return listed(self.fabric.name(e) for e in eids)


def _host(eid: str) -> str:
    return split_id(eid)[1]


def _by_host(placed: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m, h in placed.items():
        out.setdefault(h, []).append(m)
    return out


def _largest(groups: Mapping[str, list[str]]) -> str:
    """The group holding the most members; the first by name among equals."""
    return min(groups, key=lambda g: (-len(groups[g]), g))


def same_domain(rule: Rule, cx: Context) -> list[Breach]:
    members = sorted({m for s in rule.services for m in cx.members.get(s, ())})
    where = {m: cx.domains.of(cx.fabric.place(m, cx.plugs)) for m in members}
    placed = [m for m in members if cx.fabric.host(m) is not None or where[m]]
    if not placed:
        return []
    counts: dict[str, list[str]] = {}
    for m in placed:
        for d in where[m]:
            counts.setdefault(d, []).append(m)
    if not counts:
        names = cx.names(placed)
        verb = "is" if len(placed) == 1 else "are"
        return [Breach(tuple(placed), None, f"{names} {verb} in no domain")]
    best = _largest(counts)
    out = tuple(m for m in placed if best not in where[m])
    if not out:
        return []
    inside = counts[best]
    reason = (
        f"{cx.names(out)} {'is' if len(out) == 1 else 'are'} outside {best}, "
        f"where {cx.names(inside)} {'is' if len(inside) == 1 else 'are'}"
    )
    return [Breach(out, domain_id(best), reason)]


def affinity(rule: Rule, cx: Context) -> list[Breach]:
    groups = _by_host(cx.placed(rule.services))
    if len(groups) <= 1:
        return []
    best = _largest(groups)
    out = tuple(sorted(m for h, ms in groups.items() if h != best for m in ms))
    apart = ", ".join(
        f"{cx.names(ms)} on {_host(h)}" for h, ms in sorted(groups.items()) if h != best
    )
    reason = f"{apart}, apart from {cx.names(groups[best])} on {_host(best)}"
    return [Breach(out, best, reason)]


def anti_affinity(rule: Rule, cx: Context) -> list[Breach]:
    out = []
    for h, ms in sorted(_by_host(cx.placed(rule.services)).items()):
        if len(ms) > 1:
            both = "both" if len(ms) == 2 else "all"
            out.append(Breach(tuple(sorted(ms)), h, f"{cx.names(ms)} {both} on {_host(h)}"))
    return out


def _hosts_listed(rule: Rule) -> str:
    return listed(rule.hosts).replace(" and ", " or ")


def _runs(rule: Rule, cx: Context, m: str) -> str | None:
    """Where `m` runs, if it is a member of the rule's services."""
    if not any(m in cx.members.get(s, ()) for s in rule.services):
        return None
    return cx.fabric.host(m)


@cache
def _hosts(rule: Rule) -> frozenset[str]:
    return frozenset({host_id(h) for h in rule.hosts} | {h for h in rule.hosts if ":" in h})


def host_affinity_of(rule: Rule, cx: Context, m: str) -> Breach | None:
    h = _runs(rule, cx, m)
    if h is None or h in _hosts(rule):
        return None
    return Breach((m,), h, f"{cx.fabric.name(m)} on {_host(h)}, not on {_hosts_listed(rule)}")


def host_anti_affinity_of(rule: Rule, cx: Context, m: str) -> Breach | None:
    h = _runs(rule, cx, m)
    if h is None or h not in _hosts(rule):
        return None
    return Breach((m,), h, f"{cx.fabric.name(m)} on {_host(h)}, which the rule excludes")


#: Kinds broken member by member: a change re-evaluates the members it touched only.
PER_MEMBER: dict[str, Callable[[Rule, Context, str], Breach | None]] = {
    "host-affinity": host_affinity_of,
    "host-anti-affinity": host_anti_affinity_of,
}


def _each(rule: Rule, cx: Context) -> list[Breach]:
    one = PER_MEMBER[rule.kind]
    members = sorted({m for s in rule.services for m in cx.members.get(s, ())})
    return [b for m in members if (b := one(rule, cx, m)) is not None]


def max_hops(rule: Rule, cx: Context) -> list[Breach]:
    src, dst = rule.services[0], rule.services[-1]
    limit = rule.hops if rule.hops is not None else 0
    a_side, b_side = cx.placed([src]), cx.placed([dst])
    out = []
    for a in sorted(a_side):
        for b in sorted(b_side):
            if a == b:
                continue
            hops, why = cx.hops.between(a, b, cx.t)
            pair = f"{cx.fabric.name(a)} to {cx.fabric.name(b)}"
            if hops is None:
                out.append(Breach((a, b), None, f"{pair}: no path ({why})"))
            elif hops > limit:
                many = f"{hops} router hop{'' if hops == 1 else 's'}"
                out.append(Breach((a, b), None, f"{pair}: {many}, at most {limit}"))
    return out


EVALUATE: dict[str, Callable[[Rule, Context], list[Breach]]] = {
    "same-domain": same_domain,
    "affinity": affinity,
    "anti-affinity": anti_affinity,
    "host-affinity": _each,
    "host-anti-affinity": _each,
    "max-hops": max_hops,
}
