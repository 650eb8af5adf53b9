"""Raw rtnetlink bytes (recorded from real namespaces) → typed records."""

from __future__ import annotations

import struct

import pytest

from collectors.netlink.netlink_data import H1, SW, R, decoded, fabric_state, load
from vtrail.collectors.netlink import codec
from vtrail.collectors.netlink.records import (
    ARPHRD_ETHER,
    BridgePortEvent,
    ForwardingEvent,
    LinkEvent,
    LinkInfo,
    LinkMovedEvent,
    RouteEvent,
)


def by_name(ns: str) -> dict[str, LinkInfo]:
    return {link.ifname: link for link in fabric_state(ns).links}


def test_links_carry_kind_master_peer_and_counters() -> None:
    links = by_name(SW)
    br1, p_h1 = links["br1"], links["p-h1"]
    assert br1.kind == "bridge"
    assert p_h1.kind == "veth"
    assert p_h1.master == br1.index
    # The peer lives in another namespace: IFLA_LINK is its ifindex *there*.
    assert p_h1.link is not None and p_h1.link > 0
    assert p_h1.link_netnsid is not None
    assert p_h1.stats is not None and p_h1.stats.tx_bytes > 10_000  # the recorder's ping
    assert p_h1.mac is not None and p_h1.mtu == 1500 and p_h1.operstate == "UP"


def test_same_namespace_veth_has_no_netnsid() -> None:
    links = by_name(SW)
    va, vb = links["va"], links["vb"]
    assert va.link == vb.index and vb.link == va.index
    assert va.link_netnsid is None


def test_kinds_that_need_more_than_the_kind_string() -> None:
    tap = by_name(SW)["tap0"]
    assert tap.kind == "tun" and tap.arphrd == ARPHRD_ETHER
    vx = by_name(R)["vx42"]
    assert vx.kind == "vxlan" and vx.vxlan_id == 42
    lo = by_name(H1)["lo"]
    assert lo.is_loopback and lo.kind is None


def test_addresses_keep_scope_and_local_address() -> None:
    addrs = {(a.address, a.prefixlen, a.scope) for a in fabric_state(R).addrs}
    assert ("10.61.1.1", 24, 0) in addrs
    assert ("127.0.0.1", 8, 254) in addrs
    assert any(a.startswith("fe80::") and scope == 253 for a, _, scope in addrs)


def test_only_main_table_unicast_routes_are_decoded() -> None:
    entry = load("fabric.json")["namespaces"][R]
    raw_routes = [
        m for m in entry["messages"] if m["note"].startswith(("new route", "type 24"))
    ]  # type 24 = local/broadcast table routes, which we drop
    assert any(m["note"] == "type 24 (not recorded)" for m in raw_routes)
    routes = fabric_state(R).routes
    assert {r.cidr for r in routes} >= {"10.61.1.0/24", "10.61.2.0/24", "10.70.0.0/16"}
    assert not any(r.dst.startswith("127.") for r in routes)
    via = next(r for r in routes if r.cidr == "10.70.0.0/16")
    assert via.nexthops[0].gateway == "10.61.2.10" and via.metric == 20


def test_default_route_has_a_zero_destination() -> None:
    default = next(r for r in fabric_state(H1).routes if r.dst_len == 0)
    assert default.cidr == "0.0.0.0/0"
    assert default.nexthops[0].gateway == "10.61.1.1"


def _all_recorded_events() -> list[object]:
    return [e for s in load("events.json")["steps"] for e in decoded(s["messages"])]


def test_af_bridge_messages_are_port_notices_not_link_life() -> None:
    events = _all_recorded_events()
    notices = [e for e in events if isinstance(e, BridgePortEvent)]
    assert {n.action for n in notices} == {"new", "del"}
    assert all(n.master is not None for n in notices)
    # No AF_BRIDGE message may pose as a link deletion.
    steps = load("events.json")["steps"]
    leave = next(s for s in steps if s["step"].startswith("xc leaves"))
    assert not any(
        isinstance(e, LinkEvent) and e.action == "del" for e in decoded(leave["messages"])
    )


def test_dellink_keeps_final_counters_and_moves_are_told_apart() -> None:
    events = _all_recorded_events()
    deleted = {
        e.link.ifname: e.link for e in events if isinstance(e, LinkEvent) and e.action == "del"
    }
    assert set(deleted) == {"brx", "xa"}
    xa = deleted["xa"]
    assert xa.stats is not None and xa.stats.tx_bytes > 10_000
    assert xa.stats.rx_bytes == 0 and xa.link == 0  # the veth pair is already cut
    moved = [e for e in events if isinstance(e, LinkMovedEvent)]
    assert [m.link.ifname for m in moved] == ["vb"]


def test_forwarding_comes_from_the_all_entry_only() -> None:
    events = _all_recorded_events()
    assert [e for e in events if isinstance(e, ForwardingEvent)] == [ForwardingEvent(True)]


def test_route_replace_flag_is_read_from_the_header() -> None:
    messages = load("fabric.json")["namespaces"][R]["messages"]
    raw = next(m["hex"] for m in messages if m["note"] == "new route 10.70.0.0/16 metric 20")
    data = bytearray.fromhex(raw)
    struct.pack_into("=H", data, 6, codec.NLM_F_REPLACE)  # nlmsg_flags
    (frame,) = codec.frames(bytes(data))
    event = codec.decode(frame)
    assert isinstance(event, RouteEvent) and event.replace and event.action == "new"
    plain = codec.decode(next(codec.frames(bytes.fromhex(raw))))
    assert isinstance(plain, RouteEvent) and not plain.replace


def test_frames_stop_at_a_truncated_message() -> None:
    one = bytes.fromhex(load("fabric.json")["namespaces"][H1]["messages"][0]["hex"])
    assert len(list(codec.frames(one + one))) == 2
    assert len(list(codec.frames(one + one[:-8]))) == 1


def test_error_frames_carry_a_positive_errno() -> None:
    err = struct.pack("=IHHIIi", 36, codec.NLMSG_ERROR, 0, 7, 0, -19) + bytes(16)
    (frame,) = codec.frames(err)
    assert frame.type == codec.NLMSG_ERROR and frame.seq == 7 and frame.error == 19


@pytest.mark.parametrize("mtype", [codec.RTM_GETLINK, codec.RTM_GETADDR, codec.RTM_GETROUTE])
def test_dump_requests_are_well_formed(mtype: int) -> None:
    (frame,) = codec.frames(codec.dump_request(mtype, seq=42))
    assert frame.type == mtype and frame.seq == 42
    assert frame.flags == codec.NLM_F_REQUEST | codec.NLM_F_DUMP
