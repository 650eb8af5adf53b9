"""Which namespaces to record, and following them as they come and go.

`vtrail record --source netlink` records every namespace (the root one plus
each name under /run/netns); `--source netlink:NAME` one of them, where the
hostname names the root namespace; `--source 'netlink:qrouter-*'` those whose
name matches a shell pattern. Either way the runner holds a
`NetlinkFleet` and learns of namespaces through `scan()` or `follow()`:

    fleet = NetlinkFleet.from_uri("netlink")
    fleet.follow(stop, on_added=start, on_removed=finish)

`on_added(collector)`: start its watch() thread and its snapshot() polling.
`on_removed(collector, final)`: record `final` (the event that closes all the
namespace held, with final counters; None if its watch() already emitted
it), stop the collector's threads, then `collector.close()`.

Namespaces are found by listing the directory every `interval` seconds.
inotify would be quicker to hear of a new name, but `ip netns add` creates
the file before it mounts the namespace on it, and the directory may not
exist until the first namespace is made; a listing has neither problem and
costs one readdir.
"""

from __future__ import annotations

import fnmatch
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vtrail.collectors.base import SourceError
from vtrail.model import Observation

from . import get
from .collector import NetlinkCollector

log = logging.getLogger(__name__)

SCHEME = "netlink"


@dataclass(frozen=True, slots=True)
class NetlinkSourceSpec:
    """A parsed `netlink[:NAME[@HOST]]` source: `namespace` None means all of them."""

    namespace: str | None = None
    host: str | None = None


def parse_source_uri(uri: str) -> NetlinkSourceSpec:
    """`netlink` / `netlink:*` → all namespaces; `netlink:NAME` → one; `netlink:GLOB` → some.

    `netlink:NAME@HOST` (the form of a collector's `source`) is accepted when
    HOST is this machine: netlink only reaches the local kernel.
    """
    scheme, _, rest = uri.strip().partition(":")
    if scheme != SCHEME:
        raise ValueError(f"not a netlink source: {uri!r} (expected netlink or netlink:NAME)")
    name, _, host = rest.partition("@")
    if host and host != socket.gethostname():
        raise ValueError(
            f"source {uri!r} names host {host!r}, but netlink can only record this "
            f"machine ({socket.gethostname()!r})"
        )
    if name in ("", "*"):
        return NetlinkSourceSpec(None, host or None)
    if "/" in name or name in (".", "..") or any(c.isspace() for c in name):
        raise ValueError(f"bad network namespace name {name!r} in {uri!r}")
    return NetlinkSourceSpec(name, host or None)


@dataclass(frozen=True, slots=True)
class FleetChange:
    """What one `scan()` found: collectors to start, and collectors to finish."""

    added: tuple[NetlinkCollector, ...] = ()
    #: (collector, closing observation or None if already emitted by its watch()).
    removed: tuple[tuple[NetlinkCollector, Observation | None], ...] = field(default=())


class NetlinkFleet:
    """One `NetlinkCollector` per namespace, following namespaces as they come and go."""

    def __init__(
        self,
        only: str | None = None,
        *,
        hostname: str | None = None,
        netns_dir: str = get.NETNS_DIR,
        include_root: bool = True,
        poll_interval: float = 0.5,
    ) -> None:
        self.hostname = hostname or socket.gethostname()
        self.only = only
        self.netns_dir = netns_dir
        self.include_root = include_root
        self.poll_interval = poll_interval
        self._collectors: dict[str, NetlinkCollector] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_uri(
        cls, uri: str, *, netns_dir: str = get.NETNS_DIR, poll_interval: float = 0.5
    ) -> NetlinkFleet:
        """The fleet a `--source` string asks for (see `parse_source_uri`)."""
        spec = parse_source_uri(uri)
        return cls(spec.namespace, netns_dir=netns_dir, poll_interval=poll_interval)

    def collectors(self) -> list[NetlinkCollector]:
        with self._lock:
            return [self._collectors[k] for k in sorted(self._collectors)]

    def _matches(self, name: str) -> bool:
        return self.only is None or fnmatch.fnmatchcase(name, self.only)

    def _wanted(self) -> list[str | None]:
        """Namespace names to record now; None is the root namespace."""
        names: list[str | None] = []
        if self.include_root and self._matches(self.hostname):
            names.append(None)
        if self.only == self.hostname:
            return names
        for name in get.list_namespaces(self.netns_dir):
            if name == self.hostname:
                log.warning("netlink: skipping namespace %r: it has the host's name", name)
            elif self._matches(name):
                names.append(name)
        return names

    def scan(self) -> FleetChange:
        """Look once: retire collectors of vanished namespaces, open new ones."""
        wanted = self._wanted()
        labels = {self.hostname if n is None else n: n for n in wanted}
        removed: list[tuple[NetlinkCollector, Observation | None]] = []
        added: list[NetlinkCollector] = []
        with self._lock:
            for label, collector in sorted(self._collectors.items()):
                # Gone, or the name now leads to a new namespace: the old one ended.
                if label not in labels or not collector.alive():
                    del self._collectors[label]
                    removed.append((collector, collector.retire()))
            for label, name in sorted(labels.items()):
                if label in self._collectors:
                    continue
                try:
                    collector = NetlinkCollector(
                        name,
                        hostname=self.hostname,
                        netns_dir=self.netns_dir,
                        poll_interval=self.poll_interval,
                    )
                except SourceError as e:  # removed between the listing and the open
                    log.info("netlink: namespace %r vanished before it was opened: %s", label, e)
                    continue
                self._collectors[label] = collector
                added.append(collector)
        return FleetChange(tuple(added), tuple(removed))

    def follow(
        self,
        stop: threading.Event,
        on_added: Callable[[NetlinkCollector], None],
        on_removed: Callable[[NetlinkCollector, Observation | None], None],
        interval: float = 1.0,
    ) -> None:
        """Scan every `interval` seconds until `stop` is set; the first scan adds all."""
        while not stop.is_set():
            change = self.scan()
            for collector, final in change.removed:
                on_removed(collector, final)
            for collector in change.added:
                on_added(collector)
            stop.wait(interval)

    def close(self) -> None:
        with self._lock:
            collectors, self._collectors = list(self._collectors.values()), {}
        for collector in collectors:
            collector.close()
