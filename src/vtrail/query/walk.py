"""The fabric at one instant, read lazily for the path question.

`Walk` reads only the neighbourhoods a packet crosses (batched, and kept once
read), crosses layer-2 segments breadth-first, and looks routes up in a
namespace the way the kernel does: longest prefix first, then lowest metric.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from vtrail.ids import (
    address_prefixes,
    bare_ip_id,
    bridge_id,
    interface_prefixes,
    namespace_of,
    netns_id,
    parse_interface,
    parse_ip,
    port_id,
    router_id,
)
from vtrail.model import InvalidId, JSONValue, kind_of, split_id
from vtrail.query.graph import Places, label, place
from vtrail.store import Store
from vtrail.store.reads.graph import EdgeRow, GraphReader, NodeRow

IPIface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Relations a frame crosses inside one layer-2 segment.
L2_RELS = ("plugged_into", "port_of", "peer")
#: Route types that drop instead of forwarding.
DROPPING = ("blackhole", "unreachable", "prohibit", "throw")
_MAIN_TABLE = (None, "main", 254, "254")


@dataclass(frozen=True, slots=True)
class Hop:
    entity: str
    kind: str
    label: str
    #: The relation crossed to get here from the previous hop: a recorded one
    #: (`plugged_into`, `port_of`, `peer`, `has_nic`), `namespace` into a
    #: router from its interface, `route` out of it; None for the first hop.
    via: str | None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class RouteStep:
    router: str
    destination: str
    prefix: str
    gateway: str | None
    dev: str
    metric: int
    connected: bool
    #: How many recorded or connected routes covered the destination.
    candidates: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A layer-2 crossing: the hops after the start, and the target reached (None when
    none was: then `hops` lead to the last device reached)."""

    hops: list[Hop]
    reached: str | None


@dataclass(frozen=True, slots=True)
class _Route:
    net: IPNet
    metric: int
    dev: str
    gateway: str | None
    #: `blackhole`, `unreachable` … (DROPPING), or None for a unicast route.
    type: str | None


def ip_iface(ip_eid: str, attrs: dict[str, JSONValue] | None) -> IPIface | None:
    """The address of an `ip:` entity with its prefix (its `prefixlen`, or an old id's)."""
    try:
        parsed = parse_ip(ip_eid)
    except InvalidId:
        return None
    plen = (attrs or {}).get("prefixlen") if parsed.prefixlen is None else parsed.prefixlen
    if not isinstance(plen, int):
        plen = parsed.address.max_prefixlen
    try:
        return ipaddress.ip_interface(f"{parsed.address}/{plen}")
    except ValueError:
        return None


def _prefix(text: str, version: int) -> IPNet | None:
    if text == "default":
        return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _int(v: JSONValue) -> int:
    try:
        return int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _table(iface: str, attrs: dict[str, JSONValue], dst: IPAddr) -> list[_Route]:
    """The routes interface `iface` carries (its `routes` attribute) that cover `dst`."""
    table = attrs.get("routes")
    dev = parse_interface(iface)[1]
    out = []
    for entry in table if isinstance(table, list) else []:
        if not isinstance(entry, dict) or entry.get("table") not in _MAIN_TABLE:
            continue
        net = _prefix(str(entry.get("dst") or ""), dst.version)
        if net is None or net.version != dst.version or dst not in net:
            continue
        via, kind = entry.get("via"), entry.get("type")
        metric = _int(entry.get("metric"))
        out.append(_Route(net, metric, dev, str(via) if via else None, str(kind) if kind else None))
    return out


class Walk:
    """One instant of the fabric, read on demand."""

    def __init__(self, store: Store, t: int) -> None:
        self.t, self.r = t, GraphReader(store)
        self._edges: dict[str, list[EdgeRow]] = {}
        self._nodes: dict[str, NodeRow | None] = {}
        self._prefixed: dict[str, list[str]] = {}
        self._places = Places(
            kind_of,
            self.alive,
            lambda vm: next(iter(self.out(vm, "runs_on")), None),
            lambda nic: next(iter(self.into(nic, "has_nic")), None),
            lambda ip: next(iter(self.into(ip, "has_address")), None),
        )

    # -- cached reads -------------------------------------------------------------

    def edges(self, eids: list[str]) -> dict[str, list[EdgeRow]]:
        missing = [e for e in dict.fromkeys(eids) if e not in self._edges]
        if missing:
            fresh: dict[str, list[EdgeRow]] = {e: [] for e in missing}
            for row in self.r.edges(missing, self.t):
                for end in {row.src, row.dst}:
                    if end in fresh:
                        fresh[end].append(row)
            self._edges.update(fresh)
        return {e: self._edges[e] for e in eids}

    def out(self, eid: str, rel: str) -> list[str]:
        return sorted(x.dst for x in self.edges([eid])[eid] if x.rel == rel and x.src == eid)

    def into(self, eid: str, rel: str) -> list[str]:
        return sorted(x.src for x in self.edges([eid])[eid] if x.rel == rel and x.dst == eid)

    def nodes(self, eids: list[str]) -> dict[str, NodeRow | None]:
        missing = [e for e in dict.fromkeys(eids) if e not in self._nodes]
        if missing:
            found = self.r.nodes(missing, self.t)
            for e in missing:
                self._nodes[e] = found.get(e)
        return {e: self._nodes[e] for e in eids}

    def attrs(self, eid: str) -> dict[str, JSONValue]:
        row = self.nodes([eid])[eid]
        return row.attrs if row else {}

    def alive(self, eid: str) -> bool:
        return self.nodes([eid])[eid] is not None

    def with_prefix(self, prefix: str) -> list[str]:
        if prefix not in self._prefixed:
            self._prefixed[prefix] = self.r.with_prefix(prefix, self.t)
        return self._prefixed[prefix]

    # -- hops ----------------------------------------------------------------------

    def hop(self, eid: str, via: str | None) -> Hop:
        kind = split_id(eid)[0]
        return Hop(eid, kind, label(eid, kind, self.attrs(eid)), via, place(eid, self._places))

    # -- addresses and namespaces -------------------------------------------------

    def addresses(self, ifaces: list[str]) -> list[tuple[IPIface, str]]:
        """(address, interface) for every address the interfaces held at T."""
        pairs = [
            (x.dst, i)
            for i, rows in self.edges(ifaces).items()
            for x in rows
            if x.rel == "has_address" and x.src == i
        ]
        rows = self.nodes([ip for ip, _ in pairs])
        out = []
        for ip, iface in pairs:
            row = rows[ip]
            addr = ip_iface(ip, row.attrs if row else None)
            if addr is not None:
                out.append((addr, iface))
        return sorted(out, key=lambda p: (p[0].version, str(p[0]), p[1]))

    def owners(self, addr: IPAddr) -> list[str]:
        """Interfaces (or NICs) that held `addr` at T, in every address space: a layer-2
        crossing then finds the one on its segment."""
        ids = [bare_ip_id(addr), *(x for p in address_prefixes(addr) for x in self.with_prefix(p))]
        return sorted({o for ip in ids for o in self.into(ip, "has_address")})

    def ns_interfaces(self, ns: str) -> list[str]:
        return [x for p in interface_prefixes(ns) for x in self.with_prefix(p)]

    def routing_ns(self, iface: str) -> str | None:
        """The namespace of an interface when that namespace routes (is a `router:`)."""
        kind = split_id(iface)[0]
        ns = namespace_of(iface) if kind != "router" else None
        return ns if ns is not None and self.alive(router_id(ns)) else None

    def iface(self, ns: str, dev: str) -> str | None:
        for candidate in (port_id(ns, dev), bridge_id(ns, dev)):
            if self.alive(candidate):
                return candidate
        return None

    # -- layer 2 ----------------------------------------------------------------------

    def segment(self, start: str, is_target: Callable[[str], bool]) -> Segment:
        """Breadth-first across one layer-2 segment from `start` to the nearest target."""
        parent: dict[str, tuple[str, str] | None] = {start: None}
        frontier, order = [start], [start]
        while frontier:
            nxt: list[str] = []
            for node, rows in self.edges(frontier).items():
                # A routing namespace's interface ends the segment: past it is layer 3.
                if node != start and self.routing_ns(node) is not None:
                    continue
                for x in rows:
                    other = x.dst if x.src == node else x.src
                    if x.rel in L2_RELS and other not in parent:
                        parent[other] = (node, x.rel)
                        nxt.append(other)
            for node in nxt:
                order.append(node)
                if is_target(node):
                    return Segment(self._trace(parent, node), node)
            frontier = nxt
        # Where it broke: the segment's bridge when it got that far, else the start.
        last = next((n for n in order if split_id(n)[0] == "bridge"), start)
        return Segment(self._trace(parent, last), None)

    def _trace(self, parent: dict[str, tuple[str, str] | None], end: str) -> list[Hop]:
        hops: list[Hop] = []
        node = end
        while (step := parent[node]) is not None:
            prev, rel = step
            hops.append(self.hop(node, rel))
            node = prev
        return hops[::-1]

    # -- layer 3 ------------------------------------------------------------------------

    def local(self, ns: str, dst: IPAddr) -> bool:
        return any(a.ip == dst for a, _ in self.addresses(self.ns_interfaces(ns)))

    def route(self, ns: str, dst: IPAddr) -> RouteStep | str:
        """The route namespace `ns` used for `dst` at T, or why there was none: over the
        routes its interfaces carry and the connected prefixes of their addresses."""
        ifaces = self.ns_interfaces(ns)
        found: dict[tuple[IPNet, str, str | None], _Route] = {}
        for iface, row in self.nodes(ifaces).items():
            for r in _table(iface, row.attrs if row else {}, dst):
                found.setdefault((r.net, r.dev, r.gateway), r)
        for addr, iface in self.addresses(ifaces):
            dev = parse_interface(iface)[1]
            known = any(net == addr.network and d == dev for net, d, _ in found)
            if addr.version == dst.version and dst in addr.network and not known:
                found[addr.network, dev, None] = _Route(addr.network, 0, dev, None, None)
        router = router_id(ns)
        if not found:
            return f"{router} had no route to {dst}"
        routes = found.values()
        best = min(routes, key=lambda r: (-r.net.prefixlen, r.metric, r.dev, r.gateway or ""))
        if best.type in DROPPING:
            return f"{router} routes {best.net} as {best.type}: {dst} is dropped there"
        return RouteStep(
            router=router if self.alive(router) else netns_id(ns),
            destination=str(dst),
            prefix=str(best.net),
            gateway=best.gateway,
            dev=best.dev,
            metric=best.metric,
            connected=best.gateway is None,
            candidates=len(routes),
        )
