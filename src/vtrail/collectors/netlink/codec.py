"""Raw rtnetlink bytes ↔ typed records. No sockets here, so recorded payloads decode too.

We frame messages ourselves (the 16-byte nlmsghdr is fixed by the kernel ABI)
and lean on pyroute2 only for the bodies (`ifinfmsg`, `ifaddrmsg`, `rtmsg`):
those classes have been stable for years, while its socket layer has not.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pyroute2.netlink import nlmsg
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from vtrail.collectors.netlink.records import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    AddrEvent,
    AddrInfo,
    BridgePortEvent,
    Family,
    ForwardingEvent,
    LinkEvent,
    LinkInfo,
    LinkMovedEvent,
    LinkStats,
    NextHop,
    RouteEvent,
    RouteInfo,
    RtnlEvent,
)

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP_INTR = 0x10
NLM_F_REPLACE = 0x100
NLM_F_DUMP = 0x300

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNETCONF = 80
RTM_NEWNSID, RTM_GETNSID = 88, 90

RT_TABLE_MAIN = 254
RTN_UNICAST = 1
NETCONFA_IFINDEX_ALL = -1
NETNSA_NSID_NOT_ASSIGNED = -1

#: Multicast groups a watcher joins: links, v4/v6 addresses, v4/v6 routes, v4 netconf.
EVENT_GROUPS = 0x1 | 0x10 | 0x100 | 0x40 | 0x400 | (1 << (24 - 1))

_HEADER = struct.Struct("=IHHII")


class netconfmsg(nlmsg):  # type: ignore[misc]  # named after the C struct, as pyroute2 does
    """`struct netconfmsg`; pyroute2 has no class for it."""

    prefix = "NETCONFA_"
    fields = (("family", "B"), ("__pad", "3x"))
    nla_map = (
        ("NETCONFA_UNSPEC", "none"),
        ("NETCONFA_IFINDEX", "int32"),
        ("NETCONFA_FORWARDING", "int32"),
    )


@dataclass(frozen=True, slots=True)
class Frame:
    """One netlink message: header fields and the whole message bytes."""

    type: int
    flags: int
    seq: int
    data: bytes

    @property
    def error(self) -> int:
        """The positive errno of an NLMSG_ERROR (0 = ack)."""
        (code,) = struct.unpack_from("=i", self.data, _HEADER.size)
        return -int(code)


def frames(data: bytes) -> Iterator[Frame]:
    """Split a datagram into messages (NLMSG_ALIGN = 4)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, mtype, flags, seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            break
        yield Frame(mtype, flags, seq, bytes(data[offset : offset + length]))
        offset += (length + 3) & ~3


# -- requests ---------------------------------------------------------------------------


def _request(msg: Any, mtype: int, flags: int, seq: int) -> bytes:
    msg["header"]["type"] = mtype
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


def dump_request(mtype: int, seq: int) -> bytes:
    """An RTM_GET* dump of every family (links, addresses or routes)."""
    msg: Any = {RTM_GETLINK: ifinfmsg, RTM_GETADDR: ifaddrmsg, RTM_GETROUTE: rtmsg}[mtype]()
    msg["family"] = 0
    return _request(msg, mtype, NLM_F_REQUEST | NLM_F_DUMP, seq)


def getlink_request(index: int, seq: int) -> bytes:
    msg = ifinfmsg()
    msg["index"] = index
    return _request(msg, RTM_GETLINK, NLM_F_REQUEST, seq)


def getnsid_request(fd: int, seq: int) -> bytes:
    """RTM_GETNSID: which id does the asking namespace give the namespace behind `fd`?"""
    msg = nsidmsg()
    msg["attrs"] = [("NETNSA_FD", fd)]
    return _request(msg, RTM_GETNSID, NLM_F_REQUEST, seq)


def nsid_of(frame: Frame) -> int | None:
    msg = nsidmsg(frame.data)
    msg.decode()
    nsid = msg.get_attr("NETNSA_NSID")
    if nsid is None:
        return None
    nsid = int(nsid)
    if nsid >= 1 << 31:  # a u32 on the wire, -1 meaning "not assigned"
        nsid -= 1 << 32
    return None if nsid == NETNSA_NSID_NOT_ASSIGNED else nsid


# -- bodies -----------------------------------------------------------------------------


def _family(value: int) -> Family | None:
    return 4 if value == AF_INET else 6 if value == AF_INET6 else None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _stats(msg: Any) -> LinkStats | None:
    raw = msg.get_attr("IFLA_STATS64") or msg.get_attr("IFLA_STATS")
    if raw is None:
        return None
    return LinkStats(
        rx_bytes=int(raw["rx_bytes"]),
        tx_bytes=int(raw["tx_bytes"]),
        rx_packets=int(raw["rx_packets"]),
        tx_packets=int(raw["tx_packets"]),
        rx_dropped=int(raw["rx_dropped"]),
        tx_dropped=int(raw["tx_dropped"]),
    )


def _link(msg: Any) -> LinkInfo:
    kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    vlan_id = vxlan_id = None
    if kind == "vlan":
        vlan_id = _opt_int(msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_ID"))
    elif kind == "vxlan":
        vxlan_id = _opt_int(msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VXLAN_ID"))
    mac = msg.get_attr("IFLA_ADDRESS")
    operstate = msg.get_attr("IFLA_OPERSTATE")
    return LinkInfo(
        index=int(msg["index"]),
        ifname=str(msg.get_attr("IFLA_IFNAME") or f"if{msg['index']}"),
        kind=None if kind is None else str(kind),
        arphrd=int(msg["ifi_type"]),
        flags=int(msg["flags"]),
        mac=None if mac is None else str(mac),
        mtu=_opt_int(msg.get_attr("IFLA_MTU")),
        operstate=None if operstate is None else str(operstate),
        master=_opt_int(msg.get_attr("IFLA_MASTER")),
        link=_opt_int(msg.get_attr("IFLA_LINK")),
        link_netnsid=_opt_int(msg.get_attr("IFLA_LINK_NETNSID")),
        stats=_stats(msg),
        vlan_id=vlan_id,
        vxlan_id=vxlan_id,
    )


def _link_event(frame: Frame) -> RtnlEvent:
    msg = ifinfmsg(frame.data)
    msg.decode()
    action: Literal["new", "del"] = "new" if frame.type == RTM_NEWLINK else "del"
    if msg["family"] == AF_BRIDGE:
        return BridgePortEvent(action, int(msg["index"]), _opt_int(msg.get_attr("IFLA_MASTER")))
    link = _link(msg)
    if action == "del" and msg.get_attr("IFLA_NEW_NETNSID") is not None:
        return LinkMovedEvent(link)
    return LinkEvent(action, link)


def _addr_event(frame: Frame) -> AddrEvent | None:
    msg = ifaddrmsg(frame.data)
    msg.decode()
    family = _family(msg["family"])
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the far end on
    # point-to-point links and equals IFA_LOCAL elsewhere.
    address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    if family is None or address is None:
        return None
    info = AddrInfo(
        index=int(msg["index"]),
        family=family,
        address=str(address),
        prefixlen=int(msg["prefixlen"]),
        scope=int(msg["scope"]),
    )
    return AddrEvent("new" if frame.type == RTM_NEWADDR else "del", info)


def _route_event(frame: Frame) -> RouteEvent | None:
    msg = rtmsg(frame.data)
    msg.decode()
    family = _family(msg["family"])
    table = msg.get_attr("RTA_TABLE") or msg["table"]
    if family is None or table != RT_TABLE_MAIN or msg["type"] != RTN_UNICAST:
        return None
    multipath = msg.get_attr("RTA_MULTIPATH")
    if multipath:
        hops = tuple(
            NextHop(_opt_int(nh["oif"]) or None, nh.get_attr("RTA_GATEWAY")) for nh in multipath
        )
    else:
        hops = (NextHop(_opt_int(msg.get_attr("RTA_OIF")), msg.get_attr("RTA_GATEWAY")),)
    dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if family == 4 else "::")
    prefsrc = msg.get_attr("RTA_PREFSRC")
    route = RouteInfo(
        family=family,
        dst=str(dst),
        dst_len=int(msg["dst_len"]),
        nexthops=hops,
        metric=int(msg.get_attr("RTA_PRIORITY") or 0),
        proto=int(msg["proto"]),
        scope=int(msg["scope"]),
        prefsrc=None if prefsrc is None else str(prefsrc),
    )
    if frame.type == RTM_NEWROUTE:
        return RouteEvent("new", route, replace=bool(frame.flags & NLM_F_REPLACE))
    return RouteEvent("del", route)


def _netconf_event(frame: Frame) -> ForwardingEvent | None:
    msg = netconfmsg(frame.data)
    msg.decode()
    forwarding = msg.get_attr("NETCONFA_FORWARDING")
    if msg["family"] != AF_INET or forwarding is None:
        return None
    if msg.get_attr("NETCONFA_IFINDEX") != NETCONFA_IFINDEX_ALL:
        return None  # per-device forwarding; ip_forward is the "all" entry
    return ForwardingEvent(bool(forwarding))


def decode(frame: Frame) -> RtnlEvent | None:
    """The record for one message, or None for what we do not record (other tables ...)."""
    if frame.type in (RTM_NEWLINK, RTM_DELLINK):
        return _link_event(frame)
    if frame.type in (RTM_NEWADDR, RTM_DELADDR):
        return _addr_event(frame)
    if frame.type in (RTM_NEWROUTE, RTM_DELROUTE):
        return _route_event(frame)
    if frame.type == RTM_NEWNETCONF:
        return _netconf_event(frame)
    return None


def decode_bytes(data: bytes) -> list[RtnlEvent]:
    """Every record in a datagram or a recorded payload, in order."""
    return [e for f in frames(data) if (e := decode(f)) is not None]
