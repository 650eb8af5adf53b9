"""Talk to rtnetlink in one network namespace; raise `SourceError` when that fails.

The namespace is the OS boundary and always a parameter: a name under
/run/netns, None (or "") for the namespace this process runs in — "the root
namespace", labelled with the hostname — or an open `Netns` handle. Sockets
are made inside the namespace by `netns.in_netns()`; messages are decoded
into `records` right here, so nothing past `get` sees pyroute2.
"""

from __future__ import annotations

import errno
import functools
import os
import select
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.collectors.base import SourceError

from . import codec
from .netns import NETNS_DIR, NamespaceGone, Netns, handle, in_netns, list_namespaces, open_netns
from .records import (
    AddrEvent,
    AddrInfo,
    LinkEvent,
    LinkInfo,
    NamespaceState,
    PeerRef,
    RouteEvent,
    RouteInfo,
    RtnlEvent,
)

__all__ = [
    "NETNS_DIR",
    "EventStream",
    "EventsLost",
    "NamespaceGone",
    "Netns",
    "Rtnl",
    "get_addresses",
    "get_ip_forward",
    "get_link",
    "get_links",
    "get_netnsids",
    "get_routes",
    "get_state",
    "list_namespaces",
    "open_netns",
    "resolve_peers",
]

_NETLINK_ROUTE = 0
_SO_RCVBUFFORCE = 33  # Linux; root may exceed net.core.rmem_max with it
_REQUEST_TIMEOUT = 5.0
_DUMP_RETRIES = 8  # with backoff: about 1.3 s of retrying
#: Room for a burst of notifications (a namespace torn down at once) before ENOBUFS.
_EVENT_RCVBUF = 8 << 20


class EventsLost(Exception):
    """The kernel dropped notifications (ENOBUFS); only a fresh dump tells what changed."""


# -- rtnetlink sockets ------------------------------------------------------------------


class Rtnl:
    """A NETLINK_ROUTE socket living in one namespace."""

    def __init__(self, ns: Netns, groups: int = 0) -> None:
        self.ns = ns
        self._seq = 0
        try:
            self.sock = in_netns(
                ns,
                lambda: socket.socket(
                    socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_ROUTE
                ),
            )
            if groups:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _EVENT_RCVBUF)
                except PermissionError:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _EVENT_RCVBUF)
            self.sock.bind((0, groups))
        except OSError as e:
            raise SourceError(f"netlink socket in {ns.label!r}: {e.strerror or e}") from None
        self.sock.settimeout(_REQUEST_TIMEOUT)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(1 << 18)
        except TimeoutError:
            raise SourceError(f"netlink in {self.ns.label!r}: no answer") from None
        except OSError as e:
            raise SourceError(f"netlink in {self.ns.label!r}: {e.strerror or e}") from None

    def _exchange(self, payload: bytes, seq: int) -> Iterator[codec.Frame]:
        try:
            self.sock.send(payload)
        except OSError as e:
            raise SourceError(f"netlink in {self.ns.label!r}: {e.strerror or e}") from None
        while True:
            for frame in codec.frames(self._recv()):
                if frame.seq != seq:
                    continue
                if frame.type == codec.NLMSG_DONE:
                    return
                if frame.type == codec.NLMSG_ERROR:
                    if frame.error:
                        raise OSError(frame.error, os.strerror(frame.error))
                    return
                yield frame
                if not frame.flags & codec.NLM_F_MULTI:
                    return  # the single answer to a non-dump request

    def dump(self, mtype: int) -> list[codec.Frame]:
        """All answers to an RTM_GET* dump, retried while the kernel flags it inconsistent.

        A dump that raced a change is marked NLM_F_DUMP_INTR and may miss links
        that exist; a snapshot built on it would report them vanished. Under a
        burst of changes, backing off lets the burst pass.
        """
        for attempt in range(_DUMP_RETRIES):
            if attempt:
                time.sleep(0.01 * 2 ** (attempt - 1))
            seq = self._next_seq()
            try:
                got = list(self._exchange(codec.dump_request(mtype, seq), seq))
            except OSError as e:
                raise SourceError(f"netlink dump in {self.ns.label!r}: {e.strerror}") from None
            if not any(f.flags & codec.NLM_F_DUMP_INTR for f in got):
                return got
        raise SourceError(f"netlink dump in {self.ns.label!r} kept changing under us")

    def ask(self, payload_for_seq: Callable[[int], bytes]) -> list[codec.Frame]:
        """One request and its answers; OSError carries the kernel's errno."""
        seq = self._next_seq()
        return list(self._exchange(payload_for_seq(seq), seq))


# -- the get functions ------------------------------------------------------------------


def _links(rtnl: Rtnl) -> list[LinkInfo]:
    events = (codec.decode(f) for f in rtnl.dump(codec.RTM_GETLINK))
    return [e.link for e in events if isinstance(e, LinkEvent)]


def _addresses(rtnl: Rtnl) -> list[AddrInfo]:
    events = (codec.decode(f) for f in rtnl.dump(codec.RTM_GETADDR))
    return [e.addr for e in events if isinstance(e, AddrEvent)]


def _routes(rtnl: Rtnl) -> list[RouteInfo]:
    events = (codec.decode(f) for f in rtnl.dump(codec.RTM_GETROUTE))
    return [e.route for e in events if isinstance(e, RouteEvent)]


def get_links(netns: Netns | str | None) -> list[LinkInfo]:
    with handle(netns) as ns, Rtnl(ns) as rtnl:
        return _links(rtnl)


def get_addresses(netns: Netns | str | None) -> list[AddrInfo]:
    with handle(netns) as ns, Rtnl(ns) as rtnl:
        return _addresses(rtnl)


def get_routes(netns: Netns | str | None) -> list[RouteInfo]:
    """Unicast routes of the main table, both families."""
    with handle(netns) as ns, Rtnl(ns) as rtnl:
        return _routes(rtnl)


def _link_by_index(rtnl: Rtnl, index: int) -> LinkInfo | None:
    try:
        frames = rtnl.ask(lambda seq: codec.getlink_request(index, seq))
    except OSError as e:
        if e.errno == errno.ENODEV:
            return None
        raise SourceError(f"netlink in {rtnl.ns.label!r}: {e.strerror}") from None
    for frame in frames:
        event = codec.decode(frame)
        if isinstance(event, LinkEvent):
            return event.link
    return None


def get_link(netns: Netns | str | None, index: int) -> LinkInfo | None:
    """One link by ifindex; None if there is no such link (any more)."""
    with handle(netns) as ns, Rtnl(ns) as rtnl:
        return _link_by_index(rtnl, index)


def get_ip_forward(netns: Netns | str | None) -> bool:
    """net.ipv4.ip_forward as the namespace sees it."""
    with handle(netns) as ns:
        try:
            text = in_netns(ns, Path("/proc/sys/net/ipv4/ip_forward").read_text)
        except OSError as e:
            raise SourceError(f"ip_forward in {ns.label!r}: {e.strerror}") from None
    return text.strip() == "1"


def get_netnsids(netns: Netns | str | None, others: Sequence[Netns]) -> dict[int, Netns]:
    """The ids `netns` gives the `others` (its IFLA_LINK_NETNSID values), by id.

    Namespaces it has no id for are left out: nothing of it points there.
    """
    found: dict[int, Netns] = {}
    with handle(netns) as ns, Rtnl(ns) as rtnl:
        for other in others:
            try:
                frames = rtnl.ask(functools.partial(codec.getnsid_request, other.fd))
            except OSError:
                continue  # closed meanwhile, or a kernel without RTM_GETNSID
            for frame in frames:
                if frame.type == codec.RTM_NEWNSID and (nsid := codec.nsid_of(frame)) is not None:
                    found.setdefault(nsid, other)
    return found


def get_peer_names(peer_ns: Netns, indexes: Sequence[int]) -> dict[int, str]:
    """ifnames of `indexes` in `peer_ns`; missing ones are left out."""
    names = {}
    with Rtnl(peer_ns) as rtnl:
        for index in indexes:
            link = _link_by_index(rtnl, index)
            if link is not None:
                names[index] = link.ifname
    return names


def resolve_peers(
    ns: Netns, links: Sequence[LinkInfo], nsids: Callable[[], dict[int, Netns]]
) -> dict[int, PeerRef]:
    """Where the veths whose peer is in another namespace lead, by local ifindex.

    `nsids` is only called when some veth points elsewhere (it costs a request
    per known namespace).
    """
    remote = [
        link
        for link in links
        if link.kind == "veth" and link.link and link.link_netnsid is not None
    ]
    if not remote:
        return {}
    by_id = nsids()
    peers: dict[int, PeerRef] = {}
    for nsid in {link.link_netnsid for link in remote}:
        peer_ns = by_id.get(nsid) if nsid is not None else None
        if peer_ns is None:
            continue  # a namespace without a name we know (a container's, say)
        ends = [link for link in remote if link.link_netnsid == nsid]
        try:
            names = get_peer_names(peer_ns, [link.link for link in ends if link.link])
        except SourceError:
            continue  # the peer's side failed; our own links are still worth reporting
        for link in ends:
            if link.link in names:
                peers[link.index] = PeerRef(peer_ns.label, names[link.link])
    return peers


def get_state(ns: Netns, nsids: Callable[[], dict[int, Netns]]) -> NamespaceState:
    """Links, addresses, main-table routes, ip_forward and remote veth peers of `ns`."""
    with Rtnl(ns) as rtnl:
        links = _links(rtnl)
        addrs = _addresses(rtnl)
        routes = _routes(rtnl)
    return NamespaceState(
        links=tuple(links),
        addrs=tuple(addrs),
        routes=tuple(routes),
        ip_forward=get_ip_forward(ns),
        remote_peers=resolve_peers(ns, links, nsids),
    )


class EventStream:
    """rtnetlink notifications of one namespace: links, addresses, routes, ip_forward.

    Netlink carries no timestamps, so each datagram is stamped when read,
    strictly increasing: a link created and deleted between two reads still
    gets an interval of its own, however short.
    """

    def __init__(self, ns: Netns) -> None:
        self.ns = ns
        self._rtnl = Rtnl(ns, groups=codec.EVENT_GROUPS)
        self._rtnl.sock.setblocking(False)
        self._last = datetime.fromtimestamp(0, UTC)

    def _stamp(self) -> datetime:
        self._last = max(datetime.now(UTC), self._last + timedelta(microseconds=1))
        return self._last

    def read_frames(self, timeout: float) -> list[tuple[datetime, codec.Frame]]:
        """What arrived within `timeout` seconds ([] if nothing), with receipt times."""
        sock = self._rtnl.sock
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return []
            got: list[tuple[datetime, codec.Frame]] = []
            while True:
                try:
                    data = sock.recv(1 << 18)
                except BlockingIOError:
                    return got
                got.extend((self._stamp(), f) for f in codec.frames(data))
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                self._drain()
                raise EventsLost(f"netlink events in {self.ns.label!r} overran") from None
            raise SourceError(f"netlink events in {self.ns.label!r}: {e.strerror or e}") from None
        except ValueError:  # select() on a socket closed by another thread
            raise SourceError(f"netlink events in {self.ns.label!r}: socket closed") from None

    def _drain(self) -> None:
        """Discard what is queued. The kernel reports no further overrun until the
        queue has been emptied once, and what is queued predates the dump that
        must follow anyway."""
        while True:
            try:
                self._rtnl.sock.recv(1 << 18)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise SourceError(
                        f"netlink events in {self.ns.label!r}: {e.strerror or e}"
                    ) from None

    def read(self, timeout: float) -> list[tuple[datetime, RtnlEvent]]:
        return [
            (at, e) for at, f in self.read_frames(timeout) if (e := codec.decode(f)) is not None
        ]

    def close(self) -> None:
        self._rtnl.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
