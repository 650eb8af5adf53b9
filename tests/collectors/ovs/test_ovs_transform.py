"""rows + transform on a recorded OVSDB payload: no daemon, no IO.

`tests/data/ovs/reference-fabric.json` is a raw OVSDB select reply from a real
ovsdb-server + ovs-vswitchd (see test_ovs_recording.py for how it was made
and how it is kept honest).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.ovs.ovs_testbed import MAC_A, MAC_B, PORT_A, VM_A, VM_B
from vtrail.collectors.base import SourceError
from vtrail.collectors.ovs import parse_source_uri, rows, transform
from vtrail.collectors.ovs.collector import DEFAULT_SOCKET, OvsTarget, default_host
from vtrail.collectors.ovs.rows import OvsState
from vtrail.model import RelKey, SampleObs
from vtrail.wire import parse_observation, to_dict, to_line

RAW = json.loads((Path(__file__).parents[2] / "data/ovs/reference-fabric.json").read_text())
H = "hv-rec"
AT = datetime(2026, 11, 21, 3, 12, tzinfo=UTC)
SRC = "ovs+unix:/run/openvswitch/db.sock@hv-rec"


def p(name: str) -> str:
    return f"port:{H}/{name}"


def b(name: str) -> str:
    return f"bridge:{H}/{name}"


@pytest.fixture
def state() -> OvsState:
    return rows.state_from_select(RAW)


@pytest.fixture
def view(state: OvsState) -> transform.OvsView:
    return transform.view(state, H)


def _raw_interface(name: str) -> dict[str, Any]:
    return next(r for r in RAW[3]["rows"] if r["name"] == name)


def test_every_bridge_and_interface_becomes_one_entity(view: transform.OvsView) -> None:
    ports = ["tap5b4345ea-d5", "vnet0", "tapgone0", "patch-tun", "patch-dangling", "br-int"]
    ports += ["patch-int", "vxlan-0a000002", "gre-0a000003", "br-tun", "eth1", "eth2", "br-ex"]
    assert set(view.entities) == {b("br-int"), b("br-tun"), b("br-ex")} | {p(n) for n in ports}
    assert {e.kind for i, e in view.entities.items() if i.startswith("port:")} == {"port"}


def test_bridge_attributes(state: OvsState, view: transform.OvsView) -> None:
    attrs = dict(view.entities[b("br-int")].attrs)
    dpid = attrs.pop("datapath_id")
    assert isinstance(dpid, str)
    assert len(dpid) == 16
    assert attrs == {
        "name": "br-int",
        "ovs": True,
        "datapath_type": "netdev",
        "fail_mode": "standalone",
        "external_ids": {"bridge-id": "br-int"},
    }
    assert state.hostname == H


def test_openstack_vm_port_is_plugged_into_by_its_nic(view: transform.OvsView) -> None:
    a = view.entities[p("tap5b4345ea-d5")].attrs
    assert a["type"] == "system"
    assert a["tag"] == 1
    assert a["ovs_port"] == "tap5b4345ea-d5"
    assert isinstance(a["ofport"], int) and a["ofport"] > 0
    assert a["external_ids"] == {
        "attached-mac": MAC_A,
        "iface-id": PORT_A,
        "iface-status": "active",
        "vm-uuid": VM_A,
    }
    nic = RelKey(f"nic:{VM_A}/{MAC_A}", "plugged_into", p("tap5b4345ea-d5"))
    assert nic in view.relations


def test_libvirt_vm_port_uses_vm_id_and_a_lower_case_mac(view: transform.OvsView) -> None:
    a = view.entities[p("vnet0")].attrs
    assert (a["trunks"], a["vlan_mode"], a["tag"]) == ([10, 20], "trunk", None)
    nic = RelKey(f"nic:{VM_B}/{MAC_B.lower()}", "plugged_into", p("vnet0"))
    assert nic in view.relations
    assert sum(k.rel == "plugged_into" for k in view.relations) == 2


def test_wiring(view: transform.OvsView) -> None:
    port_of = {(k.src, k.dst) for k in view.relations if k.rel == "port_of"}
    assert port_of == {
        *((p(n), b("br-int")) for n in ("tap5b4345ea-d5", "vnet0", "tapgone0", "br-int")),
        *((p(n), b("br-int")) for n in ("patch-tun", "patch-dangling")),
        *((p(n), b("br-tun")) for n in ("patch-int", "vxlan-0a000002", "gre-0a000003", "br-tun")),
        *((p(n), b("br-ex")) for n in ("eth1", "eth2", "br-ex")),
    }
    # Each patch end states its own peer; a peer that does not exist names nothing.
    peers = {(k.src, k.dst) for k in view.relations if k.rel == "peer"}
    assert peers == {(p("patch-tun"), p("patch-int")), (p("patch-int"), p("patch-tun"))}
    dangling = view.entities[p("patch-dangling")].attrs
    assert dangling["options"] == {"peer": "nowhere"}
    assert "nowhere" in str(dangling["error"])


def test_tunnels_bonds_and_broken_ports(view: transform.OvsView) -> None:
    vx = view.entities[p("vxlan-0a000002")].attrs
    assert vx["type"] == "vxlan"
    assert vx["options"] == {"key": "flow", "local_ip": "10.0.0.1", "remote_ip": "10.0.0.2"}
    assert view.entities[p("gre-0a000003")].attrs["options"] == {
        "psk": transform.REDACTED,
        "remote_ip": "10.0.0.3",
    }
    assert {view.entities[p(n)].attrs["ovs_port"] for n in ("eth1", "eth2")} == {"bond0"}
    gone = view.entities[p("tapgone0")].attrs
    assert gone["ofport"] == -1
    assert gone["error"] == "could not open network device tapgone0 (No such device)"
    assert view.samples[p("tapgone0")] == ()
    assert view.entities[p("br-ex")].attrs["type"] == "internal"


def test_the_ipsec_key_never_leaves(view: transform.OvsView) -> None:
    assert "swordfish" in json.dumps(RAW)
    assert "swordfish" not in to_line(transform.snapshot_observation(view, SRC, AT))


def test_counters_are_the_eight_cumulative_metrics(view: transform.OvsView) -> None:
    stats = dict(_raw_interface("vxlan-0a000002")["statistics"][1])
    got = {s.metric: s.value for s in view.samples[p("vxlan-0a000002")]}
    assert got == {m: float(stats[m]) for m in transform.METRICS if m in stats}
    assert got["tx_packets"] > 0
    br = {s.metric: s.value for s in view.samples[p("br-int")]}
    assert set(br) == set(transform.METRICS)
    assert br["rx_bytes"] == dict(_raw_interface("br-int")["statistics"][1])["rx_bytes"] > 0


def test_snapshot_is_valid_on_the_wire(view: transform.OvsView) -> None:
    obs = transform.snapshot_observation(view, SRC, AT)
    assert (obs.kind, obs.source, obs.observed_at) == ("snapshot", SRC, AT)
    assert parse_observation(json.loads(to_line(obs))) == obs
    assert [e.id for e in obs.entities] == sorted(view.entities)
    assert len(obs.relations) == len(view.relations)
    assert {s.entity for s in obs.samples} <= set(view.entities)
    ids = {e.id for e in obs.entities}
    for r in obs.relations:
        assert r.key.dst in ids
        assert r.key.src in ids or r.key.src.startswith("nic:")
    assert "gone" not in to_dict(obs)


def _without(state: OvsState, *names: str) -> OvsState:
    drop = {i.uuid for i in state.interfaces if i.name in names}
    ports = tuple(
        dataclasses.replace(x, interfaces=tuple(i for i in x.interfaces if i not in drop))
        for x in state.ports
    )
    return dataclasses.replace(
        state, ports=ports, interfaces=tuple(i for i in state.interfaces if i.uuid not in drop)
    )


def _changed(state: OvsState, name: str, **changes: Any) -> OvsState:
    return dataclasses.replace(
        state,
        interfaces=tuple(
            dataclasses.replace(i, **changes) if i.name == name else i for i in state.interfaces
        ),
    )


def test_a_vanished_port_is_gone_with_its_edges_and_final_counters(state: OvsState) -> None:
    before = transform.view(state, H)
    after = transform.view(_without(state, "vxlan-0a000002", "vnet0"), H)
    ev = transform.event_observation(before, after, SRC, AT)
    assert ev is not None
    assert ev.kind == "event"
    assert ev.gone == (p("vnet0"), p("vxlan-0a000002"))
    assert set(ev.gone_relations) == {
        RelKey(p("vnet0"), "port_of", b("br-int")),
        RelKey(f"nic:{VM_B}/{MAC_B.lower()}", "plugged_into", p("vnet0")),
        RelKey(p("vxlan-0a000002"), "port_of", b("br-tun")),
    }
    assert ev.entities == () and ev.relations == ()
    assert ev.samples == before.samples[p("vnet0")] + before.samples[p("vxlan-0a000002")]
    assert parse_observation(to_dict(ev)) == ev


def test_a_vanished_bridge_takes_its_ports_and_the_patch_peering(state: OvsState) -> None:
    tun = next(x for x in state.bridges if x.name == "br-tun")
    gone_state = dataclasses.replace(state, bridges=tuple(x for x in state.bridges if x != tun))
    ev = transform.event_observation(
        transform.view(state, H), transform.view(gone_state, H), SRC, AT
    )
    assert ev is not None
    assert set(ev.gone) == {b("br-tun")} | {
        p(n) for n in ("patch-int", "vxlan-0a000002", "gre-0a000003", "br-tun")
    }
    assert RelKey(p("patch-tun"), "peer", p("patch-int")) in ev.gone_relations
    assert RelKey(p("patch-int"), "peer", p("patch-tun")) in ev.gone_relations
    assert ev.entities == ()


def test_counters_alone_make_no_event(state: OvsState) -> None:
    busier = _changed(state, "vnet0", statistics={"rx_bytes": 10**12, "tx_packets": 7})
    assert (
        transform.event_observation(transform.view(state, H), transform.view(busier, H), SRC, AT)
        is None
    )


def test_a_changed_attribute_is_reported_alone(state: OvsState) -> None:
    down = _changed(state, "patch-tun", link_state="down")
    ev = transform.event_observation(transform.view(state, H), transform.view(down, H), SRC, AT)
    assert ev is not None
    assert [e.id for e in ev.entities] == [p("patch-tun")]
    assert ev.entities[0].attrs["link_state"] == "down"
    assert (ev.relations, ev.gone, ev.gone_relations, ev.samples) == ((), (), (), ())


def test_a_new_port_arrives_with_its_edges(state: OvsState) -> None:
    before = transform.view(_without(state, "tap5b4345ea-d5"), H)
    ev = transform.event_observation(before, transform.view(state, H), SRC, AT)
    assert ev is not None
    assert [e.id for e in ev.entities] == [p("tap5b4345ea-d5")]
    assert {r.key for r in ev.relations} == {
        RelKey(p("tap5b4345ea-d5"), "port_of", b("br-int")),
        RelKey(f"nic:{VM_A}/{MAC_A}", "plugged_into", p("tap5b4345ea-d5")),
    }
    assert ev.gone == () and ev.samples == ()


def test_no_nic_without_both_mac_and_vm() -> None:
    iface = rows.OvsInterface(
        "u", "tap0", "", external_ids={"iface-id": PORT_A, "attached-mac": MAC_A}
    )
    assert transform.attached_nic(iface) is None
    iface = dataclasses.replace(iface, external_ids={"vm-uuid": VM_A})
    assert transform.attached_nic(iface) is None
    iface = dataclasses.replace(iface, external_ids={"vm-id": VM_A.upper(), "attached-mac": MAC_B})
    assert transform.attached_nic(iface) == f"nic:{VM_A}/{MAC_B.lower()}"


def test_wire_and_idl_shapes_read_alike() -> None:
    wire = {
        "_uuid": ["uuid", "i1"],
        "name": "tap0",
        "type": "",
        "ofport": 7,
        "mtu": ["set", []],
        "ifindex": ["set", [12]],
        "external_ids": ["map", [["attached-mac", MAC_A]]],
        "statistics": ["map", [["rx_bytes", 5], ["collisions", 0]]],
    }
    reply = [
        {"rows": [{"_uuid": ["uuid", "o"], "external_ids": ["map", []]}]},
        {"rows": [{"_uuid": ["uuid", "b1"], "name": "br0", "ports": ["uuid", "p1"]}]},
        {"rows": [{"_uuid": ["uuid", "p1"], "name": "tap0", "interfaces": ["uuid", "i1"]}]},
        {"rows": [wire]},
    ]
    from_wire = rows.state_from_select(reply)
    idl = {
        "name": "tap0",
        "type": "",
        "ofport": [7],
        "mtu": [],
        "ifindex": [12],
        "external_ids": {"attached-mac": MAC_A},
        "statistics": {"rx_bytes": 5, "collisions": 0},
    }
    assert from_wire.interfaces == (rows.interface_from("i1", idl),)
    assert from_wire.hostname is None
    assert from_wire.bridges[0].ports == ("p1",)
    assert from_wire.ports[0].interfaces == ("i1",)
    i = from_wire.interfaces[0]
    assert (i.ofport, i.mtu, i.ifindex, i.link_state) == (7, None, 12, None)


@pytest.mark.parametrize(
    "reply",
    [
        {"rows": []},
        [{"rows": []}],
        [{"error": "permission error", "details": "no"}, {}, {}, {}],
        [{"rows": []}, {"rows": []}, {"rows": []}, {"nothing": 1}],
    ],
)
def test_a_bad_reply_is_a_source_error(reply: object) -> None:
    with pytest.raises(SourceError):
        rows.state_from_select(reply)


@pytest.mark.parametrize(
    ("uri", "target"),
    [
        ("ovs+unix:/run/openvswitch/db.sock", OvsTarget("/run/openvswitch/db.sock")),
        ("ovs+unix:/run/openvswitch/db.sock@hv-a", OvsTarget("/run/openvswitch/db.sock", "hv-a")),
        ("ovs+unix:///var/run/openvswitch/db.sock", OvsTarget("/var/run/openvswitch/db.sock")),
        ("ovs+unix:/tmp/a@b/db.sock", OvsTarget("/tmp/a@b/db.sock")),
        ("ovs", OvsTarget(DEFAULT_SOCKET)),
    ],
)
def test_parse_source_uri(uri: str, target: OvsTarget) -> None:
    assert parse_source_uri(uri) == target


@pytest.mark.parametrize("uri", ["libvirt+qemu:///system", "ovs+unix:db.sock", "ovs+tcp:1.2.3.4"])
def test_parse_source_uri_refuses(uri: str) -> None:
    with pytest.raises(ValueError, match="ovs"):
        parse_source_uri(uri)


def test_fresh_counters_replace_only_those_given(view: transform.OvsView) -> None:
    fresher = transform.with_counters(
        view, H, {"vnet0": {"rx_bytes": 99, "collisions": 1}, "no-such-port": {"rx_bytes": 1}}
    )
    assert fresher.samples[p("vnet0")] == (SampleObs(p("vnet0"), "rx_bytes", 99.0),)
    assert p("no-such-port") not in fresher.samples
    assert fresher.samples[p("br-int")] == view.samples[p("br-int")]
    assert (fresher.entities, fresher.relations) == (view.entities, view.relations)


def test_carried_counters_fill_only_gaps(view: transform.OvsView) -> None:
    blank = transform.OvsView(view.entities, view.relations, {p("vnet0"): ()})
    older = transform.OvsView({}, {}, {p("vnet0"): view.samples[p("br-int")], "port:x/y": ()})
    carried = transform.carry_counters(blank, older)
    assert carried.samples == {p("vnet0"): view.samples[p("br-int")]}
    own = transform.carry_counters(view, older)
    assert own.samples[p("vnet0")] == view.samples[p("vnet0")]


@pytest.mark.parametrize(
    ("recorded", "local", "host"),
    [
        (None, "hv1", "hv1"),  # nothing recorded: this machine
        ("hv1.example.net", "hv1", "hv1"),  # ovs-ctl's FQDN: netlink's short name wins
        ("hv1", "hv1.example.net", "hv1.example.net"),
        ("hv7", "hv1", "hv7"),  # another host's db: its own name
    ],
)
def test_default_host_agrees_with_netlink(recorded: str | None, local: str, host: str) -> None:
    assert default_host(recorded, local) == host
