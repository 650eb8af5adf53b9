"""libvirt domain and network XML → typed configs. Pure.

Only what vtrail records is read; unknown elements are ignored, so newer
libvirt XML parses. Unreadable XML raises `MalformedXML`, and the `try_`
helpers turn it into a degraded result, because one odd domain must not
stop a snapshot.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vtrail.assetattrs import FIELDS, NAMESPACE
from vtrail.collectors.libvirt.payload import NetworkPayload
from vtrail.model import JSONValue


class MalformedXML(ValueError):
    """libvirt returned XML we cannot read; the message names the object."""


@dataclass(frozen=True, slots=True)
class Interface:
    type: str
    mac: str
    model: str | None = None
    target: str | None = None
    bridge: str | None = None
    network: str | None = None
    source_dev: str | None = None
    source_mode: str | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Disk:
    target: str
    source: str | None
    device: str
    type: str
    bus: str | None = None
    format: str | None = None
    #: `<readonly/>`: the guest cannot write it, so its content is stable enough to checksum.
    readonly: bool = False
    #: The backing chain libvirt shows in the live XML (`<backingStore>`), top first:
    #: (path, format) of each file under the disk's own.
    backing: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class DomainConfig:
    uuid: str
    name: str
    hypervisor: str
    arch: str | None = None
    machine: str | None = None
    vcpus: int | None = None
    memory_kib: int | None = None
    max_memory_kib: int | None = None
    title: str | None = None
    interfaces: tuple[Interface, ...] = ()
    disks: tuple[Disk, ...] = ()
    #: The text of each leaf element under `<metadata>`, by its path of local names
    #: (`<app:placement><app:zone>z1</app:zone></app:placement>` is `placement.zone`).
    metadata: tuple[tuple[str, str], ...] = ()
    #: The asset facts of vtrail's own element (`vtrail.assetattrs.NAMESPACE`), by
    #: attribute name (`asset.owner`); they are not repeated in `metadata`.
    asset: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    name: str
    uuid: str | None
    bridge: str | None
    forward_mode: str
    ips: tuple[Mapping[str, JSONValue], ...] = ()


_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "t": 1024**4,
    "tib": 1024**4,
}


def _parse(xml: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(xml)
    except ET.ParseError as e:
        raise MalformedXML(f"unreadable XML for {what}: {e}") from e


def _kib(el: ET.Element | None) -> int | None:
    if el is None or not (el.text or "").strip():
        return None
    factor = _UNITS.get(el.get("unit", "KiB").lower(), 1024)
    return int(el.text or "0") * factor // 1024


def _attr(root: ET.Element, path: str, name: str) -> str | None:
    el = root.find(path)
    return None if el is None else el.get(name)


def _forward_mode(root: ET.Element) -> str:
    forward = root.find("forward")
    if forward is None:
        return "isolated"  # libvirt's name for a network without <forward>
    return forward.get("mode", "nat")  # a bare <forward/> means NAT


def parse_domain_xml(xml: str, what: str = "a domain") -> DomainConfig:
    root = _parse(xml, what)
    try:
        return _domain_config(root)
    except ValueError as e:  # a number or address that is not one
        raise MalformedXML(f"unreadable XML for {what}: {e}") from e


def _domain_config(root: ET.Element) -> DomainConfig:
    vcpu = root.find("vcpu")
    vcpus = None
    if vcpu is not None and (vcpu.text or "").strip():
        vcpus = int(vcpu.get("current") or vcpu.text or "0")
    return DomainConfig(
        uuid=(root.findtext("uuid") or "").strip().lower(),
        name=(root.findtext("name") or "").strip(),
        hypervisor=root.get("type", "unknown"),
        arch=_attr(root, "os/type", "arch"),
        machine=_attr(root, "os/type", "machine"),
        vcpus=vcpus,
        memory_kib=_kib(root.find("currentMemory")) or _kib(root.find("memory")),
        max_memory_kib=_kib(root.find("memory")),
        title=root.findtext("title"),
        interfaces=tuple(_interfaces(root)),
        disks=tuple(_disks(root)),
        metadata=tuple(_metadata(root)),
        asset=tuple(_asset(root)),
    )


#: At most this many metadata values per domain, each at most this long: metadata is
#: free for any tool to write, and a domain's attributes are recorded with every change.
METADATA_MAX = 64
METADATA_TEXT_MAX = 1024


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


_OURS = f"{{{NAMESPACE}}}"


def _metadata(root: ET.Element) -> Iterable[tuple[str, str]]:
    """Leaf elements' text under `<metadata>`, first of each path only, in document order;
    vtrail's own element is read by `_asset`."""
    top = root.find("metadata")
    if top is None:
        return
    seen: set[str] = set()
    theirs = [child for child in top if not child.tag.startswith(_OURS)]
    stack = [(child, _local(child.tag)) for child in reversed(theirs)]
    while stack and len(seen) < METADATA_MAX:
        el, path = stack.pop()
        children = list(el)
        if children:
            stack.extend((c, f"{path}.{_local(c.tag)}") for c in reversed(children))
            continue
        text = (el.text or "").strip()
        if text and path not in seen and len(text) <= METADATA_TEXT_MAX:
            seen.add(path)
            yield path, text


def _asset(root: ET.Element) -> Iterable[tuple[str, str]]:
    """The known fields of vtrail's element (`<vtrail:asset><vtrail:owner>...`), first of
    each; an element of the namespace vtrail does not define is left out."""
    seen: set[str] = set()
    for top in root.iterfind("metadata/*"):
        if not top.tag.startswith(_OURS):
            continue
        for el in top:
            attr = FIELDS.get(_local(el.tag)) if el.tag.startswith(_OURS) else None
            text = (el.text or "").strip()
            if attr and attr not in seen and text and len(text) <= METADATA_TEXT_MAX:
                seen.add(attr)
                yield attr, text


def _interfaces(root: ET.Element) -> Iterable[Interface]:
    for el in root.iterfind("devices/interface"):
        mac = _attr(el, "mac", "address")
        if mac is None:
            continue  # libvirt always assigns one; without it there is no stable id
        kind = el.get("type", "unknown")
        yield Interface(
            type=kind,
            mac=mac.lower(),
            model=_attr(el, "model", "type"),
            target=_attr(el, "target", "dev"),
            bridge=_attr(el, "source", "bridge"),
            network=_attr(el, "source", "network"),
            source_dev=_attr(el, "source", "dev"),
            source_mode=_attr(el, "source", "mode"),
            alias=_attr(el, "alias", "name"),
        )


def _disks(root: ET.Element) -> Iterable[Disk]:
    for el in root.iterfind("devices/disk"):
        target = _attr(el, "target", "dev")
        if target is None:
            continue
        src = el.find("source")
        source = None
        if src is not None:
            source = src.get("file") or src.get("dev") or src.get("dir")
            if source is None and src.get("volume"):
                source = f"{src.get('pool')}/{src.get('volume')}"
            if source is None and src.get("name"):
                source = f"{src.get('protocol', 'network')}:{src.get('name')}"
        yield Disk(
            target=target,
            source=source,
            device=el.get("device", "disk"),
            type=el.get("type", "file"),
            bus=_attr(el, "target", "bus"),
            format=_attr(el, "driver", "type"),
            readonly=el.find("readonly") is not None,
            backing=tuple(_backing(el)),
        )


def _backing(disk: ET.Element) -> Iterable[tuple[str, str | None]]:
    el = disk.find("backingStore")
    while el is not None:
        path = _attr(el, "source", "file") or _attr(el, "source", "dev")
        if path is None:
            return  # the end of the chain is an empty <backingStore/>
        yield path, _attr(el, "format", "type")
        el = el.find("backingStore")


def parse_network_xml(xml: str, what: str = "a network") -> NetworkConfig:
    root = _parse(xml, what)
    try:
        return _network_config(root)
    except ValueError as e:
        raise MalformedXML(f"unreadable XML for {what}: {e}") from e


def _network_config(root: ET.Element) -> NetworkConfig:
    ips: list[Mapping[str, JSONValue]] = []
    for ip in root.iterfind("ip"):
        address = ip.get("address")
        prefix = ip.get("prefix")
        if prefix is None and ip.get("netmask"):
            prefix = str(ipaddress.ip_network(f"0.0.0.0/{ip.get('netmask')}").prefixlen)
        ranges: list[JSONValue] = [
            {"start": r.get("start"), "end": r.get("end")} for r in ip.iterfind("dhcp/range")
        ]
        family = ip.get("family") or (
            "ipv6" if address and ipaddress.ip_address(address).version == 6 else "ipv4"
        )
        ips.append(
            {
                "family": family,
                "address": address,
                "prefix": int(prefix) if prefix else None,
                "dhcp_ranges": ranges,
            }
        )
    return NetworkConfig(
        name=(root.findtext("name") or "").strip(),
        uuid=root.findtext("uuid"),
        bridge=_attr(root, "bridge", "name"),
        # No <forward> is libvirt's isolated network.
        forward_mode=_forward_mode(root),
        ips=tuple(ips),
    )


def try_parse_domain(xml: str, name: str) -> tuple[DomainConfig | None, str | None]:
    """The config, or None and why: one unreadable domain must not sink the snapshot."""
    try:
        return parse_domain_xml(xml, f"domain {name}"), None
    except MalformedXML as e:
        return None, str(e)


def network_config(p: NetworkPayload) -> NetworkConfig:
    try:
        return parse_network_xml(p.xml, f"network {p.name}")
    except MalformedXML:
        return NetworkConfig(name=p.name, uuid=None, bridge=None, forward_mode="unknown")
