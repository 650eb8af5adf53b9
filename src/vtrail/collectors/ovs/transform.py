"""OVS records → vtrail observations. Pure and typed: no IO, no clock.

Ids use the host name as the namespace component (`port:<host>/<ifname>`),
the same key the netlink collector gives the root network namespace, so an
OVS internal port and the kernel device behind it are one entity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from vtrail.collectors.ovs.rows import OvsBridge, OvsInterface, OvsPort, OvsState
from vtrail.ids import bridge_id, nic_id, port_id
from vtrail.model import (
    EntityObs,
    JSONValue,
    Observation,
    RelationObs,
    RelKey,
    SampleObs,
)

#: Cumulative counters taken from `Interface.statistics`, under the same names.
METRICS: tuple[str, ...] = (
    "rx_bytes",
    "tx_bytes",
    "rx_packets",
    "tx_packets",
    "rx_dropped",
    "tx_dropped",
    "rx_errors",
    "tx_errors",
)

#: Interface options that hold secrets (IPsec pre-shared keys); history is
#: kept forever and shown to many, so these never leave the host.
SECRET_OPTIONS: frozenset[str] = frozenset({"psk"})
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class OvsView:
    """One reading of the switch in vtrail's terms, keyed so two can be compared."""

    entities: Mapping[str, EntityObs]
    relations: Mapping[RelKey, RelationObs]
    #: Counter readings per entity id.
    samples: Mapping[str, tuple[SampleObs, ...]]


EMPTY = OvsView({}, {}, {})


def _datapath(kind: str) -> str:
    return kind or "system"


def bridge_attrs(bridge: OvsBridge) -> dict[str, JSONValue]:
    return {
        "name": bridge.name,
        "ovs": True,
        "datapath_type": _datapath(bridge.datapath_type),
        "fail_mode": bridge.fail_mode,
        "external_ids": dict(sorted(bridge.external_ids.items())),
        "datapath_id": bridge.datapath_id,
    }


def port_attrs(port: OvsPort, iface: OvsInterface) -> dict[str, JSONValue]:
    options: dict[str, JSONValue] = {
        k: REDACTED if k in SECRET_OPTIONS else v for k, v in sorted(iface.options.items())
    }
    return {
        "ifname": iface.name,
        "ovs": True,
        # An empty type is how OVSDB spells an ordinary kernel device.
        "type": iface.type or "system",
        # Differs from ifname only for bonds, where several interfaces share a port.
        "ovs_port": port.name,
        "ofport": iface.ofport,
        "link_state": iface.link_state,
        "admin_state": iface.admin_state,
        "mac_in_use": iface.mac_in_use,
        "mtu": iface.mtu,
        "ifindex": iface.ifindex,
        "error": iface.error,
        "tag": port.tag,
        "trunks": list(port.trunks),
        "vlan_mode": port.vlan_mode,
        "external_ids": dict(sorted(iface.external_ids.items())),
        "options": options,
    }


def attached_nic(iface: OvsInterface) -> str | None:
    """The `nic:` id of the VM NIC behind this interface, when the plugger said so.

    libvirt writes `vm-id`, OpenStack (os-vif) writes `vm-uuid`; both write
    `attached-mac`. Without both there is no NIC id to name, only a guess.
    """
    ext = iface.external_ids
    mac = ext.get("attached-mac", "").strip()
    vm = (ext.get("vm-uuid") or ext.get("vm-id") or "").strip()
    if not mac or not vm:
        return None
    return nic_id(vm, mac)


def _samples(entity: str, iface: OvsInterface) -> tuple[SampleObs, ...]:
    return tuple(
        SampleObs(entity, m, iface.statistics[m]) for m in METRICS if m in iface.statistics
    )


def view(state: OvsState, host: str) -> OvsView:
    """Entities, relations and counters of one `OvsState`, ids namespaced by `host`."""
    ports = {p.uuid: p for p in state.ports}
    ifaces = {i.uuid: i for i in state.interfaces}
    entities: dict[str, EntityObs] = {}
    relations: dict[RelKey, RelationObs] = {}
    samples: dict[str, tuple[SampleObs, ...]] = {}

    attached: list[tuple[str, OvsPort, OvsInterface]] = []
    for bridge in sorted(state.bridges, key=lambda b: b.name):
        bid = bridge_id(host, bridge.name)
        entities[bid] = EntityObs(bid, "bridge", bridge_attrs(bridge))
        for p in bridge.ports:
            port = ports.get(p)
            if port is None:
                continue
            attached.extend((bid, port, ifaces[i]) for i in port.interfaces if i in ifaces)

    names = {iface.name for _, _, iface in attached}
    for bid, port, iface in attached:
        pid = port_id(host, iface.name)
        entities[pid] = EntityObs(pid, "port", port_attrs(port, iface))
        _relate(relations, pid, "port_of", bid)
        peer = iface.options.get("peer")
        # Only a peer that exists here: a dangling options:peer names nothing.
        if iface.type == "patch" and peer and peer in names and peer != iface.name:
            _relate(relations, pid, "peer", port_id(host, peer))
        nic = attached_nic(iface)
        if nic is not None:
            _relate(relations, nic, "plugged_into", pid)
        samples[pid] = _samples(pid, iface)
    return OvsView(entities, relations, samples)


def with_counters(v: OvsView, host: str, readings: Mapping[str, Mapping[str, int]]) -> OvsView:
    """`v` with fresh counters for some interfaces (by name); nothing else changes."""
    samples = dict(v.samples)
    for ifname, stats in readings.items():
        pid = port_id(host, ifname)
        if pid in v.entities:
            samples[pid] = tuple(SampleObs(pid, m, stats[m]) for m in METRICS if m in stats)
    return OvsView(v.entities, v.relations, samples)


def carry_counters(v: OvsView, older: OvsView) -> OvsView:
    """`v`, with `older`'s counters for entities `v` has no counters for."""
    samples = dict(v.samples)
    for i in v.entities:
        if not samples.get(i) and older.samples.get(i):
            samples[i] = older.samples[i]
    return OvsView(v.entities, v.relations, samples)


def _relate(out: dict[RelKey, RelationObs], src: str, rel: str, dst: str) -> None:
    key = RelKey(src, rel, dst)
    out[key] = RelationObs(key)


def _all_samples(v: OvsView, ids: list[str]) -> tuple[SampleObs, ...]:
    return tuple(s for i in ids for s in v.samples.get(i, ()))


def snapshot_observation(v: OvsView, source: str, at: datetime) -> Observation:
    ids = sorted(v.entities)
    return Observation(
        source=source,
        observed_at=at,
        kind="snapshot",
        entities=tuple(v.entities[i] for i in ids),
        relations=tuple(v.relations[k] for k in sorted(v.relations)),
        samples=_all_samples(v, ids),
    )


def event_observation(
    before: OvsView, after: OvsView, source: str, at: datetime
) -> Observation | None:
    """What changed from `before` to `after`, or None when only counters moved.

    Counters alone never make an event (`snapshot()` polls them), but a
    vanished port carries its last known counters: nobody can read them later.
    """
    changed = sorted(i for i, e in after.entities.items() if before.entities.get(i) != e)
    gone = sorted(set(before.entities) - set(after.entities))
    rel_changed = sorted(k for k, r in after.relations.items() if before.relations.get(k) != r)
    rel_gone = sorted(set(before.relations) - set(after.relations))
    if not (changed or gone or rel_changed or rel_gone):
        return None
    return Observation(
        source=source,
        observed_at=at,
        kind="event",
        entities=tuple(after.entities[i] for i in changed),
        relations=tuple(after.relations[k] for k in rel_changed),
        samples=_all_samples(before, gone),
        gone=tuple(gone),
        gone_relations=tuple(rel_gone),
    )
