"""Linux netlink collector: bridges, ports, veth pairs, addresses, routes, counters.

Split like an ingest module: `get` talks to rtnetlink in one namespace and
returns typed `records`; `transform` (and `state`, for notifications) turn
those into observations without I/O; `collector` and `fleet` drive them.
See docs/collectors/netlink.md.
"""

from .collector import NetlinkCollector
from .fleet import FleetChange, NetlinkFleet, NetlinkSourceSpec, parse_source_uri
from .get import NETNS_DIR, NamespaceGone, list_namespaces

__all__ = [
    "NETNS_DIR",
    "FleetChange",
    "NamespaceGone",
    "NetlinkCollector",
    "NetlinkFleet",
    "NetlinkSourceSpec",
    "list_namespaces",
    "parse_source_uri",
]
