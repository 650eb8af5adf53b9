"""The Open vSwitch collector: bridges, ports, wiring and counters from OVSDB.

`get` talks to the OVSDB socket, `rows` holds the typed records it returns,
`transform` turns them into observations, `collector` drives both for the
runner. See docs/collectors/ovs.md.
"""

from vtrail.collectors.ovs.collector import (
    DEFAULT_SOCKET,
    OvsCollector,
    OvsTarget,
    parse_source_uri,
)

__all__ = ["DEFAULT_SOCKET", "OvsCollector", "OvsTarget", "parse_source_uri"]
