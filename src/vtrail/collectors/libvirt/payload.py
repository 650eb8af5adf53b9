"""What `get` hands to `transform`: plain, frozen, libvirt-free records.

Nothing here holds a libvirt object, so a payload can be recorded to JSON
(`to_json`), kept under `tests/data/libvirt/` and replayed (`from_json`)
into the pure transform without a hypervisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

#: One value of libvirt's flat typed-parameter stats (`cpu.time`, `net.0.rx.bytes`, ...).
StatValue: TypeAlias = int | float | str | bool
#: A domain's stats in the key layout of `virConnectGetAllDomainStats`.
StatsRecord: TypeAlias = Mapping[str, StatValue]


@dataclass(frozen=True, slots=True)
class HostPayload:
    hostname: str
    uri: str
    hypervisor: str
    hypervisor_version: int
    libvirt_version: int
    cpu_model: str
    memory_mib: int
    cpus: int
    cpu_mhz: int
    numa_nodes: int
    sockets: int
    cores: int
    threads: int


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """`virDomainGetInfo`: the live numbers, which may differ from the XML config."""

    state: int
    max_memory_kib: int
    memory_kib: int
    vcpus: int
    cpu_time_ns: int


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One file of a disk's backing chain as read on the host (collectors/libvirt/images.py)."""

    path: str
    format: str | None
    virtual_size: int | None
    #: The file it is backed by, as the header names it resolved to a path; None: the end.
    backing: str | None
    #: sha256 of the file's bytes, or None and `unhashed` says why not.
    checksum: str | None
    unhashed: str | None = None


@dataclass(frozen=True, slots=True)
class DomainPayload:
    uuid: str
    name: str
    xml: str
    state: int
    reason: int
    active: bool
    persistent: bool
    info: DomainInfo | None = None
    #: Empty for inactive domains, and when neither bulk nor per-call stats answered.
    stats: StatsRecord = field(default_factory=dict)
    #: Every file of its disks' backing chains that could be read, by path; none from a
    #: remote libvirt, whose files are not on this machine.
    images: tuple[ImageFile, ...] = ()


@dataclass(frozen=True, slots=True)
class DhcpLease:
    """One lease of `virNetworkGetDHCPLeases`, as libvirt names its fields."""

    ipaddr: str
    #: None for a DHCPv6 lease that names no MAC (its client is its IAID and DUID).
    mac: str | None
    #: Epoch seconds.
    expirytime: int
    hostname: str | None = None
    clientid: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkPayload:
    name: str
    xml: str
    active: bool
    persistent: bool
    #: The leases of the network's DHCP server; None when the driver offers none (the
    #: test driver, a network without DHCP), which is not the same as none leased.
    leases: tuple[DhcpLease, ...] | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """Everything one connection showed in one pass; `at` is when the domain list returned."""

    at: datetime
    host: HostPayload
    domains: tuple[DomainPayload, ...]
    networks: tuple[NetworkPayload, ...]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One domain callback as fired: ints are libvirt's stable enum values.

    `kind` is `lifecycle` (`event`/`detail` set) or `device_added` /
    `device_removed` (`device` is the device alias).
    """

    at: datetime
    uuid: str
    name: str
    kind: str
    event: int = -1
    detail: int = -1
    device: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    at: datetime
    name: str
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """libvirt's close callback fired; `reason` is a word (error, eof, keepalive, client)."""

    at: datetime
    reason: str


# --- recording -------------------------------------------------------------


def to_json(f: Fetched) -> dict[str, Any]:
    """The JSON form of a fetch, for `tests/data/libvirt/*.json` (see `record.py`)."""
    return asdict(f) | {"at": f.at.isoformat()}


def from_json(data: Mapping[str, Any]) -> Fetched:
    return Fetched(
        at=datetime.fromisoformat(data["at"]),
        host=HostPayload(**data["host"]),
        domains=tuple(
            DomainPayload(
                **{k: v for k, v in d.items() if k not in ("info", "stats", "images")},
                info=DomainInfo(**d["info"]) if d.get("info") else None,
                stats=dict(d.get("stats", {})),
                images=tuple(ImageFile(**i) for i in d.get("images", ())),
            )
            for d in data["domains"]
        ),
        networks=tuple(
            NetworkPayload(
                **{k: v for k, v in n.items() if k != "leases"},
                leases=None
                if n.get("leases") is None
                else tuple(DhcpLease(**x) for x in n["leases"]),
            )
            for n in data["networks"]
        ),
    )
