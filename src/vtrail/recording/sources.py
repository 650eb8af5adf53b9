"""`--source URI` → what the runner records: a `SourceSpec`, or a `SourceGroup`.

| URI                               | what                                          |
|-----------------------------------|-----------------------------------------------|
| `libvirt+<libvirt URI>[@NAME]`    | one libvirt connection (`@NAME` names the host)|
| `netlink`                         | every network namespace, as they come and go  |
| `netlink:NAME`                    | one namespace (the hostname: the root one)    |
| `ovs+unix:/path/db.sock[@NAME]`   | one Open vSwitch database                     |
| `file:PATH.jsonl`                 | a file of observations, followed as it grows  |
| `probe`                           | the probes of the policy in force, as it changes |
| `inventory:PATH` (YAML or CSV)    | a register of owners and support (asset facts)|
| `dmi[:DIR][@NAME]`                | this host's vendor, model, serial and BIOS    |
| `leases:PATH[?space=NAME]`        | a dnsmasq lease file or a Kea memfile CSV     |

Parsing happens here, at once, so that a typo or a missing client library
(`MissingLibrary`, naming the extra to install) fails before recording starts;
connecting happens in the runner, so that a source that is down at start is
retried like one that goes down later.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence

from vtrail.collectors.base import Collector, Emit
from vtrail.collectors.dmi import DmiCollector
from vtrail.collectors.dmi import parse_source_uri as parse_dmi_uri
from vtrail.collectors.filetail import FileTail
from vtrail.collectors.filetail import parse_source_uri as parse_file_uri
from vtrail.collectors.inventory import InventoryCollector
from vtrail.collectors.inventory import parse_source_uri as parse_inventory_uri
from vtrail.collectors.libraries import require
from vtrail.collectors.probe.rounds import ProbeSpec, Targets, source_name
from vtrail.model import Observation
from vtrail.recording.runner import (
    AddMember,
    RemoveMember,
    Report,
    SourceGroup,
    SourceSpec,
)

log = logging.getLogger(__name__)

FORMS = (
    "libvirt+URI (e.g. libvirt+qemu:///system, libvirt+test:///default), "
    "netlink, netlink:NAME, ovs+unix:/path/db.sock, file:PATH.jsonl, probe, "
    "inventory:PATH.yaml|csv, dmi[:DIR][@NAME], leases:PATH"
)
#: The `--source` that runs the policy's probes; the caller gives it the probes.
PROBE = "probe"
#: Every probe in force: its spec and what it measures at each round.
ProbeSet = Callable[[], Sequence[tuple[ProbeSpec, Targets]]]


class BadSource(ValueError):
    """A `--source` that cannot be understood; the message says how to write it."""


def parse_source(uri: str, probes: ProbeSet | None = None) -> SourceSpec | SourceGroup:
    """Check `uri` and return what opens it; `BadSource` if it is not understood.

    `probes` says which probes are in force (the policy's, which this layer cannot
    read): without it, `probe` is refused."""
    uri = uri.strip()
    try:
        if uri == PROBE:
            if probes is None:
                raise BadSource("the probe source runs the probes of a policy: none was given")
            return probe_source(probes)
        if uri.startswith("libvirt+"):
            return libvirt_source(uri)
        if uri == "netlink" or uri.startswith("netlink:"):
            return netlink_source(uri)
        if uri == "ovs" or uri.startswith("ovs+"):
            return ovs_source(uri)
        if uri.startswith("file:"):
            return file_source(uri)
        if uri.startswith("inventory:"):
            path = parse_inventory_uri(uri)
            return SourceSpec(f"inventory:{path}", lambda _report: InventoryCollector(path))
        if uri == "dmi" or uri.startswith(("dmi:", "dmi@")):
            directory, host = parse_dmi_uri(uri)
            return SourceSpec(uri, lambda _report: DmiCollector(directory, host))
        if uri.startswith("leases:"):
            return lease_source(uri)
    except ValueError as e:
        raise BadSource(str(e)) from None
    raise BadSource(f"unknown source {uri!r}; expected one of: {FORMS}")


def parse_sources(
    uris: list[str], probes: ProbeSet | None = None
) -> list[SourceSpec | SourceGroup]:
    """Every `--source`; the same one twice is recorded once."""
    seen: dict[str, SourceSpec | SourceGroup] = {}
    for uri in uris:
        spec = parse_source(uri, probes)
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


def probe_source(
    probes: ProbeSet,
    *,
    every: float = 10.0,
    hostname: str | None = None,
    netns_dir: str | None = None,
) -> SourceGroup:
    """Each probe in force a source of its own (`probe:NAME@netns:NS`), looked for again
    every `every` seconds: a probe added to the policy starts, one removed or changed
    stops (and a changed one starts again as it now is)."""
    require("probe")
    require("probe-http")
    require("netlink")
    from vtrail.collectors.probe.collector import open_probe

    here = hostname or socket.gethostname()

    def opener(spec: ProbeSpec, targets: Targets) -> Callable[[Report], Collector]:
        def opened(_report: Report) -> Collector:
            if netns_dir is None:
                return open_probe(spec, targets, hostname=here)
            return open_probe(spec, targets, hostname=here, netns_dir=netns_dir)

        return opened

    def follow(stop: threading.Event, add: AddMember, remove: RemoveMember) -> None:
        running: dict[str, ProbeSpec] = {}
        while not stop.is_set():
            try:
                listed = probes()
            except Exception as e:
                # Kept running as they were: a failed look is no change of policy.
                log.warning("cannot read the probes in force: %s", e)
                stop.wait(every)
                continue
            now = {source_name(spec, here): (spec, t) for spec, t in listed}
            for name in [n for n in running if n not in now or now[n][0] != running[n]]:
                remove(name, None)
                del running[name]
            for name, (spec, targets) in now.items():
                if name not in running:
                    add(SourceSpec(name, opener(spec, targets)))
                    running[name] = spec
            stop.wait(every)

    return SourceGroup(PROBE, follow, lambda: None)
