"""Recorded notifications replayed through the watcher's pure path (state.follow, on_event)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from collectors.netlink.netlink_data import (
    H1,
    H2,
    SW,
    T0,
    Replayed,
    decoded,
    load,
    replay,
    state_of,
)
from vtrail.collectors.netlink import state, transform
from vtrail.collectors.netlink.records import (
    AddrEvent,
    AddrInfo,
    BridgePortEvent,
    LinkEvent,
    LinkInfo,
    NamespaceState,
    NextHop,
    RouteEvent,
    RouteInfo,
)
from vtrail.model import Observation, RelKey
from vtrail.wire import parse_observation, to_dict


@pytest.fixture(scope="module")
def steps() -> dict[str, Replayed]:
    replayed, _ = replay()
    return {r.step.split(" (")[0].split(":")[0]: r for r in replayed}


def step(steps: dict[str, Replayed], prefix: str) -> Replayed:
    (found,) = [r for name, r in steps.items() if name.startswith(prefix)]
    return found


def gone(obs: list[Observation]) -> list[str]:
    return [g for o in obs for g in o.gone]


def gone_rels(obs: list[Observation]) -> set[RelKey]:
    return {k for o in obs for k in o.gone_relations}


def test_bridge_creation_is_an_event_with_the_bridge(steps: dict[str, Replayed]) -> None:
    created = step(steps, "create bridge brx").observations
    assert created and created[0].entities[0].id == f"bridge:{SW}/brx"
    assert created[0].kind == "event"


def test_ports_join_with_port_of_and_peer(steps: dict[str, Replayed]) -> None:
    obs = step(steps, "veth xa").observations
    new_rels = {r.key for o in obs for r in o.relations}
    assert RelKey(f"port:{SW}/xa", "port_of", f"bridge:{SW}/brx") in new_rels
    assert RelKey(f"port:{SW}/xa", "peer", f"port:{H1}/xb") in new_rels


def test_traffic_alone_makes_no_event(steps: dict[str, Replayed]) -> None:
    assert step(steps, "ping").observations == []


def test_leaving_a_bridge_ends_port_of_and_nothing_else(steps: dict[str, Replayed]) -> None:
    left = step(steps, "xc leaves brx")
    assert gone(left.observations) == []
    assert gone_rels(left.observations) == {RelKey(f"port:{SW}/xc", "port_of", f"bridge:{SW}/brx")}
    xc = next(x for x in left.state.links if x.ifname == "xc")
    assert xc.master is None


def test_a_changed_link_brings_its_counters_and_a_repeat_brings_nothing(
    steps: dict[str, Replayed],
) -> None:
    rejoined = step(steps, "xc joins brx again").observations
    (obs,) = [o for o in rejoined if o.relations]
    counted = {s.metric: s.value for s in obs.samples if s.entity == f"port:{SW}/xc"}
    assert set(counted) == set(transform.STAT_NAMES)
    assert counted["tx_bytes"] >= 10 * 1000  # the ping's requests went out through xc
    # The kernel repeats NEWLINKs; one that changes nothing is not an event of its own.
    data = load("events.json")
    last = step(steps, "vb moves").state
    again = next(
        e
        for e in decoded(data["final"]["messages"])
        if isinstance(e, LinkEvent) and e.link.ifname == "va"
    )
    reported = transform.topology(SW, last)
    after = state.apply(last, again)
    obs_again, _ = transform.on_event("s", T0, SW, again, last, after, reported)
    assert obs_again is None


def test_deleting_the_bridge_keeps_its_ports_and_final_counters(
    steps: dict[str, Replayed],
) -> None:
    deleted = step(steps, "delete brx").observations
    assert gone(deleted) == [f"bridge:{SW}/brx"]
    assert gone_rels(deleted) == {
        RelKey(f"port:{SW}/xa", "port_of", f"bridge:{SW}/brx"),
        RelKey(f"port:{SW}/xc", "port_of", f"bridge:{SW}/brx"),
    }
    (tomb,) = [o for o in deleted if o.gone]
    final = {s.metric: s.value for s in tomb.samples if s.entity == f"bridge:{SW}/brx"}
    assert set(final) == set(transform.STAT_NAMES)
    # The bridge device saw only its own ARP/ND chatter, not the ping it forwarded.
    assert final["tx_bytes"] < 10 * 1000


def test_a_deleted_veth_keeps_what_it_sent_and_gives_it_to_its_peer(
    steps: dict[str, Replayed],
) -> None:
    obs = step(steps, "delete veth xa").observations
    assert gone(obs) == [f"port:{SW}/xa"]
    (tomb,) = [o for o in obs if o.gone]
    got = {(s.entity, s.metric): s.value for s in tomb.samples}
    # The ping's 10 replies of 1000 bytes left brx through xa towards h1.
    assert got[(f"port:{SW}/xa", "tx_bytes")] >= 10 * 1000
    assert (f"port:{SW}/xa", "rx_bytes") not in got  # reads 0 once the pair is cut
    assert got[(f"port:{H1}/xb", "rx_bytes")] == got[(f"port:{SW}/xa", "tx_bytes")]
    # Nor did the NEWLINK just before (IFLA_LINK already 0) record a false rx of 0.
    assert not [
        s for o in obs for s in o.samples if s.entity == f"port:{SW}/xa" and s.metric == "rx_bytes"
    ]


def test_routes_flushed_silently_are_read_again() -> None:
    replayed, reader = replay()
    down = next(r for r in replayed if r.step.startswith("va down"))
    va = next(
        e
        for o in down.observations
        for e in o.entities
        if e.id == f"port:{SW}/va" and e.attrs["operstate"] == "DOWN"
    )
    assert va.attrs["routes"] == []
    before = next(r for r in replayed if r.step.startswith("address and routes on va"))
    va_before = transform.topology(SW, before.state).entities[f"port:{SW}/va"]
    assert {r["dst"] for r in va_before.attrs["routes"]} == {"10.63.0.0/24", "10.64.0.0/16"}
    # The kernel said nothing about those routes: apply() alone would keep them.
    events = decoded(load("events.json")["steps"][-2]["messages"])
    kept = before.state
    for e in events:
        kept = state.apply(kept, e)
    assert any(r.cidr == "10.64.0.0/16" for r in kept.routes)
    assert "routes" in reader.reads


def test_a_veth_whose_peer_moved_away_is_read_again(steps: dict[str, Replayed]) -> None:
    moved = step(steps, "vb moves to h2").observations
    assert gone(moved) == [f"port:{SW}/vb"]
    assert RelKey(f"port:{SW}/va", "peer", f"port:{SW}/vb") in gone_rels(moved)
    assert RelKey(f"port:{SW}/va", "peer", f"port:{H2}/vb") in {
        r.key for o in moved for r in o.relations
    }
    (tomb,) = [o for o in moved if o.gone]
    # Not cut, just moved: all its counters hold, rx included.
    assert {s.metric for s in tomb.samples} == set(transform.STAT_NAMES)


def test_forwarding_follows_netconf(steps: dict[str, Replayed]) -> None:
    assert not state_of(load("events.json")["initial"]).ip_forward
    assert step(steps, "address and routes on va").state.ip_forward


def test_replayed_state_ends_where_a_fresh_dump_is(steps: dict[str, Replayed]) -> None:
    """Events and snapshots must describe a namespace the same way."""
    last = list(steps.values())[-1].state
    dumped = state_of(load("events.json")["final"])
    assert transform.topology(SW, last) == transform.topology(SW, dumped)


def test_every_replayed_observation_speaks_the_wire_format(steps: dict[str, Replayed]) -> None:
    for r in steps.values():
        for o in r.observations:
            assert parse_observation(to_dict(o)) == o


# -- apply(), case by case --------------------------------------------------------------


def link(
    index: int, name: str, kind: str | None = None, master: int | None = None, peer: int = 0
) -> LinkInfo:
    return LinkInfo(index, name, kind, arphrd=1, flags=1, master=master, link=peer or None)


def route(dst: str, plen: int, *hops: tuple[int, str | None], metric: int = 0) -> RouteInfo:
    return RouteInfo(4, dst, plen, tuple(NextHop(o, g) for o, g in hops), metric=metric)


BASE = NamespaceState(
    links=(
        link(2, "br0", "bridge"),
        link(3, "p0", "veth", master=2, peer=4),
        link(4, "p1", "veth", peer=3),
    ),
    routes=(route("10.0.0.0", 8, (3, "10.1.1.1"), (4, "10.1.1.2")),),
)


def test_replace_takes_the_slot_and_del_needs_the_same_hops() -> None:
    old = route("10.9.0.0", 16, (3, "10.1.1.1"))
    s = replace(BASE, routes=(old,))
    new = route("10.9.0.0", 16, (3, "10.1.1.9"))
    assert state.apply(s, RouteEvent("new", new, replace=True)).routes == (new,)
    assert set(state.apply(s, RouteEvent("new", new)).routes) == {old, new}  # NLM_F_APPEND
    assert state.apply(s, RouteEvent("del", new)).routes == (old,)
    assert state.apply(s, RouteEvent("del", old)).routes == ()
    other_metric = route("10.9.0.0", 16, (3, "10.1.1.9"), metric=5)
    assert len(state.apply(s, RouteEvent("new", other_metric, replace=True)).routes) == 2


def test_a_vanished_link_takes_its_hops_and_addresses() -> None:
    s = replace(BASE, addrs=(AddrInfo(3, 4, "10.1.1.5", 24, 0),))
    after = state.apply(s, LinkEvent("del", link(3, "p0", "veth")))
    assert [x.ifname for x in after.links] == ["br0", "p1"]
    assert after.addrs == ()
    assert after.routes == (route("10.0.0.0", 8, (4, "10.1.1.2")),)  # the other hop stays


def test_bridge_port_notices_touch_only_the_master() -> None:
    left = state.apply(BASE, BridgePortEvent("del", 3, 2))
    assert left.link(3) == replace(BASE.links[1], master=None)
    assert state.apply(BASE, BridgePortEvent("del", 3, 99)) == BASE  # stale: left another bridge
    assert state.apply(BASE, BridgePortEvent("new", 2, 2)) == BASE  # the bridge itself
    assert state.apply(BASE, BridgePortEvent("new", 77, 2)) == BASE  # unknown port
    assert state.apply(left, BridgePortEvent("new", 3, 2)).link(3) == BASE.links[1]


def test_addresses_are_keyed_by_link_and_prefix() -> None:
    a = AddrInfo(3, 4, "10.1.1.5", 24, 0)
    s = state.apply(BASE, AddrEvent("new", a))
    assert state.apply(s, AddrEvent("new", a)).addrs == (a,)
    assert state.apply(s, AddrEvent("del", a)).addrs == ()


def test_a_cut_veth_remembers_its_peer_for_the_final_counters() -> None:
    cut = state.apply(BASE, LinkEvent("new", replace(link(3, "p0", "veth", master=2), link=0)))
    assert cut.peer(cut.links[1]) is None
    assert cut.detached_peers[3].ifname == "p1"
    assert state.apply(cut, LinkEvent("del", link(3, "p0", "veth"))).detached_peers == {}
