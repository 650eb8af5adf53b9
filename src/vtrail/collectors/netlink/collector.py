"""`NetlinkCollector`: the Collector protocol for one network namespace.

One instance per namespace. It opens the namespace once and keeps that handle
(a "pin") until `close()`: the handle is what lets it tell "removed" from
"renamed and replaced", and read the final counters of a namespace that was
just removed — the kernel keeps a namespace alive while someone holds it. The
cost is that a removed namespace (and its veths) outlives `ip netns del` until
this collector notices (within `poll_interval` while watching) and is closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from vtrail.collectors.base import Emit, SourceError
from vtrail.model import Observation

from . import get, state, transform
from .records import (
    LinkInfo,
    NamespaceState,
    PeerRef,
    RouteInfo,
    RtnlEvent,
)


def _now() -> datetime:
    return datetime.now(UTC)


class NetlinkCollector:
    """Links, addresses, routes and counters of one network namespace.

    `netns` is a name under `netns_dir`, or None/"" for the namespace this
    process runs in (labelled with the hostname). Raises `NamespaceGone` if
    there is no such namespace.
    """

    source: str

    def __init__(
        self,
        netns: str | None = None,
        *,
        hostname: str | None = None,
        netns_dir: str = get.NETNS_DIR,
        poll_interval: float = 0.5,
    ) -> None:
        self.hostname = hostname or socket.gethostname()
        self.netns_dir = netns_dir
        self.poll_interval = poll_interval
        self._ns = get.open_netns(netns, hostname=self.hostname, netns_dir=netns_dir)
        #: The label in entity ids: the namespace name, or the hostname for the root one.
        self.namespace = self._ns.label
        self.source = f"netlink:{self.namespace}@{self.hostname}"
        # Held across netlink I/O too, so close() never pulls the pin from under a request.
        self._lock = threading.RLock()
        self._state: NamespaceState | None = None
        self._reported = transform.EMPTY
        self._retired = False
        self._closed = False

    def __repr__(self) -> str:
        return f"NetlinkCollector({self.source!r})"

    @property
    def is_root(self) -> bool:
        return self._ns.name is None

    def alive(self) -> bool:
        """Is the namespace still there under its name?"""
        return not self._closed and not self._retired and self._ns.alive()

    def _check(self) -> None:
        if self._closed:
            raise SourceError(f"{self.source}: collector is closed")
        if not self.alive():
            raise get.NamespaceGone(f"{self.source}: network namespace was removed")

    # -- reading ------------------------------------------------------------------------

    def _nsids(self, opened: contextlib.ExitStack) -> dict[int, get.Netns]:
        """Our netnsid for every other namespace we can name (handles stay open in `opened`)."""
        others = []
        for name in [None, *get.list_namespaces(self.netns_dir)]:
            if name in (self._ns.name, self.hostname):
                continue  # ourselves; a namespace named like the host is not told apart from it
            with contextlib.suppress(SourceError):
                other = opened.enter_context(
                    get.open_netns(name, hostname=self.hostname, netns_dir=self.netns_dir)
                )
                if other.ident != self._ns.ident:
                    others.append(other)
        return get.get_netnsids(self._ns, others)

    def _fetch(self) -> NamespaceState:
        with contextlib.ExitStack() as opened:
            return get.get_state(self._ns, lambda: self._nsids(opened))

    def _resolve_peer(self, link: LinkInfo) -> PeerRef | None:
        with contextlib.ExitStack() as opened:
            return get.resolve_peers(self._ns, [link], lambda: self._nsids(opened)).get(link.index)

    def snapshot(self) -> Observation:
        with self._lock:
            self._check()
            at = _now()
            fresh = self._fetch()
            topo = transform.topology(self.namespace, fresh)
            self._state, self._reported = fresh, topo
        return transform.snapshot(self.source, at, topo, transform.samples(self.namespace, fresh))

    # -- watching -----------------------------------------------------------------------

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        """Emit one event observation per change until `stop` is set.

        Raises `NamespaceGone` (after emitting the closing event) when the
        namespace is removed, `SourceError` when netlink fails.
        """
        with self._lock:
            self._check()
            stream = get.EventStream(self._ns)  # subscribe before the dump: miss nothing
        with stream:
            self._emit(emit, self._resync())
            while not stop.is_set():
                if self._closed:
                    return
                if not self.alive():
                    self._emit(emit, self.retire())
                    raise get.NamespaceGone(f"{self.source}: network namespace was removed")
                try:
                    events = stream.read(self.poll_interval)
                except get.EventsLost:
                    self._emit(emit, self._resync())
                    continue
                for at, event in events:
                    self._emit(emit, self._on_event(event, at))

    @staticmethod
    def _emit(emit: Emit, obs: Observation | None) -> None:
        if obs is not None:
            emit(obs)

    def _resync(self) -> Observation | None:
        """Re-read everything; report what differs from what we reported last."""
        with self._lock:
            self._check()
            at = _now()
            fresh = self._fetch()
            topo = transform.topology(self.namespace, fresh)
            had_baseline = self._state is not None
            change = transform.delta(self._reported, topo)
            self._state, self._reported = fresh, topo
        return transform.event_observation(self.source, at, change) if had_baseline else None

    def _on_event(self, event: RtnlEvent, at: datetime) -> Observation | None:
        with self._lock:
            if self._closed or self._retired:
                return None
            before = self._state if self._state is not None else NamespaceState()
            after = state.follow(before, event, _Reader(self))
            obs, self._reported = transform.on_event(
                self.source, at, self.namespace, event, before, after, self._reported
            )
            self._state = after
        return obs

    # -- the end ------------------------------------------------------------------------

    def retire(self) -> Observation | None:
        """The closing event for a removed namespace: all it held is gone, final counters.

        Returns None if already retired (by `watch()` or a fleet); call `close()` after.
        """
        with self._lock:
            if self._retired or self._closed:
                return None
            self._retired = True
            at = _now()
            final: NamespaceState | None
            try:
                final = self._fetch()  # through our pin: the namespace still exists
            except SourceError:
                final = None
            obs = transform.retirement(self.source, at, self.namespace, self._reported, final)
            self._reported = transform.EMPTY
        return obs

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._ns.close()


class _Reader:
    """`state.Reader` over the live kernel, for one collector's namespace."""

    def __init__(self, collector: NetlinkCollector) -> None:
        self._c = collector

    def peer(self, link: LinkInfo) -> PeerRef | None:
        return self._c._resolve_peer(link)

    def link(self, index: int) -> LinkInfo | None:
        return get.get_link(self._c._ns, index)

    def routes(self) -> Sequence[RouteInfo]:
        return get.get_routes(self._c._ns)
