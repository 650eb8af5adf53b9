"""Fetched libvirt payloads → vtrail entities, relations and samples. Pure.

Decisions (docs/collectors/libvirt.md has the full vocabulary):

- A defined-but-shut-off domain is still a `vm:` entity (state `shutoff`)
  with its `nic:` entities and `has_nic` edges, because its configuration
  exists and is worth a history. It has no `runs_on`, no `plugged_into`
  and no `port:` entities: a domain that is not active occupies no host and
  has no tap device. Whether a domain is active comes from libvirt's
  `isActive()`, not from the state word, because a crashed domain kept for
  inspection is still active.
- An active NIC with a target device is `plugged_into` `port:<host>/<dev>`,
  and that port is `port_of` `bridge:<host>/<bridge>` when the bridge is
  known (for `type='network'`, the bridge is the live XML's `source/@bridge`
  or else the network's own). Without a target device the NIC is plugged
  straight into the bridge, or into its network, `net:<network>@<host>`, when no
  bridge is known.
- Bridges are named in relations but not emitted as entities: they belong
  to the host's network stack, which the netlink collector records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from vtrail.assetattrs import IMAGE
from vtrail.collectors.leases.parse import Lease
from vtrail.collectors.leases.transform import lease_facts
from vtrail.collectors.libvirt.disks import disk_images, merged_images
from vtrail.collectors.libvirt.enums import reason_word, state_word
from vtrail.collectors.libvirt.parse import (
    Disk,
    DomainConfig,
    Interface,
    NetworkConfig,
    network_config,
    try_parse_domain,
)
from vtrail.collectors.libvirt.payload import (
    DhcpLease,
    DomainInfo,
    DomainPayload,
    Fetched,
    HostPayload,
    ImageFile,
    StatsRecord,
)
from vtrail.ids import (
    bridge_id,
    host_id,
    image_id,
    lease_space,
    libvirt_net_id,
    nic_id,
    port_id,
    vm_id,
)
from vtrail.model import (
    EntityObs,
    JSONValue,
    Observation,
    RelationObs,
    RelKey,
    SampleObs,
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the collector says about one domain (or network): its share of a snapshot."""

    entities: tuple[EntityObs, ...] = ()
    relations: tuple[RelationObs, ...] = ()

    def entity_ids(self) -> list[str]:
        return [e.id for e in self.entities]

    def relation_keys(self) -> list[RelKey]:
        return [r.key for r in self.relations]


@dataclass(frozen=True, slots=True)
class DomainView:
    """The collector's last word on a domain, kept to diff the next event against."""

    uuid: str
    name: str
    state: str
    reason: str | None
    active: bool
    persistent: bool | None
    config: DomainConfig | None
    facts: Facts
    #: Its disks' files as last read, for an event that cannot read them again.
    images: tuple[ImageFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    observation: Observation
    domains: Mapping[str, DomainView]
    networks: Mapping[str, NetworkConfig]
    persistent_networks: frozenset[str]


def _rel(src: str, rel: str, dst: str) -> RelationObs:
    return RelationObs(RelKey(src, rel, dst))


# --- entities ----------------------------------------------------------------


def version_string(v: int) -> str:
    """libvirt packs versions as major * 1,000,000 + minor * 1,000 + micro."""
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def host_entity(h: HostPayload, host: str) -> EntityObs:
    attrs: dict[str, JSONValue] = {
        "hostname": h.hostname,
        "uri": h.uri,
        "hypervisor": h.hypervisor.lower(),
        "hypervisor_version": version_string(h.hypervisor_version),
        "libvirt_version": version_string(h.libvirt_version),
        "cpu_model": h.cpu_model,
        "cpus": h.cpus,
        "cpu_mhz": h.cpu_mhz,
        "memory_mib": h.memory_mib,
        "numa_nodes": h.numa_nodes,
        "sockets": h.sockets,
        "cores": h.cores,
        "threads": h.threads,
    }
    return EntityObs(host_id(host), "host", attrs)


def network_entity(
    cfg: NetworkConfig, host: str, *, active: bool, persistent: bool | None
) -> EntityObs:
    attrs: dict[str, JSONValue] = {
        "name": cfg.name,
        "uuid": cfg.uuid,
        "bridge": cfg.bridge,
        "forward_mode": cfg.forward_mode,
        "active": active,
        "ips": [dict(ip) for ip in cfg.ips],
    }
    if persistent is not None:
        attrs["persistent"] = persistent
    return EntityObs(libvirt_net_id(host, cfg.name), "net", attrs)


def domain_facts(
    host: str,
    uuid: str,
    name: str,
    config: DomainConfig | None,
    *,
    state: str,
    reason: str | None,
    active: bool,
    persistent: bool | None,
    info: DomainInfo | None = None,
    bridges: Mapping[str, str | None] | None = None,
    xml_error: str | None = None,
    images: Iterable[ImageFile] = (),
) -> Facts:
    """The vm, its NICs and (while active) ports, with their edges.

    `config` is None when the domain vanished before it could be read: the
    vm is then described by what its events said (name, state, host) alone.
    """
    vm = vm_id(uuid)
    attrs: dict[str, JSONValue] = {"name": name, "uuid": uuid.lower(), "state": state}
    if reason is not None:
        attrs["state_reason"] = reason
    if persistent is not None:
        attrs["persistent"] = persistent
    if xml_error is not None:
        attrs["xml_error"] = xml_error
    entities: list[EntityObs] = []
    relations: list[RelationObs] = []
    if active:
        relations.append(_rel(vm, "runs_on", host_id(host)))
    if config is not None:
        attrs |= {
            "hypervisor": config.hypervisor,
            "arch": config.arch,
            "machine": config.machine,
            "vcpus": info.vcpus if info else config.vcpus,
            "memory_kib": info.memory_kib if info else config.memory_kib,
            "max_memory_kib": info.max_memory_kib if info else config.max_memory_kib,
            "disks": [_disk_attrs(d) for d in config.disks],
        }
        if config.title:
            attrs["title"] = config.title
        # One attribute each, so that a policy selects by `metadata.<path>` equality.
        attrs |= {f"metadata.{path}": text for path, text in config.metadata}
        attrs |= dict(config.asset)
        name, at, version = str(attrs.get(IMAGE, "")).rpartition("@")
        if at and name and version:
            # Lineage: the image the VM came from, an edge while the VM is recorded. An
            # image named without its version stays an attribute: it names no one image.
            relations.append(_rel(vm, "uses_image", image_id(name, version)))
        for iface in config.interfaces:
            _nic(host, uuid, iface, active, bridges or {}, entities, relations)
        found, edges = disk_images(host, vm, config.disks, images)
        entities += found
        relations += edges
    entities.insert(0, EntityObs(vm, "vm", attrs))
    # Once each: an event lists one domain's facts as they are, and the format
    # refuses an id twice in one observation.
    return Facts(tuple(_unique_entities(entities)), tuple(_unique_relations(relations)))


def _disk_attrs(d: Disk) -> dict[str, JSONValue]:
    return {
        "target": d.target,
        "source": d.source,
        "device": d.device,
        "type": d.type,
        "bus": d.bus,
        "format": d.format,
    }


def _nic(
    host: str,
    uuid: str,
    iface: Interface,
    active: bool,
    bridges: Mapping[str, str | None],
    entities: list[EntityObs],
    relations: list[RelationObs],
) -> None:
    nic = nic_id(uuid, iface.mac)
    bridge = iface.bridge or (bridges.get(iface.network) if iface.network else None)
    attrs: dict[str, JSONValue] = {
        "mac": iface.mac,
        "model": iface.model,
        "type": iface.type,
        "bridge": bridge,
        "network": iface.network,
        "target": iface.target if active else None,
    }
    if iface.source_dev:
        attrs |= {"source_dev": iface.source_dev, "source_mode": iface.source_mode}
    entities.append(EntityObs(nic, "nic", attrs))
    relations.append(_rel(vm_id(uuid), "has_nic", nic))
    if not active:
        return
    if iface.target:
        port = port_id(host, iface.target)
        entities.append(EntityObs(port, "port", {"ifname": iface.target, "mac": iface.mac}))
        relations.append(_rel(nic, "plugged_into", port))
        if bridge:
            relations.append(_rel(port, "port_of", bridge_id(host, bridge)))
    elif bridge:
        relations.append(_rel(nic, "plugged_into", bridge_id(host, bridge)))
    elif iface.network:
        relations.append(_rel(nic, "plugged_into", libvirt_net_id(host, iface.network)))


# --- samples -------------------------------------------------------------------

_METRIC_UNSAFE = re.compile(r"[^a-z0-9_]")
_NET_METRICS = {
    "rx.bytes": "rx_bytes",
    "tx.bytes": "tx_bytes",
    "rx.pkts": "rx_packets",
    "tx.pkts": "tx_packets",
}
_BLOCK_METRICS = {
    "rd.bytes": "rd_bytes",
    "wr.bytes": "wr_bytes",
    "rd.reqs": "rd_reqs",
    "wr.reqs": "wr_reqs",
}


def domain_samples(uuid: str, config: DomainConfig, stats: StatsRecord) -> tuple[SampleObs, ...]:
    """Cumulative counters from stats in `virConnectGetAllDomainStats` layout.

    Interface counters are from the guest's side (libvirt swaps a tap's rx/tx),
    so they belong to the `nic:`, not the host `port:`.
    """
    vm = vm_id(uuid)
    out: list[SampleObs] = []
    cpu = stats.get("cpu.time")
    if isinstance(cpu, int | float) and not isinstance(cpu, bool):
        out.append(SampleObs(vm, "cpu_time_ns", cpu))
    nics = {i.target: nic_id(uuid, i.mac) for i in config.interfaces if i.target}
    for name, values in _devices(stats, "net"):
        if name in nics:
            out += [
                SampleObs(nics[name], m, v)
                for k, m in _NET_METRICS.items()
                if (v := values.get(k)) is not None
            ]
    for name, values in _devices(stats, "block"):
        dev = _METRIC_UNSAFE.sub("_", name.lower())
        out += [
            SampleObs(vm, f"disk.{dev}.{m}", v)
            for k, m in _BLOCK_METRICS.items()
            if (v := values.get(k)) is not None
        ]
    return tuple(out)


def _devices(stats: StatsRecord, prefix: str) -> Iterable[tuple[str, dict[str, float]]]:
    count = stats.get(f"{prefix}.count")
    if not isinstance(count, int):
        return
    for n in range(count):
        name = stats.get(f"{prefix}.{n}.name")
        if not isinstance(name, str):
            continue
        head = f"{prefix}.{n}."
        yield (
            name,
            {
                k.removeprefix(head): v
                for k, v in stats.items()
                if k.startswith(head) and isinstance(v, int | float) and not isinstance(v, bool)
            },
        )


# --- snapshot ------------------------------------------------------------------


def domain_view(host: str, p: DomainPayload, bridges: Mapping[str, str | None]) -> DomainView:
    config, error = try_parse_domain(p.xml, p.name)
    state, reason = state_word(p.state), reason_word(p.state, p.reason)
    facts = domain_facts(
        host,
        p.uuid,
        p.name,
        config,
        state=state,
        reason=reason,
        active=p.active,
        persistent=p.persistent,
        info=p.info,
        bridges=bridges,
        xml_error=error,
        images=p.images,
    )
    return DomainView(
        p.uuid.lower(), p.name, state, reason, p.active, p.persistent, config, facts, p.images
    )


def network_leases(
    host: str, network: str, leases: Iterable[DhcpLease], at: datetime
) -> tuple[tuple[EntityObs, ...], tuple[RelationObs, ...]]:
    """A libvirt network's DHCP leases, as a lease file's are read: each address in the
    space of the network that leased it, leased to its client's `mac:`."""
    return lease_facts(
        lease_space(host, network),
        (Lease(x.ipaddr, x.mac, x.expirytime, x.hostname, x.clientid) for x in leases),
        at,
    )


def build_snapshot(source: str, host: str, fetched: Fetched) -> Snapshot:
    """One snapshot observation of everything `fetched` shows, plus the views to diff events on."""
    networks = {n.name: network_config(n) for n in fetched.networks}
    bridges = {name: cfg.bridge for name, cfg in networks.items()}
    entities = [host_entity(fetched.host, host)]
    entities += [
        network_entity(networks[n.name], host, active=n.active, persistent=n.persistent)
        for n in fetched.networks
    ]
    relations: list[RelationObs] = []
    for n in fetched.networks:
        if n.leases is not None:
            found = network_leases(host, n.name, n.leases, fetched.at)
            entities += found[0]
            relations += found[1]
    samples: list[SampleObs] = []
    views: dict[str, DomainView] = {}
    for p in fetched.domains:
        view = domain_view(host, p, bridges)
        views[view.uuid] = view
        entities += view.facts.entities
        relations += view.facts.relations
        if p.active and view.config is not None:
            samples += domain_samples(p.uuid, view.config, p.stats)
    obs = Observation(
        source=source,
        observed_at=fetched.at,
        kind="snapshot",
        entities=tuple(_unique_entities(merged_images(entities))),
        relations=tuple(_unique_relations(relations)),
        samples=tuple(samples),
    )
    persistent = frozenset(n.name for n in fetched.networks if n.persistent)
    return Snapshot(obs, views, networks, persistent)


def _unique_entities(entities: Iterable[EntityObs]) -> list[EntityObs]:
    """Last word wins: two NICs sharing a target name (the test driver does that)
    must not make the snapshot list one port twice."""
    seen: dict[str, EntityObs] = {}
    for e in entities:
        seen[e.id] = e
    return list(seen.values())


def _unique_relations(relations: Iterable[RelationObs]) -> list[RelationObs]:
    seen: dict[RelKey, RelationObs] = {}
    for r in relations:
        seen[r.key] = r
    return list(seen.values())
