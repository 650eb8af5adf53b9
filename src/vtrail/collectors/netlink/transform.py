"""Pure functions: a namespace's records → vtrail entities, relations and samples.

Snapshots and events go through the same `topology()`, so an entity carries the
same attributes whichever way it was observed; an event is the `delta()`
between the topology before and after one notification.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from vtrail.ids import bridge_id, ip_id, port_id, router_id
from vtrail.model import (
    EntityObs,
    JSONValue,
    Observation,
    RelationObs,
    RelKey,
    SampleObs,
)

from .records import (
    ARPHRD_ETHER,
    STAT_NAMES,
    AddrInfo,
    LinkEvent,
    LinkInfo,
    LinkMovedEvent,
    NamespaceState,
    PeerRef,
    RouteInfo,
    RtnlEvent,
)

#: Addresses with these scopes are recorded (universe, site); link and host ones are not:
#: fe80::/64 and 127.0.0.1 are on every link and in every namespace and locate nothing.
#: A recorded address lives in the namespace's address space: `ip:<address>@<ns>`.
RECORDED_SCOPES = frozenset({0, 200})
#: Kinds whose IFLA_LINK names the lower device they sit on.
_STACKED = frozenset({"vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"})
_PROTO = {1: "redirect", 2: "kernel", 3: "boot", 4: "static", 9: "ra", 16: "dhcp"}
_SCOPE = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
_LINK_LOCAL6 = ipaddress.ip_network("fe80::/10")


def link_id(ns: str, link: LinkInfo) -> str:
    return (bridge_id if link.kind == "bridge" else port_id)(ns, link.ifname)


def link_kind(link: LinkInfo) -> str:
    if link.kind == "tun":
        return "tap" if link.arphrd == ARPHRD_ETHER else "tun"
    return link.kind or "physical"


def peer_id(ns: str, peer: PeerRef) -> str:
    return port_id(peer.netns if peer.netns is not None else ns, peer.ifname)


def recorded_addrs(state: NamespaceState) -> list[AddrInfo]:
    kept = {link.index for link in state.links if not link.is_loopback}
    return [a for a in state.addrs if a.scope in RECORDED_SCOPES and a.index in kept]


def recorded_routes(state: NamespaceState) -> list[RouteInfo]:
    """Main-table routes worth a path question: not IPv6 link-local, which every link has."""
    return [
        r
        for r in state.routes
        if not (r.family == 6 and ipaddress.ip_address(r.dst) in _LINK_LOCAL6)
    ]


def _route_entry(route: RouteInfo, via: str | None) -> dict[str, JSONValue]:
    return {
        "dst": route.cidr,
        "family": route.family,
        "via": via,
        "metric": route.metric,
        "proto": _PROTO.get(route.proto, str(route.proto)),
        "scope": _SCOPE.get(route.scope, str(route.scope)),
        "src": route.prefsrc,
    }


def routes_by_dev(state: NamespaceState) -> dict[int, list[dict[str, JSONValue]]]:
    """Each link's share of the routing table: the routes that leave through it.

    This is the one record of a namespace's routes. Linux picks a route by
    longest prefix, then metric, over all of these; keeping each route on its
    egress device lets a path question replay that from any namespace, router
    or not, and a multipath route on each of its next hops' devices.
    """
    hops = [(route, hop) for route in recorded_routes(state) for hop in route.nexthops]
    hops.sort(
        key=lambda rh: (rh[0].family, -rh[0].dst_len, rh[0].cidr, rh[0].metric, rh[1].gateway or "")
    )
    by_dev: dict[int, list[dict[str, JSONValue]]] = {}
    for route, hop in hops:
        if hop.oif is not None:
            by_dev.setdefault(hop.oif, []).append(_route_entry(route, hop.gateway))
    return by_dev


def _link_attrs(
    link: LinkInfo, state: NamespaceState, routes: list[dict[str, JSONValue]]
) -> dict[str, JSONValue]:
    master = state.link(link.master)
    attrs: dict[str, JSONValue] = {
        "ifname": link.ifname,
        "ifindex": link.index,
        "link_kind": link_kind(link),
        "mac": link.mac,
        "mtu": link.mtu,
        "operstate": link.operstate,
        "master": master.ifname if master is not None else None,
        "routes": list(routes),
    }
    if link.kind in _STACKED and link.link_netnsid is None:
        lower = state.link(link.link)
        attrs["lower"] = lower.ifname if lower is not None else None
    if link.vlan_id is not None:
        attrs["vlan_id"] = link.vlan_id
    if link.vxlan_id is not None:
        attrs["vxlan_id"] = link.vxlan_id
    return attrs


def _network(addr: AddrInfo) -> str:
    return str(ipaddress.ip_interface(f"{addr.address}/{addr.prefixlen}").network)


@dataclass(frozen=True, slots=True)
class Topology:
    """What one namespace holds, as ids: the part of an observation that has a lifetime."""

    entities: Mapping[str, EntityObs]
    relations: Mapping[RelKey, RelationObs]


def topology(ns: str, state: NamespaceState) -> Topology:
    """Entities and relations of namespace `ns` (its label: name, or hostname for root)."""
    entities: dict[str, EntityObs] = {}
    relations: dict[RelKey, RelationObs] = {}

    def relate(src: str, rel: str, dst: str, attrs: Mapping[str, JSONValue] | None = None) -> None:
        key = RelKey(src, rel, dst)
        relations[key] = RelationObs(key, dict(attrs or {}))

    dev_routes = routes_by_dev(state)
    for link in state.links:
        if link.is_loopback:
            continue
        eid = link_id(ns, link)
        kind = "bridge" if link.kind == "bridge" else "port"
        entities[eid] = EntityObs(
            eid, kind, _link_attrs(link, state, dev_routes.get(link.index, []))
        )
        master = state.link(link.master)
        if master is not None and master.kind == "bridge":
            relate(eid, "port_of", link_id(ns, master))
        peer = state.peer(link)
        if peer is not None:
            relate(eid, "peer", peer_id(ns, peer))

    addrs = recorded_addrs(state)
    for addr in addrs:
        owner = state.link(addr.index)
        assert owner is not None  # recorded_addrs keeps addresses of known links only
        iid = ip_id(addr.address, ns)
        entities[iid] = EntityObs(
            iid,
            "ip",
            {
                "address": addr.address,
                "prefixlen": addr.prefixlen,
                "family": addr.family,
                "cidr": _network(addr),
            },
        )
        relate(link_id(ns, owner), "has_address", iid, {"prefixlen": addr.prefixlen})

    addressed = {a.index for a in addrs}
    if state.ip_forward and len(addressed) >= 2:
        rid = router_id(ns)
        names = sorted(link.ifname for link in state.links if link.index in addressed)
        entities[rid] = EntityObs(
            rid, "router", {"forwarding": True, "interfaces": len(names), "ifnames": list(names)}
        )
    return Topology(entities, relations)


# -- counters ---------------------------------------------------------------------------


def _trusted_stats(link: LinkInfo) -> tuple[str, ...]:
    """A veth counts rx by reading its peer's tx; once detached (IFLA_LINK 0) rx reads 0."""
    if link.kind == "veth" and not link.link:
        return tuple(n for n in STAT_NAMES if n not in ("rx_bytes", "rx_packets"))
    return STAT_NAMES


def link_samples(ns: str, link: LinkInfo) -> list[SampleObs]:
    if link.stats is None or link.is_loopback:
        return []
    eid = link_id(ns, link)
    return [SampleObs(eid, name, link.stats.value(name)) for name in _trusted_stats(link)]


def samples(ns: str, state: NamespaceState) -> list[SampleObs]:
    return [s for link in state.links for s in link_samples(ns, link)]


def final_samples(ns: str, link: LinkInfo, before: NamespaceState) -> list[SampleObs]:
    """Counters of a link at its RTM_DELLINK: its tombstone's final values.

    For a veth being destroyed, rx reads 0 (the peer pointer is already gone),
    but what this end sent is exactly what its peer received: record our tx as
    the peer's final rx too. Each end's DELLINK does the same for the other.
    """
    got = link_samples(ns, link)
    old = before.link(link.index)
    if link.stats is None or link.link or old is None:
        return got
    peer = before.peer(old) or before.detached_peers.get(link.index)
    if peer is not None:
        pid = peer_id(ns, peer)
        got.append(SampleObs(pid, "rx_bytes", link.stats.tx_bytes))
        got.append(SampleObs(pid, "rx_packets", link.stats.tx_packets))
    return got


# -- observations -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delta:
    entities: tuple[EntityObs, ...] = ()
    relations: tuple[RelationObs, ...] = ()
    gone: tuple[str, ...] = ()
    gone_relations: tuple[RelKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entities or self.relations or self.gone or self.gone_relations)


EMPTY = Topology({}, {})


def delta(old: Topology, new: Topology) -> Delta:
    """What changed from `old` to `new`: new or changed things, and things gone."""
    changed = sorted(i for i, e in new.entities.items() if old.entities.get(i) != e)
    linked = sorted(k for k, r in new.relations.items() if old.relations.get(k) != r)
    return Delta(
        entities=tuple(new.entities[i] for i in changed),
        relations=tuple(new.relations[k] for k in linked),
        gone=tuple(sorted(i for i in old.entities if i not in new.entities)),
        gone_relations=tuple(sorted(k for k in old.relations if k not in new.relations)),
    )


def snapshot(
    source: str, at: datetime, topo: Topology, counters: Iterable[SampleObs]
) -> Observation:
    return Observation(
        source=source,
        observed_at=at,
        kind="snapshot",
        entities=tuple(e for _, e in sorted(topo.entities.items())),
        relations=tuple(r for _, r in sorted(topo.relations.items())),
        samples=tuple(counters),
    )


def event_observation(
    source: str, at: datetime, change: Delta, counters: Iterable[SampleObs] = ()
) -> Observation | None:
    """An event observation, or None when nothing changed and nothing was counted."""
    counted = tuple(counters)
    if not change and not counted:
        return None
    return Observation(
        source=source,
        observed_at=at,
        kind="event",
        entities=change.entities,
        relations=change.relations,
        samples=counted,
        gone=change.gone,
        gone_relations=change.gone_relations,
    )


def on_event(
    source: str,
    at: datetime,
    ns: str,
    event: RtnlEvent,
    before: NamespaceState,
    after: NamespaceState,
    reported: Topology,
) -> tuple[Observation | None, Topology]:
    """The event observation for one notification, and the topology now reported.

    `reported` is what this source said last (a snapshot, or earlier events).
    """
    topo = topology(ns, after)
    change = delta(reported, topo)
    counters: list[SampleObs] = []
    if isinstance(event, LinkEvent) and event.action == "del":
        counters = final_samples(ns, event.link, before)
    elif isinstance(event, LinkMovedEvent):
        counters = link_samples(ns, event.link)  # intact: it lives on in the other namespace
    elif isinstance(event, LinkEvent) and change:
        # A NEWLINK carries counters too; worth keeping only beside a change,
        # else every repeated notification becomes an event of its own.
        counters = link_samples(ns, event.link)
    return event_observation(source, at, change, counters), topo


def retirement(
    source: str, at: datetime, ns: str, last: Topology, final: NamespaceState | None
) -> Observation:
    """The namespace was removed: everything it held is gone, with its final counters.

    `final` is the state read through our pin on the namespace just before we
    let go of it (None if that failed); `last` is what we reported before.
    """
    final_topo = topology(ns, final) if final is not None else EMPTY
    gone = set(last.entities) | set(final_topo.entities)
    gone_rel = set(last.relations) | set(final_topo.relations)
    return Observation(
        source=source,
        observed_at=at,
        kind="event",
        samples=tuple(samples(ns, final)) if final is not None else (),
        gone=tuple(sorted(gone)),
        gone_relations=tuple(sorted(gone_rel)),
    )
