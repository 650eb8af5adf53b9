"""`OvsCollector`: the Collector protocol over one OVSDB unix socket."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vtrail.collectors.base import Emit
from vtrail.collectors.ovs import get, transform
from vtrail.collectors.ovs.transform import OvsView
from vtrail.model import Observation

SCHEME = "ovs+unix:"
#: Where Debian, Fedora and upstream's ovs-ctl put the socket.
DEFAULT_SOCKET = "/run/openvswitch/db.sock"


@dataclass(frozen=True, slots=True)
class OvsTarget:
    socket_path: str
    #: Pins the host name used in ids and in the source; None = ask the switch.
    hostname: str | None = None


def parse_source_uri(uri: str) -> OvsTarget:
    """Read `ovs+unix:<absolute path>[@<hostname>]`; bare `ovs` means the usual socket.

    `ovs+unix:///run/openvswitch/db.sock` is accepted too. Raises `ValueError`.
    """
    if uri in ("ovs", "ovs:", SCHEME):
        return OvsTarget(DEFAULT_SOCKET)
    if not uri.startswith(SCHEME):
        raise ValueError(f"not an Open vSwitch source {uri!r}: expected ovs+unix:/path/db.sock")
    rest = uri.removeprefix(SCHEME)
    if rest.startswith("///"):
        rest = rest[2:]
    path, hostname = rest, None
    at = rest.rfind("@")
    # A directory may contain '@'; a host name never contains '/'.
    if at != -1 and "/" not in rest[at + 1 :]:
        path, hostname = rest[:at], rest[at + 1 :].strip() or None
    if not path.startswith("/"):
        raise ValueError(f"OVSDB socket path in {uri!r} must be absolute")
    return OvsTarget(os.path.normpath(path), hostname)


def default_host(recorded: str | None, local_name: str) -> str:
    """The host name for ids when none is pinned: the switch's, as netlink would write it.

    ovs-ctl records `hostname -f` (`hv1.example.net`) in
    `external_ids:hostname`, while the netlink collector names the root
    namespace `socket.gethostname()` (usually `hv1`). A unix socket is on
    this machine, so when the first labels agree this machine's name wins;
    otherwise (a db copied from, or mounted for, another host) the switch's.
    """
    if not recorded or recorded.partition(".")[0] == local_name.partition(".")[0]:
        return local_name
    return recorded


def _now() -> datetime:
    return datetime.now(UTC)


class OvsCollector:
    """Bridges, ports, their wiring and counters from one Open vSwitch database.

    Without `hostname`, the constructor reads `external_ids:hostname` from the
    switch (see `default_host`) and so raises `SourceError` when the socket
    does not answer: the ids depend on that name, and guessing it would make
    every port seem to move when the guess is later corrected.
    """

    def __init__(
        self,
        socket_path: str = DEFAULT_SOCKET,
        hostname: str | None = None,
        *,
        timeout: float = get.DEFAULT_TIMEOUT,
        poll_interval: float = 0.2,
        watch_counters: bool = True,
    ) -> None:
        self.socket_path = str(Path(socket_path).absolute())
        self.timeout = timeout
        #: How often watch() looks at its stop event while the switch is quiet.
        self.poll_interval = poll_interval
        #: Follow counter rewrites in watch() so a vanishing port leaves
        #: counters at most ~5 s old; costs ~0.2 s of CPU per 1,000 ports
        #: per rewrite. Off: the last snapshot's counters are the final ones.
        self.watch_counters = watch_counters
        if hostname is None:
            recorded = get.fetch_state(self.socket_path, timeout).hostname
            hostname = default_host(recorded, socket.gethostname())
        self.hostname = hostname
        self.source = f"{SCHEME}{self.socket_path}@{hostname}"
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # The last view handed to the runner (by snapshot or by an event), so
        # a (re)started watch reports what changed while nobody was looking.
        self._reported: OvsView | None = None

    @classmethod
    def from_uri(
        cls, uri: str, *, timeout: float = get.DEFAULT_TIMEOUT, watch_counters: bool = True
    ) -> OvsCollector:
        target = parse_source_uri(uri)
        return cls(
            target.socket_path, target.hostname, timeout=timeout, watch_counters=watch_counters
        )

    def _remember(self, v: OvsView) -> None:
        with self._lock:
            self._reported = v

    def snapshot(self) -> Observation:
        state = get.fetch_state(self.socket_path, self.timeout)
        at = _now()
        v = transform.view(state, self.hostname)
        self._remember(v)
        return transform.snapshot_observation(v, self.source, at)

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        """Emit one event per change of bridges, ports or wiring until `stop` is set.

        Raises `SourceError` as soon as the connection drops; counters-only
        updates (ovs-vswitchd writes them every few seconds) emit nothing.
        """
        monitor = get.OvsdbMonitor(self.socket_path, self.timeout, counters=self.watch_counters)
        try:
            with self._lock:
                before = self._reported
            current = self._view(monitor, before)
            self._report(emit, before, current)
            while not (stop.is_set() or self._closed.is_set()):
                changes = monitor.wait(self.poll_interval)
                if changes is None:
                    continue
                if changes.structure:
                    previous, current = current, self._view(monitor, current)
                    self._report(emit, previous, current)
                else:
                    # Kept current so a port that vanishes later leaves its
                    # final counters, not those of the last structural change.
                    current = transform.with_counters(current, self.hostname, changes.counters)
                    self._remember(current)
        finally:
            monitor.close()

    def _view(self, monitor: get.OvsdbMonitor, previous: OvsView | None) -> OvsView:
        v = transform.view(monitor.state(), self.hostname)
        if not self.watch_counters and previous is not None:
            v = transform.carry_counters(v, previous)
        return v

    def _report(self, emit: Emit, before: OvsView | None, after: OvsView) -> None:
        obs = None
        if before is not None:
            obs = transform.event_observation(before, after, self.source, _now())
        self._remember(after)
        if obs is not None:
            emit(obs)

    def close(self) -> None:
        """Make a running watch() return; snapshot() holds no connection between calls."""
        self._closed.set()
