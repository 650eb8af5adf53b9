"""`--source URI` → what the runner records: a `SourceSpec`, or a `SourceGroup`.

| URI                               | what                                          |
|-----------------------------------|-----------------------------------------------|
| `libvirt+<libvirt URI>[@NAME]`    | one libvirt connection (`@NAME` names the host)|
| `netlink`                         | every network namespace, as they come and go  |
| `netlink:NAME`                    | one namespace (the hostname: the root one)    |
| `ovs+unix:/path/db.sock[@NAME]`   | one Open vSwitch database                     |
| `file:PATH.jsonl`                 | a file of observations, followed as it grows  |
| `leases:PATH[?space=NAME]`        | a dnsmasq lease file or a Kea memfile CSV     |

Parsing happens here, at once, so that a typo or a missing client library
(`MissingLibrary`, naming the extra to install) fails before recording starts;
connecting happens in the runner, so that a source that is down at start is
retried like one that goes down later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vtrail.collectors.base import Collector, Emit
from vtrail.collectors.filetail import FileTail
from vtrail.collectors.filetail import parse_source_uri as parse_file_uri
from vtrail.collectors.libraries import require
from vtrail.model import Observation
from vtrail.recording.runner import (
    AddMember,
    RemoveMember,
    Report,
    SourceGroup,
    SourceSpec,
)

FORMS = (
    "libvirt+URI (e.g. libvirt+qemu:///system, libvirt+test:///default), "
    "netlink, netlink:NAME, ovs+unix:/path/db.sock, file:PATH.jsonl, leases:PATH"
)


class BadSource(ValueError):
    """A `--source` that cannot be understood; the message says how to write it."""


def parse_source(uri: str) -> SourceSpec | SourceGroup:
    """Check `uri` and return what opens it; `BadSource` if it is not understood."""
    uri = uri.strip()
    try:
        if uri.startswith("libvirt+"):
            return libvirt_source(uri)
        if uri == "netlink" or uri.startswith("netlink:"):
            return netlink_source(uri)
        if uri == "ovs" or uri.startswith("ovs+"):
            return ovs_source(uri)
        if uri.startswith("file:"):
            return file_source(uri)
        if uri.startswith("leases:"):
            return lease_source(uri)
    except ValueError as e:
        raise BadSource(str(e)) from None
    raise BadSource(f"unknown source {uri!r}; expected one of: {FORMS}")


def parse_sources(uris: list[str]) -> list[SourceSpec | SourceGroup]:
    """Every `--source`; the same one twice is recorded once."""
    seen: dict[str, SourceSpec | SourceGroup] = {}
    for uri in uris:
        spec = parse_source(uri)
        seen.setdefault(spec.uri, spec)
    return list(seen.values())


def libvirt_source(uri: str, open_conn: Callable[[str], object] | None = None) -> SourceSpec:
    """`open_conn` replaces libvirt's opener (the demo hands over its own connections)."""
    require("libvirt")
    from vtrail.collectors.libvirt import LibvirtCollector, parse_source_uri

    parse_source_uri(uri)

    def opener(_report: Report) -> Collector:
        if open_conn is None:
            return LibvirtCollector.from_source(uri)
        return LibvirtCollector.from_source(uri, open_conn=open_conn)

    return SourceSpec(uri, opener)


def ovs_source(uri: str) -> SourceSpec:
    require("ovs")
    from vtrail.collectors.ovs import OvsCollector, parse_source_uri

    parse_source_uri(uri)
    return SourceSpec(uri, lambda _report: OvsCollector.from_uri(uri))


def file_source(uri: str) -> SourceSpec:
    path = parse_file_uri(uri)
    holder: list[FileTail] = []

    def opener(report: Report) -> Collector:
        # One tail for the whole run, so that a reconnect resumes where it stopped.
        if not holder:
            holder.append(FileTail(path, report))
        holder[0].check()
        return holder[0]

    return SourceSpec(f"file:{path}", opener, reconcile=False, parsed=True)


def lease_source(uri: str) -> SourceSpec:
    from vtrail.collectors.leases import LeaseFile, parse_source_uri

    path, space = parse_source_uri(uri)

    def opener(_report: Report) -> Collector:
        found = LeaseFile(path, space)
        found.check()
        return found

    return SourceSpec(f"leases:{path}", opener)


def netlink_source(uri: str, *, netns_dir: str | None = None) -> SourceGroup:
    require("netlink")
    from vtrail.collectors.netlink import NetlinkCollector, NetlinkFleet, parse_source_uri

    parse_source_uri(uri)
    fleet = (
        NetlinkFleet.from_uri(uri)
        if netns_dir is None
        else NetlinkFleet.from_uri(uri, netns_dir=netns_dir)
    )

    def follow(stop: threading.Event, add: AddMember, remove: RemoveMember) -> None:
        def added(c: NetlinkCollector) -> None:
            add(SourceSpec(c.source, lambda _report: _Borrowed(c), exists=c.alive))

        def removed(c: NetlinkCollector, final: Observation | None) -> None:
            remove(c.source, final)
            c.close()

        fleet.follow(stop, added, removed)

    return SourceGroup(uri, follow, fleet.close)


class _Borrowed:
    """A fleet's collector lent to the runner: the fleet, not a session, closes it.

    Its namespace handle must outlive a failed session, or the next one could
    not tell the namespace it watched from a new one under the same name.
    """

    def __init__(self, inner: Collector) -> None:
        self.inner = inner
        self.source = inner.source

    def snapshot(self) -> Observation:
        return self.inner.snapshot()

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        self.inner.watch(emit, stop)

    def close(self) -> None:
        """Nothing to do: the fleet closes its collectors when it retires them."""
