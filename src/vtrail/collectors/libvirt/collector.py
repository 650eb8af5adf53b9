"""`LibvirtCollector`: one libvirt connection as a vtrail source.

The collector owns one connection, opened by `open_conn(uri)` (the OS
boundary; tests pass an opener that keeps a handle on the connection).
A `SourceError` from any call drops that connection; the next `snapshot()`
or `watch()` opens a fresh one, so the runner may reuse the collector after
a disconnect or build a new one.

`watch()` hands `emit` one event observation per libvirt event, on the
caller's thread: libvirt's callbacks only queue what fired, and this thread
reads the domain and transforms it, so a slow `emit` never stalls libvirt's
event loop (which also carries keepalive). It raises `SourceError` when
libvirt's close callback fires or when the periodic ping fails.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from vtrail.collectors.base import Emit, SourceError
from vtrail.collectors.libvirt import events, get, parse, subscribe, transform
from vtrail.collectors.libvirt.parse import NetworkConfig
from vtrail.collectors.libvirt.payload import (
    ConnectionClosed,
    DomainEvent,
    NetworkEvent,
)
from vtrail.collectors.libvirt.transform import DomainView
from vtrail.model import Observation

log = logging.getLogger(__name__)

OpenConn = Callable[[str], get.Conn]
_Item = DomainEvent | NetworkEvent | ConnectionClosed

PREFIX = "libvirt+"
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_source_uri(spec: str) -> tuple[str, str | None]:
    """`libvirt+URI[@NAME]` → `(URI, NAME or None)`.

    The `@NAME` suffix names the host when several URIs would report the same
    hostname (test-driver hosts on one machine). An `@` inside the URI's
    authority (`qemu+ssh://root@hv-a/system`) is not a suffix: the suffix must
    follow the URI's path and look like a host name.
    """
    if not spec.startswith(PREFIX):
        raise ValueError(f"not a libvirt source {spec!r}: expected libvirt+URI[@NAME]")
    rest = spec.removeprefix(PREFIX)
    uri, sep, name = rest.rpartition("@")
    _, authority, after = uri.partition("://")
    if sep and authority and "/" in after:  # the '@' follows the path: a host suffix
        if not _HOST_NAME.match(name):
            raise ValueError(f"bad host name {name!r} after '@' in {spec!r}")
        return uri, name
    if "://" not in rest:
        raise ValueError(f"not a libvirt URI {rest!r} (e.g. qemu:///system, test:///default)")
    return rest, None


def default_host(uri: str, reported: str, local_name: str) -> str:
    """The host name to use when `@NAME` is not given: `conn.getHostname()`, except
    for a local URI, where it is this machine's own name as the netlink and OVS
    collectors write it (`socket.gethostname()`).

    libvirt turns a dotless hostname into the resolver's FQDN; left alone,
    `port:hv1.example.net/vnet0` here and `port:hv1/vnet0` from netlink would
    be two ports, and the topology would not join.
    """
    local = urlsplit(uri).netloc == ""
    if local and reported.partition(".")[0] == local_name.partition(".")[0]:
        return local_name
    return reported


def source_name(uri: str, host: str) -> str:
    """The `source` of every observation from this connection: `libvirt+URI@HOST`."""
    return f"{PREFIX}{uri}@{host}"


class LibvirtCollector:
    """Records one libvirt connection (see docs/collectors/libvirt.md).

    `host` overrides the hypervisor's reported hostname (see `default_host`)
    in ids and in the source. Without it, the constructor connects to learn
    the hostname and raises `SourceError` when it cannot; with it, the first
    `snapshot()` or `watch()` connects.

    `open_conn(uri)` must raise `SourceError` on failure and must have called
    `subscribe.ensure_event_loop()` before opening (as `get.open_connection`
    does), or libvirt delivers no events on that connection.
    `probe_interval` is how often a watching collector pings the connection.

    `watching` is set while `watch()` has its callbacks in place: a runner
    that takes its snapshot after that instant misses nothing in between.
    `snapshot()` may run on another thread while `watch()` runs; two
    concurrent `watch()` calls on one collector are not supported.
    """

    source: str

    def __init__(
        self,
        uri: str,
        host: str | None = None,
        *,
        open_conn: OpenConn = get.open_connection,
        probe_interval: float = 2.0,
    ) -> None:
        self.uri = uri
        self._open = open_conn
        self._probe_interval = probe_interval
        self._lock = threading.RLock()
        self._conn: get.Conn | None = None
        self._domains: dict[str, DomainView] = {}
        self._networks: dict[str, NetworkConfig] = {}
        self._persistent_nets: set[str] = set()
        self.watching = threading.Event()
        self._closing = threading.Event()
        self._watch_idle = threading.Event()
        self._watch_idle.set()
        if host is None:
            conn = self._connection()
            try:
                host = default_host(uri, get.fetch_host(conn, uri).hostname, socket.gethostname())
            except SourceError:
                self._drop(conn)
                raise
        self.host = host
        self.source = source_name(uri, host)

    @classmethod
    def from_source(
        cls,
        spec: str,
        *,
        open_conn: OpenConn = get.open_connection,
        probe_interval: float = 2.0,
    ) -> LibvirtCollector:
        """Build from the `vtrail record --source libvirt+URI[@NAME]` syntax."""
        uri, host = parse_source_uri(spec)
        return cls(uri, host, open_conn=open_conn, probe_interval=probe_interval)

    # --- the Collector protocol -------------------------------------------------

    def snapshot(self) -> Observation:
        conn = self._connection()
        try:
            fetched = get.fetch_all(conn, self.uri)
        except SourceError:
            self._drop(conn)
            raise
        snap = transform.build_snapshot(self.source, self.host, fetched)
        with self._lock:
            self._domains = dict(snap.domains)
            self._networks = dict(snap.networks)
            self._persistent_nets = set(snap.persistent_networks)
        return snap.observation

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        conn = self._connection()
        inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        try:
            reg = subscribe.register_events(conn, self.uri, inbox.put)
        except SourceError:
            self._drop(conn)
            raise
        failed = False
        self._watch_idle.clear()
        self.watching.set()
        try:
            next_ping = time.monotonic() + self._probe_interval
            while not stop.is_set() and not self._closing.is_set():
                with contextlib.suppress(queue.Empty):
                    self._handle(conn, inbox.get(timeout=min(0.25, self._probe_interval)), emit)
                if time.monotonic() >= next_ping:
                    get.ping(conn, self.uri)
                    next_ping = time.monotonic() + self._probe_interval
            # What already fired before the stop is part of the record.
            while True:
                try:
                    self._handle(conn, inbox.get_nowait(), emit)
                except queue.Empty:
                    break
            if not stop.is_set():
                raise SourceError(f"libvirt {self.uri}: the collector was closed")
        except SourceError:
            failed = True
            raise
        finally:
            self.watching.clear()
            subscribe.deregister_events(conn, reg)
            if failed:
                self._drop(conn)
            self._watch_idle.set()

    def close(self) -> None:
        """Release the connection (a later call opens a new one). Idempotent.

        A running `watch()` is ended first (it raises `SourceError` unless its
        `stop` was set), because callbacks still registered would keep the
        connection alive inside libvirt after we let go of it.
        """
        self._closing.set()
        try:
            self._watch_idle.wait(2.0)
            with self._lock:
                conn, self._conn = self._conn, None
            if conn is not None:
                get.close_connection(conn)
        finally:
            self._closing.clear()

    # --- internals --------------------------------------------------------------

    def _connection(self) -> get.Conn:
        with self._lock:
            if self._conn is None:
                self._conn = self._open(self.uri)
            return self._conn

    def _drop(self, conn: get.Conn) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        get.close_connection(conn)

    def _handle(self, conn: get.Conn, item: _Item, emit: Emit) -> None:
        if isinstance(item, ConnectionClosed):
            raise SourceError(f"libvirt {self.uri}: connection closed ({item.reason})")
        obs = (
            self._domain_event(conn, item)
            if isinstance(item, DomainEvent)
            else self._network_event(conn, item)
        )
        if obs is not None:
            emit(obs)

    def _domain_event(self, conn: get.Conn, ev: DomainEvent) -> Observation | None:
        fetched = get.fetch_domain(conn, self.uri, ev.uuid)
        if fetched is not None:
            # A NIC on a network we have not read yet needs that network's bridge.
            config, _ = parse.try_parse_domain(fetched.xml, fetched.name)
            wanted = {i.network for i in config.interfaces if i.network} if config else set()
            with self._lock:
                wanted -= self._networks.keys()
            for name in wanted:
                net = get.fetch_network(conn, self.uri, name)
                if net is not None:
                    with self._lock:
                        self._networks.setdefault(name, parse.network_config(net))
        with self._lock:
            bridges = {name: cfg.bridge for name, cfg in self._networks.items()}
            known = self._domains.get(ev.uuid.lower())
            obs, view = events.domain_event(self.source, self.host, ev, fetched, known, bridges)
            if view is None:
                self._domains.pop(ev.uuid.lower(), None)
            else:
                self._domains[view.uuid] = view
        return obs

    def _network_event(self, conn: get.Conn, ev: NetworkEvent) -> Observation:
        fetched = get.fetch_network(conn, self.uri, ev.name)
        with self._lock:
            known = (
                True
                if ev.name in self._persistent_nets
                else (False if ev.name in self._networks else None)
            )
            obs, cfg, persistent = events.network_event(self.source, self.host, ev, fetched, known)
            if cfg is None:
                self._networks.pop(ev.name, None)
            else:
                self._networks[ev.name] = cfg
            if persistent:
                self._persistent_nets.add(ev.name)
            else:
                self._persistent_nets.discard(ev.name)
        return obs
