"""A libvirt network's DHCP leases, collected where the driver offers them.

The test driver has no DHCP server (`virNetworkGetDHCPLeases` answers "not
supported"), so the first test holds the collector to saying nothing there. The
leases of a real network driver (qemu:///system's, which reads its dnsmasq) cannot
be produced on this machine without a libvirt daemon: the others feed the fetch a
network object whose `DHCPLeases` returns what libvirt's Python binding returns
(a list of dicts named as in `virNetworkDHCPLease`), and the transform a payload
holding such leases.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import libvirt

from vtrail.collectors.libvirt import get
from vtrail.collectors.libvirt.payload import DhcpLease, Fetched, from_json, to_json
from vtrail.collectors.libvirt.transform import build_snapshot
from vtrail.ids import ip_id, lease_space, mac_id

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FUTURE = int(AT.timestamp()) + 3600


def _test_driver() -> Fetched:
    conn = get.open_connection("test:///default")
    try:
        return get.fetch_all(conn, "test:///default")
    finally:
        get.close_connection(conn)


def test_the_test_driver_offers_no_leases_and_none_are_made_up() -> None:
    fetched = _test_driver()
    [net] = [n for n in fetched.networks if n.name == "default"]
    assert net.active and net.leases is None
    obs = build_snapshot("libvirt+test:///default@hv-t", "hv-t", fetched).observation
    assert not [r for r in obs.relations if r.key.rel == "leased_to"]


class _Network:
    """Stands for a network of a driver with DHCP, which this machine has none of."""

    def __init__(self, leases: list[dict[str, Any]] | Exception) -> None:
        self.leases = leases

    def name(self) -> str:
        return "default"

    def XMLDesc(self, flags: int) -> str:
        return "<network><name>default</name><bridge name='virbr0'/></network>"

    def isActive(self) -> int:
        return 1

    def isPersistent(self) -> int:
        return 1

    def DHCPLeases(self) -> list[dict[str, Any]]:
        if isinstance(self.leases, Exception):
            raise self.leases
        return self.leases


LEASES: list[dict[str, Any]] = [
    {
        "iface": "virbr0",
        "expirytime": FUTURE,
        "type": libvirt.VIR_IP_ADDR_TYPE_IPV4,
        "mac": "52:54:00:AB:CD:EF",
        "iaid": None,
        "ipaddr": "192.168.122.50",
        "prefix": 24,
        "hostname": "web-1",
        "clientid": "01:52:54:00:ab:cd:ef",
    },
    {
        "iface": "virbr0",
        "expirytime": int(AT.timestamp()) - 10,
        "type": libvirt.VIR_IP_ADDR_TYPE_IPV4,
        "mac": "52:54:00:00:00:02",
        "iaid": None,
        "ipaddr": "192.168.122.51",
        "prefix": 24,
        "hostname": None,
        "clientid": None,
    },
]


def test_a_network_with_dhcp_gives_its_leases() -> None:
    payload = get._network_payload(_Network(LEASES), "qemu:///system")
    assert payload is not None and payload.leases is not None
    assert payload.leases[0] == DhcpLease(
        "192.168.122.50", "52:54:00:ab:cd:ef", FUTURE, "web-1", "01:52:54:00:ab:cd:ef"
    )
    unsupported = libvirt.libvirtError("no DHCP here")
    unsupported.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, "", 0, "", None, None, 0, 0)
    payload = get._network_payload(_Network(unsupported), "qemu:///system")
    assert payload is not None and payload.leases is None


def test_leases_become_addresses_in_the_networks_space_leased_to_their_clients() -> None:
    fetched = _test_driver()
    leases = get._network_payload(_Network(LEASES), "qemu:///system")
    assert leases is not None
    nets = tuple(
        replace(n, leases=leases.leases) if n.name == "default" else n for n in fetched.networks
    )
    fetched = replace(fetched, at=AT, networks=nets)
    fetched = from_json(to_json(fetched))  # the recorded form keeps them
    obs = build_snapshot("libvirt+test:///default@hv-t", "hv-t", fetched).observation
    space = lease_space("hv-t", "default")
    address = ip_id("192.168.122.50", space)
    assert {(r.key.src, r.key.dst) for r in obs.relations if r.key.rel == "leased_to"} == {
        (address, mac_id("52:54:00:ab:cd:ef"))
    }
    [ip] = [e for e in obs.entities if e.id == address]
    assert ip.attrs["lease_expires"] == FUTURE
    # The expired lease is the client's no longer, even before dnsmasq rewrites its file.
    assert ip_id("192.168.122.51", space) not in {e.id for e in obs.entities}
