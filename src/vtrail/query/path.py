"""The path traffic took between two endpoints at an instant, hop by hop.

A packet is followed as the fabric would have forwarded it at T: across a
layer-2 segment (NIC → tap → bridge → veth → peer …) to whoever held the next
hop's address, then through a router namespace, whose route is chosen by
longest prefix match over the routes its interfaces carried at T plus the
connected prefixes of their addresses (lowest metric breaks ties, as in the
kernel), and on to the next segment, until the destination's address.

A guest's own routing table is not recorded, so a VM sends on-link traffic
straight to the destination and the rest to its NIC's `gateway` attribute or,
lacking one, to the router interface on its segment that holds an address in
the NIC's subnet: the conventional default gateway.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime

from vtrail.ids import bare_ip_id, namespace_of, netns_id, parse_ip, router_id
from vtrail.model import InvalidId, kind_of, split_id
from vtrail.query.names import Ambiguous, address_at, resolve
from vtrail.query.spaces import Holding
from vtrail.query.walk import L2_RELS, Hop, IPAddr, IPIface, RouteStep, Walk, ip_iface
from vtrail.store import Store, UnknownEntity
from vtrail.timeexpr import iso, to_us

#: Routers crossed before the walk gives up (a routing loop), like an IP TTL.
MAX_ROUTERS = 32

__all__ = ["BadPath", "Hop", "PathAnswer", "PathComparison", "RouteStep", "compare", "path"]


class BadPath(ValueError):
    """An endpoint a path cannot start or end at (a host's disk, a network name)."""


@dataclass(frozen=True, slots=True)
class PathAnswer:
    a: str
    b: str
    at: datetime
    src_address: str | None
    dst_address: str | None
    reachable: bool
    hops: list[Hop]
    routes: list[RouteStep]
    #: The last hop the traffic reached when it did not arrive.
    broken_at: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class PathComparison:
    a: str
    b: str
    before: PathAnswer
    after: PathAnswer
    changed: bool
    #: The last hop both paths share before they part (None if they differ from the start).
    diverged_after: str | None
    removed: list[str]
    added: list[str]


@dataclass(slots=True)
class _Endpoint:
    """What a user-given endpoint means at T."""

    entity: str
    #: The namespace whose routing table decides; None for a VM or NIC.
    ns: str | None
    interfaces: list[str]
    addresses: list[tuple[IPIface, str]]
    alive: bool = True
    #: Where the hops start when it is not `entity` (an address starts at its holder).
    start: str | None = None


@dataclass(slots=True)
class _Trip:
    hops: list[Hop] = field(default_factory=list)
    routes: list[RouteStep] = field(default_factory=list)


class _Broken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- endpoints -----------------------------------------------------------------------


def _endpoint(store: Store, w: Walk, text: str, at: datetime) -> _Endpoint:
    held = address_at(store, text, at)
    if held is not None:
        return _held(store, w, at, held)
    found = resolve(store, text)
    if len(found) > 1:
        raise Ambiguous(text, found)
    if not found:
        loose = _loose_address(text)
        if loose is not None:
            # An address nothing recorded (an outside host): route towards it all the same.
            return _Endpoint(bare_ip_id(loose.ip), None, [], [(loose, "")])
        ns = _namespace_named(text)
        ifaces = w.ns_interfaces(ns) if ns else []
        if ns is None or not ifaces:
            raise UnknownEntity(
                f"nothing recorded matches {text!r} (a VM, NIC, MAC, IP or namespace)"
            )
        return _Endpoint(netns_id(ns), ns, ifaces, w.addresses(ifaces))
    eid = found[0]
    kind, key = split_id(eid)
    if kind == "vm":
        nics = w.out(eid, "has_nic")
        return _Endpoint(eid, None, nics, w.addresses(nics), w.alive(eid))
    if kind == "nic":
        return _Endpoint(eid, None, [eid], w.addresses([eid]), w.alive(eid))
    if kind in ("router", "host"):
        ifaces = w.ns_interfaces(key)
        return _Endpoint(eid, key, ifaces, w.addresses(ifaces), w.alive(eid))
    if kind in ("port", "bridge"):
        ns = namespace_of(eid) or key
        ifaces = w.ns_interfaces(ns)
        own = w.addresses([eid])
        rest = [a for a in w.addresses(ifaces) if a not in own]
        return _Endpoint(eid, ns, ifaces, own + rest, w.alive(eid))
    if kind == "ip":
        return _held(store, w, at, Holding(eid, None, w.into(eid, "has_address")))
    raise BadPath(f"a path runs between VMs, NICs, addresses and namespaces; {eid} is a {kind}")


def _held(store: Store, w: Walk, at: datetime, held: Holding) -> _Endpoint:
    """An address as an endpoint: it starts (or ends) at what held it, in its space."""
    owners = held.holders
    if not owners:
        addr = ip_iface(held.ip, w.attrs(held.ip))
        return _Endpoint(held.ip, None, [], [(addr, "")] if addr else [])
    inner = _endpoint(store, w, owners[0], at)
    ip = parse_ip(held.ip).address
    same = [a for a in inner.addresses if a[0].ip == ip]
    mine = [a for a in same if a[1] in owners] or same
    return _Endpoint(
        held.ip, inner.ns, inner.interfaces, mine + inner.addresses, inner.alive, inner.entity
    )


def _namespace_named(text: str) -> str | None:
    """A namespace typed as `name` or `netns:name`, which need not be a recorded entity."""
    with contextlib.suppress(InvalidId):
        if kind_of(text) == "netns":
            return namespace_of(text)
    return text if text and "/" not in text else None


def _loose_address(text: str) -> IPIface | None:
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return ipaddress.ip_interface(f"{addr}/{addr.max_prefixlen}")


def _pick(src: _Endpoint, dst: _Endpoint) -> tuple[IPIface | None, IPIface | None]:
    """The addresses the conversation used: a shared subnet first, then IPv4, then any."""
    for d, _ in dst.addresses:
        for s, _ in src.addresses:
            if s.version == d.version and d.ip in s.network:
                return s, d
    if not dst.addresses:
        return (src.addresses[0][0] if src.addresses else None), None
    first = dst.addresses[0][0]
    return next((a for a, _ in src.addresses if a.version == first.version), None), first


# -- the walk ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Goal:
    """Who may receive the destination's address: its holders in the destination's space
    (empty: anyone, for an address nothing recorded)."""

    address: IPAddr
    holders: frozenset[str]

    def owners(self, w: Walk, addr: IPAddr) -> set[str]:
        """Holders of `addr` at T; for the destination's address, only in its space."""
        found = set(w.owners(addr))
        mine = found & self.holders if addr == self.address else found
        return mine or found

    def local(self, w: Walk, ns: str) -> bool:
        """Namespace `ns` holds the destination's address, in the destination's space."""
        if not w.local(ns, self.address):
            return False
        return not self.holders or any(namespace_of(h) == ns for h in self.holders)


def _cross(
    w: Walk,
    trip: _Trip,
    start: str,
    target: Callable[[str], bool],
    what: str,
    others: AbstractSet[str] = frozenset(),
) -> str:
    seg = w.segment(start, target)
    trip.hops.extend(seg.hops)
    if seg.reached is None:
        last = trip.hops[-1].entity if trip.hops else start
        if last == start and not any(x.rel in L2_RELS for x in w.edges([start])[start]):
            raise _Broken(f"{start} was connected to nothing at that time")
        there = w.segment(start, others.__contains__).reached if others else None
        held = f" ({there} held it there, in another address space)" if there else ""
        raise _Broken(
            f"{what} was not reachable on layer 2 from {start}: the segment ends at {last}{held}"
        )
    return seg.reached


def _cross_to(w: Walk, trip: _Trip, start: str, goal: _Goal, nexthop: str) -> str:
    addr = _addr(nexthop)
    owners = goal.owners(w, addr)
    return _cross(w, trip, start, owners.__contains__, nexthop, set(w.owners(addr)) - owners)


def _first_leg(w: Walk, trip: _Trip, src: _Endpoint, goal: _Goal) -> tuple[str, str]:
    """From a VM or NIC to its first router interface, or straight to the destination
    owner on-link. Returns (interface reached, the address it held)."""
    dst = goal.address
    owners = goal.owners(w, dst)
    nics = [n for n in src.interfaces if w.alive(n)]
    if not nics:
        raise _Broken(f"{src.entity} had no NIC at that time")
    on_link = [i for a, i in src.addresses if a.version == dst.version and dst in a.network]
    by_nic = {i: a for a, i in src.addresses}
    nic = on_link[0] if on_link else next((n for n in nics if n in by_nic), nics[0])
    if split_id(src.entity)[0] == "vm":
        trip.hops.append(w.hop(nic, "has_nic"))
    if on_link:
        return _cross_to(w, trip, nic, goal, str(dst)), str(dst)
    gw_attr = w.attrs(nic).get("gateway")
    if isinstance(gw_attr, str):
        gw_owners = set(w.owners(_addr(gw_attr)))
        return _cross(w, trip, nic, gw_owners.__contains__, f"gateway {gw_attr}"), gw_attr
    mine = by_nic.get(nic)
    found: dict[str, str] = {}

    def gateway(node: str) -> bool:
        if node in owners:
            found[node] = str(dst)
            return True
        if w.routing_ns(node) is None:
            return False
        for a, _ in w.addresses([node]):
            if mine is None or (a.version == mine.version and a.ip in mine.network):
                found[node] = str(a.ip)
                return True
        return False

    what = f"a gateway in {mine.network}" if mine else "a router"
    reached = _cross(w, trip, nic, gateway, what)
    return reached, found[reached]


def _addr(text: str) -> IPAddr:
    try:
        return ipaddress.ip_address(text.split("/", maxsplit=1)[0])
    except ValueError:
        raise _Broken(f"unreadable address {text!r}") from None


def _route_out(w: Walk, trip: _Trip, ns: str, dst: IPAddr) -> tuple[str, str]:
    step = w.route(ns, dst)
    if isinstance(step, str):
        raise _Broken(step)
    trip.routes.append(step)
    egress = w.iface(ns, step.dev)
    if egress is None:
        raise _Broken(f"{step.router} routes {step.prefix} out of {step.dev}, absent at that time")
    if not trip.hops or trip.hops[-1].entity != egress:
        trip.hops.append(w.hop(egress, "route"))
    return egress, step.gateway or str(dst)


def _walk(w: Walk, src: _Endpoint, dst: _Endpoint, trip: _Trip, daddr: IPIface | None) -> None:
    if not src.alive:
        raise _Broken(f"{src.entity} did not exist at that time")
    if daddr is None:
        # No address recorded for the destination: a layer-2 path or nothing.
        ends = set(dst.interfaces)
        if not ends:
            raise _Broken(f"{dst.entity} had no interface or address at that time")
        for start in src.interfaces:
            seg = w.segment(start, ends.__contains__)
            if seg.reached is not None:
                if split_id(src.entity)[0] == "vm":
                    trip.hops.append(w.hop(start, "has_nic"))
                trip.hops.extend(seg.hops)
                return
        raise _Broken(f"no address recorded for {dst.entity} and no layer-2 path to it")
    target = daddr.ip
    goal = _Goal(target, frozenset(i for a, i in dst.addresses if a.ip == target and i))
    if any(a.ip == target and (not goal.holders or i in goal.holders) for a, i in src.addresses):
        return  # the source holds the address itself: there is nothing to cross
    if src.ns is not None:
        if goal.local(w, src.ns):
            return
        egress, nexthop = _route_out(w, trip, src.ns, target)
        reached = _cross_to(w, trip, egress, goal, nexthop)
    else:
        reached, nexthop = _first_leg(w, trip, src, goal)
    for _ in range(MAX_ROUTERS):
        if nexthop == str(target):
            return
        ns = w.routing_ns(reached)
        if ns is None:
            raise _Broken(f"{reached} held {nexthop} but its namespace does not route")
        router = router_id(ns)
        trip.hops.append(w.hop(router, "namespace"))
        if goal.local(w, ns):
            return
        attrs = w.attrs(router)
        if any(attrs.get(k) in (False, 0, "0") for k in ("ip_forward", "forwarding")):
            raise _Broken(f"{router} did not forward (ip_forward off)")
        egress, nexthop = _route_out(w, trip, ns, target)
        reached = _cross_to(w, trip, egress, goal, nexthop)
    raise _Broken(f"more than {MAX_ROUTERS} routers crossed: a routing loop")


def _arrive(w: Walk, trip: _Trip, dst: _Endpoint) -> None:
    """The last hops past the interface that held the address: the VM, or the namespace."""
    last = trip.hops[-1].entity if trip.hops else None
    if last is None:
        return
    kind = split_id(last)[0]
    if kind == "nic" and split_id(dst.entity)[0] == "vm":
        vm = next(iter(w.into(last, "has_nic")), None)
        if vm is not None:
            trip.hops.append(w.hop(vm, "has_nic"))
    elif dst.ns is not None and kind in ("port", "bridge"):
        router = router_id(dst.ns)
        end = router if w.alive(router) else netns_id(dst.ns)
        trip.hops.append(w.hop(end, "namespace"))


def path(store: Store, a: str, b: str, at: datetime, walk: Walk | None = None) -> PathAnswer:
    """The hops from `a` to `b` at `at` (VMs, NICs, MACs, IPs or namespaces); over `walk`
    when given, a view of the fabric at `at` (a planner's, with VMs moved)."""
    w = walk or Walk(store, to_us(at))
    src, dst = _endpoint(store, w, a, at), _endpoint(store, w, b, at)
    saddr, daddr = _pick(src, dst)
    trip = _Trip()
    first = src.start or src.entity
    trip.hops.append(
        w.hop(first, None)
        if kind_of(first) != "netns"
        else Hop(first, "netns", namespace_of(first) or first, None, None)
    )
    reason = None
    try:
        if not dst.alive:
            raise _Broken(f"{dst.entity} did not exist at that time")
        _walk(w, src, dst, trip, daddr)
        _arrive(w, trip, dst)
    except _Broken as e:
        reason = e.reason
    return PathAnswer(
        a=src.entity,
        b=dst.entity,
        at=at,
        src_address=str(saddr) if saddr else None,
        dst_address=str(daddr) if daddr else None,
        reachable=reason is None,
        hops=trip.hops,
        routes=trip.routes,
        broken_at=trip.hops[-1].entity if reason is not None and trip.hops else None,
        reason=f"no path at {iso(at)}: {reason}" if reason else None,
    )


def compare(store: Store, a: str, b: str, t1: datetime, t2: datetime) -> PathComparison:
    """How the path from `a` to `b` changed between two instants (after a migration, say)."""
    before, after = path(store, a, b, t1), path(store, a, b, t2)
    x, y = [h.entity for h in before.hops], [h.entity for h in after.hops]
    common = 0
    while common < min(len(x), len(y)) and x[common] == y[common]:
        common += 1
    return PathComparison(
        a=before.a,
        b=before.b,
        before=before,
        after=after,
        changed=x != y or before.reachable != after.reachable,
        diverged_after=x[common - 1] if common and x != y else None,
        removed=[h for h in x if h not in set(y)],
        added=[h for h in y if h not in set(x)],
    )
