"""Recorded namespaces → entities, relations and samples (pure)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime

from collectors.netlink.netlink_data import H1, H2, SW, R, fabric_state
from vtrail.collectors.netlink import transform
from vtrail.collectors.netlink.records import LinkStats, NamespaceState, NextHop, RouteInfo
from vtrail.model import RelKey
from vtrail.wire import parse_observation, to_dict


def rels(topo: transform.Topology, rel: str) -> set[tuple[str, str]]:
    return {(k.src, k.dst) for k in topo.relations if k.rel == rel}


def test_bridge_namespace() -> None:
    topo = transform.topology(SW, fabric_state(SW))
    ids = set(topo.entities)
    assert {f"bridge:{SW}/br1", f"bridge:{SW}/br2"} <= ids
    ports = {i for i in ids if i.startswith("port:")}
    assert ports == {f"port:{SW}/{n}" for n in ("p-h1", "p-r1", "p-h2", "p-r2", "va", "vb", "tap0")}
    assert rels(topo, "port_of") == {
        (f"port:{SW}/p-h1", f"bridge:{SW}/br1"),
        (f"port:{SW}/p-r1", f"bridge:{SW}/br1"),
        (f"port:{SW}/p-h2", f"bridge:{SW}/br2"),
        (f"port:{SW}/p-r2", f"bridge:{SW}/br2"),
    }
    # Each end names its own peer; cross-namespace peers come resolved from `get`.
    assert rels(topo, "peer") == {
        (f"port:{SW}/p-h1", f"port:{H1}/eth0"),
        (f"port:{SW}/p-r1", f"port:{R}/eth1"),
        (f"port:{SW}/p-h2", f"port:{H2}/eth0"),
        (f"port:{SW}/p-r2", f"port:{R}/eth2"),
        (f"port:{SW}/va", f"port:{SW}/vb"),
        (f"port:{SW}/vb", f"port:{SW}/va"),
    }
    # Link-local fe80:: addresses are not recorded, so this namespace has no ip: at all.
    assert not [i for i in ids if i.startswith(("ip:", "router:", "net:"))]


def test_port_attributes() -> None:
    topo = transform.topology(SW, fabric_state(SW))
    p = topo.entities[f"port:{SW}/p-h1"]
    assert p.kind == "port"
    assert p.attrs["link_kind"] == "veth" and p.attrs["master"] == "br1"
    assert p.attrs["ifname"] == "p-h1" and p.attrs["mtu"] == 1500
    assert p.attrs["operstate"] == "UP"
    assert topo.entities[f"port:{SW}/tap0"].attrs["link_kind"] == "tap"
    assert topo.entities[f"bridge:{SW}/br1"].kind == "bridge"
    vx = transform.topology(R, fabric_state(R)).entities[f"port:{R}/vx42"]
    assert vx.attrs["link_kind"] == "vxlan" and vx.attrs["vxlan_id"] == 42


def test_router_namespace() -> None:
    topo = transform.topology(R, fabric_state(R))
    router = topo.entities[f"router:{R}"]
    assert router.attrs == {"forwarding": True, "interfaces": 2, "ifnames": ["eth1", "eth2"]}
    # Its table is recorded once, on the interfaces the routes leave by: no `routes`
    # relation, no `net:` entity beside it.
    assert not rels(topo, "routes")
    assert not [i for i in topo.entities if i.startswith("net:")]
    table = {
        e.id: [(x["dst"], x["via"], x["metric"]) for x in e.attrs["routes"]]
        for e in topo.entities.values()
        if e.kind == "port"
    }
    assert table == {
        f"port:{R}/eth1": [("10.61.1.0/24", None, 0)],
        f"port:{R}/eth2": [("10.61.2.0/24", None, 0), ("10.70.0.0/16", "10.61.2.10", 20)],
        f"port:{R}/vx42": [],
    }
    assert topo.entities[f"ip:10.61.2.1@{R}"].attrs == {
        "address": "10.61.2.1",
        "prefixlen": 24,
        "family": 4,
        "cidr": "10.61.2.0/24",
    }
    assert (f"port:{R}/eth2", f"ip:10.61.2.1@{R}") in rels(topo, "has_address")


def test_a_router_needs_forwarding_and_two_addressed_interfaces() -> None:
    r = fabric_state(R)
    no_forwarding = transform.topology(R, replace(r, ip_forward=False))
    assert f"router:{R}" not in no_forwarding.entities
    assert not rels(no_forwarding, "routes")
    assert not [i for i in no_forwarding.entities if i.startswith("net:")]
    h1 = replace(fabric_state(H1), ip_forward=True)  # forwarding, but one interface
    assert f"router:{H1}" not in transform.topology(H1, h1).entities
    one_left = replace(r, addrs=tuple(a for a in r.addrs if a.address != "10.61.2.1"))
    assert f"router:{R}" not in transform.topology(R, one_left).entities


def longest_prefix_match(
    topo: transform.Topology, ns: str, dst: str
) -> tuple[str, str | None] | None:
    """What a later path question does with the recorded `routes` attributes."""
    best: tuple[int, int, str, str | None] | None = None
    for entity in topo.entities.values():
        if entity.kind not in ("port", "bridge") or f":{ns}/" not in entity.id:
            continue
        for route in entity.attrs["routes"]:
            net = ipaddress.ip_network(route["dst"])
            if ipaddress.ip_address(dst) in net:
                key = (net.prefixlen, -route["metric"], entity.attrs["ifname"], route["via"])
                if best is None or key[:2] > best[:2]:
                    best = key
    return None if best is None else (best[2], best[3])


def test_routes_on_interfaces_allow_longest_prefix_match() -> None:
    h1 = transform.topology(H1, fabric_state(H1))
    eth0 = h1.entities[f"port:{H1}/eth0"]
    assert eth0.attrs["routes"] == [
        {
            "dst": "10.61.1.0/24",
            "family": 4,
            "via": None,
            "metric": 0,
            "proto": "kernel",
            "scope": "link",
            "src": "10.61.1.10",
        },
        {
            "dst": "0.0.0.0/0",
            "family": 4,
            "via": "10.61.1.1",
            "metric": 0,
            "proto": "boot",
            "scope": "universe",
            "src": None,
        },
    ]
    assert longest_prefix_match(h1, H1, "10.61.2.10") == ("eth0", "10.61.1.1")
    assert longest_prefix_match(h1, H1, "10.61.1.77") == ("eth0", None)
    r = transform.topology(R, fabric_state(R))
    assert longest_prefix_match(r, R, "10.70.3.4") == ("eth2", "10.61.2.10")
    assert longest_prefix_match(r, R, "192.0.2.1") is None  # r has no default route
    # IPv6 link-local routes (fe80::/64 on every link) are left out.
    assert all(rt["family"] == 4 for e in r.entities.values() for rt in e.attrs.get("routes", []))


def test_a_multipath_route_is_on_each_of_its_next_hops_links_and_nowhere_else() -> None:
    r = fabric_state(R)
    eth1, eth2 = (next(x for x in r.links if x.ifname == n) for n in ("eth1", "eth2"))
    both = RouteInfo(
        4, "10.80.0.0", 16, (NextHop(eth1.index, "10.61.1.10"), NextHop(eth2.index, "10.61.2.10"))
    )
    topo = transform.topology(R, replace(r, routes=(*r.routes, both)))
    carried = {
        e.id: x["via"]
        for e in topo.entities.values()
        for x in e.attrs.get("routes", [])
        if x["dst"] == "10.80.0.0/16"
    }
    assert carried == {f"port:{R}/eth1": "10.61.1.10", f"port:{R}/eth2": "10.61.2.10"}
    assert not rels(topo, "routes")


def test_samples_are_the_six_counters_of_every_link_but_lo() -> None:
    state = fabric_state(SW)
    got = transform.samples(SW, state)
    p_h1 = next(x for x in state.links if x.ifname == "p-h1")
    assert p_h1.stats is not None
    mine = {s.metric: s.value for s in got if s.entity == f"port:{SW}/p-h1"}
    assert mine == {
        "rx_bytes": p_h1.stats.rx_bytes,
        "tx_bytes": p_h1.stats.tx_bytes,
        "rx_packets": p_h1.stats.rx_packets,
        "tx_packets": p_h1.stats.tx_packets,
        "rx_dropped": p_h1.stats.rx_dropped,
        "tx_dropped": p_h1.stats.tx_dropped,
    }
    assert len(got) == 6 * 9  # br1 br2, four bridge ports, va vb, tap0
    assert not [s for s in got if "/lo" in s.entity]


def _detached(state: NamespaceState, name: str) -> NamespaceState:
    """`name`'s veth pair was cut: IFLA_LINK 0, rx reading 0, as at RTM_DELLINK."""
    link = next(x for x in state.links if x.ifname == name)
    assert link.stats is not None
    cut = replace(link, link=0, stats=replace(link.stats, rx_bytes=0, rx_packets=0))
    return replace(state, links=tuple(cut if x is link else x for x in state.links))


def test_a_cut_veth_reports_no_rx_rather_than_a_false_zero() -> None:
    state = _detached(fabric_state(SW), "p-h1")
    metrics = {s.metric for s in transform.samples(SW, state) if s.entity == f"port:{SW}/p-h1"}
    assert metrics == {"tx_bytes", "tx_packets", "rx_dropped", "tx_dropped"}


def test_final_samples_give_a_dying_veth_tx_to_its_peer_as_rx() -> None:
    before = fabric_state(SW)
    p_h1 = next(x for x in before.links if x.ifname == "p-h1")
    assert p_h1.stats is not None
    dying = next(x for x in _detached(before, "p-h1").links if x.ifname == "p-h1")
    got = {(s.entity, s.metric): s.value for s in transform.final_samples(SW, dying, before)}
    assert got[(f"port:{SW}/p-h1", "tx_bytes")] == p_h1.stats.tx_bytes
    assert (f"port:{SW}/p-h1", "rx_bytes") not in got
    assert got[(f"port:{H1}/eth0", "rx_bytes")] == p_h1.stats.tx_bytes
    assert got[(f"port:{H1}/eth0", "rx_packets")] == p_h1.stats.tx_packets
    br1 = next(x for x in before.links if x.ifname == "br1")
    bridge = transform.final_samples(SW, br1, before)
    assert {s.metric for s in bridge} == set(LinkStats.__slots__)


def test_delta_reports_new_changed_and_gone() -> None:
    old = transform.topology(SW, fabric_state(SW))
    assert not transform.delta(old, old)
    state = fabric_state(SW)
    renamed = tuple(replace(x, ifname="p-h1b") if x.ifname == "p-h1" else x for x in state.links)
    new = transform.topology(SW, replace(state, links=renamed))
    d = transform.delta(old, new)
    assert d.gone == (f"port:{SW}/p-h1",)
    assert [e.id for e in d.entities] == [f"port:{SW}/p-h1b"]
    assert set(d.gone_relations) == {
        RelKey(f"port:{SW}/p-h1", "peer", f"port:{H1}/eth0"),
        RelKey(f"port:{SW}/p-h1", "port_of", f"bridge:{SW}/br1"),
    }
    assert {r.key.src for r in d.relations} == {f"port:{SW}/p-h1b"}


def test_observations_speak_the_wire_format() -> None:
    now = datetime.now(UTC)
    for ns in (H1, H2, SW, R):
        state = fabric_state(ns)
        topo = transform.topology(ns, state)
        obs = transform.snapshot(
            f"netlink:{ns}@fixture-host", now, topo, transform.samples(ns, state)
        )
        assert parse_observation(to_dict(obs)) == obs
        gone = transform.retirement(obs.source, now, ns, topo, state)
        assert parse_observation(to_dict(gone)) == gone
        assert set(gone.gone) == set(topo.entities)
        assert set(gone.gone_relations) == set(topo.relations)
        assert {s.entity for s in gone.samples} == {
            e for e in topo.entities if e.startswith(("port:", "bridge:"))
        }


def test_retirement_without_a_final_read_closes_what_was_reported() -> None:
    topo = transform.topology(R, fabric_state(R))
    gone = transform.retirement("netlink:x@h", datetime.now(UTC), R, topo, None)
    assert set(gone.gone) == set(topo.entities) and not gone.samples
    assert gone.kind == "event"
