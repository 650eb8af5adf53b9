"""Pure: how a namespace's state follows rtnetlink notifications.

The watcher keeps a `NamespaceState` seeded by a dump and folds each
notification into it with `apply()`; `transform.delta()` of the topologies
before and after is the event. Where the kernel changes things without
telling (IPv4 routes vanish silently when a link goes down or away, a veth
does not hear that its peer moved), the helpers here say what the collector
must read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from .records import (
    AddrEvent,
    AddrInfo,
    BridgePortEvent,
    ForwardingEvent,
    LinkEvent,
    LinkInfo,
    LinkMovedEvent,
    NamespaceState,
    PeerRef,
    RouteEvent,
    RouteInfo,
    RtnlEvent,
)


def _put_link(state: NamespaceState, link: LinkInfo, peer: PeerRef | None) -> NamespaceState:
    links = sorted(
        (*(x for x in state.links if x.index != link.index), link), key=lambda x: x.index
    )
    old = state.link(link.index)
    detached = dict(state.detached_peers)
    if link.kind == "veth" and not link.link and old is not None:
        last = state.peer(old)
        if last is not None:
            detached[link.index] = last
    peers = dict(state.remote_peers)
    if peer is not None:
        peers[link.index] = peer
    elif link.link_netnsid is None or not link.link:
        peers.pop(link.index, None)
    elif old is None or (old.link, old.link_netnsid) != (link.link, link.link_netnsid):
        peers.pop(link.index, None)  # it points elsewhere now and nobody resolved it
    return replace(state, links=tuple(links), remote_peers=peers, detached_peers=detached)


def _drop_link(state: NamespaceState, index: int) -> NamespaceState:
    routes = []
    for route in state.routes:
        # The kernel flushes a vanished device's routes; it sends no RTM_DELROUTE for IPv4.
        hops = tuple(h for h in route.nexthops if h.oif != index)
        if hops:
            routes.append(replace(route, nexthops=hops) if hops != route.nexthops else route)
    return replace(
        state,
        links=tuple(x for x in state.links if x.index != index),
        addrs=tuple(a for a in state.addrs if a.index != index),
        routes=tuple(routes),
        remote_peers={i: p for i, p in state.remote_peers.items() if i != index},
        detached_peers={i: p for i, p in state.detached_peers.items() if i != index},
    )


def _set_master(state: NamespaceState, event: BridgePortEvent) -> NamespaceState:
    link = state.link(event.index)
    if link is None or event.index == event.master:
        return state  # the bridge announcing itself, or a port we have not seen yet
    if event.action == "new":
        master = event.master
    elif event.master is None or link.master == event.master:
        master = None
    else:
        return state  # a stale "left bridge A" after it already joined bridge B
    if link.master == master:
        return state
    links = tuple(replace(x, master=master) if x.index == event.index else x for x in state.links)
    return replace(state, links=links)


def _same_addr(a: AddrInfo, b: AddrInfo) -> bool:
    return (a.index, a.family, a.address, a.prefixlen) == (
        b.index,
        b.family,
        b.address,
        b.prefixlen,
    )


def _apply_route(state: NamespaceState, event: RouteEvent) -> NamespaceState:
    new = event.route

    def same(old: RouteInfo) -> bool:
        return old.same_slot(new) and (event.replace or old.nexthops == new.nexthops)

    routes = tuple(r for r in state.routes if not same(r))
    if event.action == "new":
        routes = (*routes, new)
    return replace(state, routes=routes)


def apply(state: NamespaceState, event: RtnlEvent, peer: PeerRef | None = None) -> NamespaceState:
    """`state` after `event`. `peer` is a veth's resolved remote peer, for link events."""
    match event:
        case LinkEvent(action="new", link=link):
            return _put_link(state, link, peer)
        case LinkEvent(action="del", link=link) | LinkMovedEvent(link=link):
            return _drop_link(state, link.index)
        case BridgePortEvent():
            return _set_master(state, event)
        case AddrEvent(action=action, addr=addr):
            addrs = tuple(a for a in state.addrs if not _same_addr(a, addr))
            return replace(state, addrs=(*addrs, addr) if action == "new" else addrs)
        case RouteEvent():
            return _apply_route(state, event)
        case ForwardingEvent(enabled=enabled):
            return replace(state, ip_forward=enabled)
    return state


def routes_may_have_changed(before: NamespaceState, event: RtnlEvent) -> bool:
    """True when the kernel may have added or flushed routes without a notification.

    Taking a link administratively down flushes its IPv4 routes silently.
    """
    if not isinstance(event, LinkEvent) or event.action != "new":
        return False
    old = before.link(event.link.index)
    return old is not None and old.is_up != event.link.is_up


def stale_peers(before: NamespaceState, event: RtnlEvent) -> list[int]:
    """Local veths that pointed at a link which just moved to another namespace.

    Their IFLA_LINK_NETNSID changed but the kernel announces nothing for them.
    """
    if not isinstance(event, LinkMovedEvent):
        return []
    moved = event.link.index
    return [
        x.index
        for x in before.links
        if x.kind == "veth" and x.link == moved and x.link_netnsid is None
    ]


def needs_peer_lookup(before: NamespaceState, link: LinkInfo) -> bool:
    """Does this veth point into another namespace we have not resolved for it yet?"""
    if link.kind != "veth" or not link.link or link.link_netnsid is None:
        return False
    old = before.link(link.index)
    if old is None or link.index not in before.remote_peers:
        return True
    return (old.link, old.link_netnsid) != (link.link, link.link_netnsid)


class Reader(Protocol):
    """What the watcher reads from the kernel again where notifications fall silent."""

    def peer(self, link: LinkInfo) -> PeerRef | None:
        """Resolve a veth's peer in another namespace."""
        ...

    def link(self, index: int) -> LinkInfo | None:
        """One link of this namespace, as it is now."""
        ...

    def routes(self) -> Sequence[RouteInfo]:
        """The main table of this namespace, as it is now."""
        ...


def follow(before: NamespaceState, event: RtnlEvent, reader: Reader) -> NamespaceState:
    """`apply()`, plus the reads that fill in what the kernel did not announce."""
    peer = None
    if (
        isinstance(event, LinkEvent)
        and event.action == "new"
        and needs_peer_lookup(before, event.link)
    ):
        peer = reader.peer(event.link)
    after = apply(before, event, peer)
    for index in stale_peers(before, event):
        link = reader.link(index)
        if link is not None:
            found = reader.peer(link) if needs_peer_lookup(after, link) else None
            after = apply(after, LinkEvent("new", link), found)
    if routes_may_have_changed(before, event):
        after = replace(after, routes=tuple(reader.routes()))
    return after
