"""Talking to libvirt: fetch, never interpret; raise `SourceError` on failure.

Every function takes the URI it was opened with only to name it in error
messages. What comes back is a `payload` record (strings, ints, plain
dicts), never a libvirt object, so `transform` stays pure.

Errors fall in three groups. An object that vanished between listing and
reading it (`VIR_ERR_NO_DOMAIN`, `VIR_ERR_NO_NETWORK`) is a race with the
fabric, not a failure: the caller gets `None` and the events tell the rest.
An optional reading the driver cannot give (stats from the test driver,
interface stats of a device without a tap) is skipped. Everything else means
the connection is unusable and becomes a `SourceError`.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import libvirt

from vtrail.collectors.base import SourceError
from vtrail.collectors.libvirt.images import DiskFile, read_images
from vtrail.collectors.libvirt.payload import (
    DhcpLease,
    DomainInfo,
    DomainPayload,
    Fetched,
    HostPayload,
    ImageFile,
    NetworkPayload,
    StatsRecord,
    StatValue,
)
from vtrail.collectors.libvirt.subscribe import ensure_event_loop

log = logging.getLogger(__name__)

#: libvirt ships no type hints; this names what we pass around.
Conn: TypeAlias = Any

_VANISHED = frozenset({libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK})
_UNAVAILABLE = frozenset(
    {
        libvirt.VIR_ERR_NO_SUPPORT,
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        libvirt.VIR_ERR_OPERATION_INVALID,
        libvirt.VIR_ERR_INVALID_ARG,
    }
)
_STATS = (
    libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
#: Bulk-layout names of the tuples `virDomainInterfaceStats` / `virDomainBlockStats` return.
_IFACE_STATS = (
    "rx.bytes",
    "rx.pkts",
    "rx.errs",
    "rx.drop",
    "tx.bytes",
    "tx.pkts",
    "tx.errs",
    "tx.drop",
)
_BLOCK_STATS = ("rd.reqs", "rd.bytes", "wr.reqs", "wr.bytes", "errors")
#: A dead remote peer is noticed after about interval * (count + 1) seconds.
KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 3


def _now() -> datetime:
    return datetime.now(UTC)


def _code(e: libvirt.libvirtError) -> int:
    return int(e.get_error_code() or 0)


def _fail(uri: str, what: str, e: BaseException) -> SourceError:
    return SourceError(f"libvirt {uri}: {what}: {' '.join(str(e).split())}")


def open_connection(uri: str, *, read_only: bool = True) -> Conn:
    """Read-only by default: a recorder has no business changing the fabric.

    (Tests open read-write to drive the test driver through the same connection.)
    """
    ensure_event_loop()
    try:
        conn = libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)
    except libvirt.libvirtError as e:
        raise _fail(uri, "cannot connect", e) from e
    try:
        conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
    except libvirt.libvirtError as e:
        # Local drivers have no keepalive; a broken remote one will fail the next call.
        log.debug("libvirt %s: no keepalive: %s", uri, e)
    return conn


def close_connection(conn: Conn) -> None:
    try:
        conn.close()
    except libvirt.libvirtError as e:
        log.debug("closing a libvirt connection that was already gone: %s", e)


def ping(conn: Conn, uri: str) -> None:
    """Raise `SourceError` unless the connection still answers."""
    try:
        alive = conn.isAlive()
        conn.getLibVersion()  # isAlive only checks the socket; this round-trips.
    except libvirt.libvirtError as e:
        raise _fail(uri, "connection lost", e) from e
    if not alive:
        raise SourceError(f"libvirt {uri}: connection lost: the connection is closed")


def fetch_host(conn: Conn, uri: str) -> HostPayload:
    try:
        info = conn.getInfo()
        return HostPayload(
            hostname=str(conn.getHostname()),
            uri=str(conn.getURI()),
            hypervisor=str(conn.getType()),
            hypervisor_version=int(conn.getVersion()),
            libvirt_version=int(conn.getLibVersion()),
            cpu_model=str(info[0]),
            memory_mib=int(info[1]),
            cpus=int(info[2]),
            cpu_mhz=int(info[3]),
            numa_nodes=int(info[4]),
            sockets=int(info[5]),
            cores=int(info[6]),
            threads=int(info[7]),
        )
    except libvirt.libvirtError as e:
        raise _fail(uri, "cannot read the host", e) from e


def fetch_all(conn: Conn, uri: str) -> Fetched:
    """The host, every domain (active or only defined) with stats, every network."""
    host = fetch_host(conn, uri)
    try:
        doms = conn.listAllDomains(0)
    except libvirt.libvirtError as e:
        raise _fail(uri, "cannot list domains", e) from e
    at = _now()
    bulk = _bulk_stats(conn, uri)
    domains = tuple(
        p for p in (_domain_payload(d, uri, bulk, with_stats=True) for d in doms) if p is not None
    )
    return Fetched(at=at, host=host, domains=domains, networks=fetch_networks(conn, uri))


def fetch_domain(conn: Conn, uri: str, uuid: str) -> DomainPayload | None:
    """One domain's current definition and state (no stats); `None` if it is gone."""
    try:
        dom = conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as e:
        if _code(e) in _VANISHED:
            return None
        raise _fail(uri, f"cannot look up domain {uuid}", e) from e
    return _domain_payload(dom, uri, {}, with_stats=False)


def fetch_networks(conn: Conn, uri: str) -> tuple[NetworkPayload, ...]:
    try:
        nets = conn.listAllNetworks(0)
    except libvirt.libvirtError as e:
        if _code(e) in _UNAVAILABLE:
            return ()  # drivers without a network driver (e.g. some remote setups)
        raise _fail(uri, "cannot list networks", e) from e
    return tuple(p for p in (_network_payload(n, uri) for n in nets) if p is not None)


def fetch_network(conn: Conn, uri: str, name: str) -> NetworkPayload | None:
    try:
        net = conn.networkLookupByName(name)
    except libvirt.libvirtError as e:
        if _code(e) in _VANISHED | _UNAVAILABLE:
            return None
        raise _fail(uri, f"cannot look up network {name}", e) from e
    return _network_payload(net, uri)


def _network_payload(net: Any, uri: str) -> NetworkPayload | None:
    try:
        active = bool(net.isActive())
        return NetworkPayload(
            name=str(net.name()),
            xml=str(net.XMLDesc(0)),
            active=active,
            persistent=bool(net.isPersistent()),
            leases=_leases(net) if active else None,
        )
    except libvirt.libvirtError as e:
        if _code(e) in _VANISHED:
            return None
        raise _fail(uri, "cannot read a network", e) from e


def _leases(net: Any) -> tuple[DhcpLease, ...] | None:
    """The network's DHCP leases, where the driver offers them (qemu:///system's network
    driver reads its dnsmasq's; the test driver has none): None where it does not."""
    try:
        found = net.DHCPLeases()
    except libvirt.libvirtError as e:
        if _code(e) in _UNAVAILABLE:
            return None
        raise
    return tuple(
        DhcpLease(
            ipaddr=str(x["ipaddr"]),
            mac=str(x["mac"]).lower() if x.get("mac") else None,
            expirytime=int(x["expirytime"]),
            hostname=str(x["hostname"]) if x.get("hostname") else None,
            clientid=str(x["clientid"]) if x.get("clientid") else None,
        )
        for x in found
        if x.get("ipaddr")
    )


def _domain_payload(
    dom: Any, uri: str, bulk: dict[str, StatsRecord], *, with_stats: bool
) -> DomainPayload | None:
    try:
        uuid = str(dom.UUIDString())
        xml = str(dom.XMLDesc(0))
        state, reason = dom.state()
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
        raw = dom.info()
    except libvirt.libvirtError as e:
        if _code(e) in _VANISHED:
            return None
        raise _fail(uri, f"cannot read domain {dom.name()}", e) from e
    info = DomainInfo(int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))
    stats: StatsRecord = {}
    if active and with_stats:
        stats = _with_fallback(dom, uri, xml, info, bulk.get(uuid, {}))
    return DomainPayload(
        uuid=uuid,
        name=str(dom.name()),
        xml=xml,
        state=int(state),
        reason=int(reason),
        active=active,
        persistent=persistent,
        info=info,
        stats=stats,
        images=_images(uri, xml),
    )


def _images(uri: str, xml: str) -> tuple[ImageFile, ...]:
    """The disks' files, read where they are: only a local libvirt's are on this machine."""
    if urlsplit(uri).netloc:
        return ()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ()  # transform reports unreadable XML
    disks = []
    for el in root.iterfind("devices/disk"):
        src = el.find("source")
        path = None if src is None else src.get("file") or src.get("dev")
        if path and path.startswith("/"):
            disks.append(DiskFile(path, el.find("readonly") is not None))
    return read_images(disks)


def _bulk_stats(conn: Conn, uri: str) -> dict[str, StatsRecord]:
    try:
        records = conn.getAllDomainStats(_STATS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    except libvirt.libvirtError as e:
        if _code(e) in _UNAVAILABLE | _VANISHED:
            return {}
        raise _fail(uri, "cannot read domain stats", e) from e
    return {str(dom.UUIDString()): dict(rec) for dom, rec in records}


def _with_fallback(
    dom: Any, uri: str, xml: str, info: DomainInfo, bulk: StatsRecord
) -> StatsRecord:
    """Fill what the bulk call left out from the per-call APIs, in the bulk layout.

    The test driver and old daemons answer the bulk call with nothing but
    state; per-call results are written under the same keys so `transform`
    reads one format.
    """
    stats: dict[str, StatValue] = dict(bulk)
    if "cpu.time" not in stats:
        stats["cpu.time"] = info.cpu_time_ns
    if "net.count" not in stats:
        devs = _target_devs(xml, "interface")
        _per_device(stats, "net", devs, _IFACE_STATS, dom.interfaceStats, uri)
    if "block.count" not in stats:
        devs = _target_devs(xml, "disk")
        _per_device(stats, "block", devs, _BLOCK_STATS, dom.blockStats, uri)
    return stats


def _per_device(
    stats: dict[str, StatValue],
    prefix: str,
    devs: Iterable[str],
    keys: tuple[str, ...],
    call: Callable[[str], Any],
    uri: str,
) -> None:
    n = 0
    for dev in devs:
        try:
            values = call(dev)
        except libvirt.libvirtError as e:
            if _code(e) in _UNAVAILABLE | _VANISHED:
                continue
            raise _fail(uri, f"cannot read stats of {dev}", e) from e
        stats[f"{prefix}.{n}.name"] = dev
        for key, value in zip(keys, values, strict=False):
            if int(value) >= 0:  # libvirt reports -1 for "not supported"
                stats[f"{prefix}.{n}.{key}"] = int(value)
        n += 1
    stats[f"{prefix}.count"] = n


def _target_devs(xml: str, tag: str) -> list[str]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []  # transform reports unreadable XML; stats are not the place
    return [
        dev for el in root.iterfind(f"devices/{tag}/target") if (dev := el.get("dev")) is not None
    ]
