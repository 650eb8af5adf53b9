"""Typed records between `get` and `transform`: what netlink said, nothing more.

`get` turns raw rtnetlink messages into these frozen dataclasses so that
`transform` and `state` never see pyroute2 objects. Field names follow the
kernel attributes they come from (IFLA_*, IFA_*, RTA_*).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

#: The counters recorded as samples, in IFLA_STATS64 names.
STAT_NAMES: tuple[str, ...] = (
    "rx_bytes",
    "tx_bytes",
    "rx_packets",
    "tx_packets",
    "rx_dropped",
    "tx_dropped",
)

AF_INET = 2
AF_INET6 = 10
#: RTM_NEWLINK/RTM_DELLINK with this family are bridge port notices, not link life.
AF_BRIDGE = 7

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
IFF_UP = 0x1

Family: TypeAlias = Literal[4, 6]


@dataclass(frozen=True, slots=True)
class LinkStats:
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int
    rx_dropped: int
    tx_dropped: int

    def value(self, name: str) -> int:
        v: int = getattr(self, name)
        return v


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """One RTM_NEWLINK/RTM_DELLINK body (AF_UNSPEC)."""

    index: int
    ifname: str
    #: IFLA_INFO_KIND (veth, bridge, vxlan, tun ...); None for physical and loopback.
    kind: str | None
    #: ifi_type (ARPHRD_*): tells a tap (ether) from a tun (none), loopback from the rest.
    arphrd: int
    flags: int
    mac: str | None = None
    mtu: int | None = None
    operstate: str | None = None
    #: IFLA_MASTER: ifindex of the bridge/bond/VRF this link is enslaved to.
    master: int | None = None
    #: IFLA_LINK: the veth peer's ifindex (in `link_netnsid`'s namespace if set)
    #: or a vlan/macvlan/vxlan lower device. 0 once a veth's peer is detached.
    link: int | None = None
    link_netnsid: int | None = None
    stats: LinkStats | None = None
    vlan_id: int | None = None
    vxlan_id: int | None = None

    @property
    def is_loopback(self) -> bool:
        return self.arphrd == ARPHRD_LOOPBACK or self.ifname == "lo"

    @property
    def is_up(self) -> bool:
        return bool(self.flags & IFF_UP)


@dataclass(frozen=True, slots=True)
class AddrInfo:
    """One RTM_NEWADDR body: an address on interface `index`."""

    index: int
    family: Family
    address: str
    prefixlen: int
    #: RT_SCOPE_*: 0 universe, 200 site, 253 link, 254 host.
    scope: int


@dataclass(frozen=True, slots=True)
class NextHop:
    oif: int | None
    gateway: str | None


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One RTM_NEWROUTE body from the main table; a multipath route has several hops."""

    family: Family
    dst: str
    dst_len: int
    nexthops: tuple[NextHop, ...]
    metric: int = 0
    #: RTPROT_* number (2 kernel, 3 boot, 4 static, 16 dhcp ...).
    proto: int = 0
    scope: int = 0
    prefsrc: str | None = None

    @property
    def cidr(self) -> str:
        return f"{self.dst}/{self.dst_len}"

    def same_slot(self, other: RouteInfo) -> bool:
        """True when `other` replaces this route under NLM_F_REPLACE (same prefix and metric)."""
        return (self.family, self.dst, self.dst_len, self.metric) == (
            other.family,
            other.dst,
            other.dst_len,
            other.metric,
        )


@dataclass(frozen=True, slots=True)
class PeerRef:
    """Where a veth's other end lives: namespace label (None: this one) and ifname."""

    netns: str | None
    ifname: str


@dataclass(frozen=True)
class NamespaceState:
    """Everything one namespace holds that we record, at one instant."""

    links: tuple[LinkInfo, ...] = ()
    addrs: tuple[AddrInfo, ...] = ()
    routes: tuple[RouteInfo, ...] = ()
    ip_forward: bool = False
    #: Veth peers that live in another namespace, by local ifindex (resolved by `get`).
    remote_peers: Mapping[int, PeerRef] = field(default_factory=dict)
    #: Where veths led before their pair was torn down (IFLA_LINK went 0), by ifindex:
    #: their final counters still belong to that peer.
    detached_peers: Mapping[int, PeerRef] = field(default_factory=dict)
    # Lookups by ifindex happen per link per notification; a scan made that O(n²).
    _by_index: Mapping[int, LinkInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_index", {x.index: x for x in self.links})

    def peer(self, link: LinkInfo) -> PeerRef | None:
        """The other end of a veth while attached, in this namespace or another one."""
        if link.kind != "veth" or not link.link:
            return None  # IFLA_LINK is 0 once the pair is being torn down
        if link.link_netnsid is None:
            other = self.link(link.link)
            return PeerRef(None, other.ifname) if other is not None else None
        return self.remote_peers.get(link.index)

    def link(self, index: int | None) -> LinkInfo | None:
        return None if index is None else self._by_index.get(index)


# -- events: one rtnetlink notification each -------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkEvent:
    action: Literal["new", "del"]
    link: LinkInfo


@dataclass(frozen=True, slots=True)
class BridgePortEvent:
    """An AF_BRIDGE RTM_NEWLINK/RTM_DELLINK: `index` joined or left bridge `master`.

    The kernel sends these beside the ordinary link messages; a "del" means the
    port left the bridge, never that the link was deleted.
    """

    action: Literal["new", "del"]
    index: int
    master: int | None


@dataclass(frozen=True, slots=True)
class LinkMovedEvent:
    """RTM_DELLINK carrying IFLA_NEW_NETNSID: the link went to another namespace, intact."""

    link: LinkInfo


@dataclass(frozen=True, slots=True)
class AddrEvent:
    action: Literal["new", "del"]
    addr: AddrInfo


@dataclass(frozen=True, slots=True)
class RouteEvent:
    action: Literal["new", "del"]
    route: RouteInfo
    #: NLM_F_REPLACE on RTM_NEWROUTE: the route took the place of one in the same slot.
    replace: bool = False


@dataclass(frozen=True, slots=True)
class ForwardingEvent:
    """RTM_NEWNETCONF for NETCONFA_IFINDEX_ALL: net.ipv4.ip_forward changed."""

    enabled: bool


RtnlEvent: TypeAlias = (
    LinkEvent | BridgePortEvent | LinkMovedEvent | AddrEvent | RouteEvent | ForwardingEvent
)
