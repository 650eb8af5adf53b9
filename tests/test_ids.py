"""The id grammar: one module builds every id, and every id parses back to what built it."""

from __future__ import annotations

import ast
import ipaddress
import re
from pathlib import Path

import pytest

import vtrail
from vtrail import ids
from vtrail.ids import (
    AddressId,
    NetworkId,
    guest_space,
    ip_id,
    lease_space,
    libvirt_net_id,
    namespace_of,
    net_id,
    parse_interface,
    parse_ip,
    parse_net,
    parse_nic,
    port_id,
    space_of,
)
from vtrail.model import InvalidId, split_id

SRC = Path(vtrail.__file__).parent
_BUILT = re.compile(rf"^({'|'.join(sorted(ids.KINDS))}):")


def hand_built_ids(root: Path) -> list[str]:
    """Every string literal, or leading part of an f-string, that starts like an id."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "ids.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and _BUILT.match(text):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {text[:40]!r}")
    return found


def test_no_module_but_ids_writes_an_id_by_hand() -> None:
    assert hand_built_ids(SRC) == []


def test_the_scan_sees_f_strings_and_concatenations(tmp_path: Path) -> None:
    (tmp_path / "ids.py").write_text('X = "ip:"\n')
    (tmp_path / "bad.py").write_text(
        'def f(ns, a):\n    return f"net:{a}", "ip:" + a, "router:" + ns, "a host: x"\n'
    )
    assert [x.split(": ", 1)[1] for x in hand_built_ids(tmp_path)] == [
        "'net:'",
        "'ip:'",
        "'router:'",
    ]


@pytest.mark.parametrize(
    ("address", "space"),
    [
        ("10.0.0.1", "ns1"),
        ("2001:db8::1", "hv-a"),  # colons in the address
        ("fe80::1", "default@hv-a"),  # a libvirt network's space has an @
        ("192.168.122.45", "a/b@c"),  # a space may hold / and @
        ("10.0.0.1", "6695eb01-f6a4-8304-79aa-000000000001"),
    ],
)
def test_an_address_id_parses_back(address: str, space: str) -> None:
    eid = ip_id(address, space)
    assert split_id(eid)[0] == "ip"
    assert parse_ip(eid) == AddressId(ipaddress.ip_address(address), space)
    assert space_of(eid) == space


def test_an_address_id_is_canonical_and_drops_the_prefix_length() -> None:
    assert ip_id("2001:DB8:0::1/64", "ns") == "ip:2001:db8::1@ns"
    assert ip_id(ipaddress.ip_address("10.0.0.1"), "ns") == "ip:10.0.0.1@ns"
    for bad in ("10.0.0.256", "web-1", ""):
        with pytest.raises(InvalidId):
            ip_id(bad, "ns")
    for space in ("", " ns"):
        with pytest.raises(InvalidId):
            ip_id("10.0.0.1", space)


@pytest.mark.parametrize(
    ("what", "space", "expected"),
    [
        ("10.0.1.0/24", "rtr", NetworkId("rtr", ipaddress.ip_network("10.0.1.0/24"), None)),
        ("10.0.1.7/24", "rtr", NetworkId("rtr", ipaddress.ip_network("10.0.1.0/24"), None)),
        ("2001:db8::/32", "r/x", NetworkId("r/x", ipaddress.ip_network("2001:db8::/32"), None)),
        ("default", "hv-a", NetworkId("hv-a", None, "default")),
        ("lab@50%", "hv-a", NetworkId("hv-a", None, "lab@50%")),  # quoted in the id
        ("10.0.0.0", "hv-a", NetworkId("hv-a", None, "10.0.0.0")),  # a name, no /
    ],
)
def test_a_network_id_parses_back(what: str, space: str, expected: NetworkId) -> None:
    eid = net_id(what, space)
    assert eid.count("@") == 1 + space.count("@")
    assert parse_net(eid) == expected


def test_a_libvirt_network_names_the_space_of_its_leases() -> None:
    assert libvirt_net_id("hv-a", "default") == "net:default@hv-a"
    assert lease_space("hv-a", "default") == "default@hv-a"
    leased = ip_id("192.168.122.45", lease_space("hv-a", "default"))
    assert leased == "ip:192.168.122.45@default@hv-a"
    assert parse_ip(leased).space == "default@hv-a"
    assert libvirt_net_id("hv-a", "a@b") == "net:a%40b@hv-a"
    assert lease_space("hv-a", "a@b") == "a%40b@hv-a"
    assert guest_space("6695EB01-F6A4-8304-79AA-000000000001").islower()


def test_ids_from_before_address_spaces_still_parse() -> None:
    assert parse_ip("ip:10.0.0.1") == AddressId(ipaddress.ip_address("10.0.0.1"), None)
    assert parse_ip("ip:10.0.0.1/24").prefixlen == 24
    assert parse_net("net:10.0.1.0/24") == NetworkId(
        None, ipaddress.ip_network("10.0.1.0/24"), None
    )
    assert parse_net("net:hv-a/default") == NetworkId("hv-a", None, "default")
    assert parse_net("net:default") == NetworkId(None, None, "default")
    for bad in ("ip:10.0.0.1@", "ip:10.0.0.1/24@ns", "ip:web@ns", "net:x@", "vm:10.0.0.1@x"):
        with pytest.raises(InvalidId):
            (parse_ip if bad.startswith("ip") else parse_net)(bad)


def test_interfaces_and_nics_parse_back() -> None:
    assert parse_interface(port_id("hv-a", "vnet0")) == ("hv-a", "vnet0")
    assert namespace_of(port_id("qrouter-1", "qr-a")) == "qrouter-1"
    assert namespace_of(ids.router_id("rtr")) == "rtr"
    assert namespace_of(ids.netns_id("blue")) == "blue"
    assert namespace_of(ip_id("10.0.0.1", "rtr")) is None
    assert parse_nic(ids.nic_id("ABC", "52:54:00:AA:00:01")) == ("abc", "52:54:00:aa:00:01")
    assert ids.holder_space(ids.nic_id("ABC", "52:54:00:aa:00:01")) == "abc"
    assert ids.holder_space(ids.bridge_id("sw", "br0")) == "sw"
    with pytest.raises(InvalidId):
        parse_interface("port:vnet0")


def test_policy_and_image_ids_parse_back() -> None:
    assert ids.parse_named(ids.service_id("web"), "service") == "web"
    assert ids.parse_named(ids.domain_id("rack-1"), "domain") == "rack-1"
    assert ids.parse_named(ids.rule_id("db-apart"), "rule") == "db-apart"
    assert ids.parse_image(ids.image_id("debian", "12.5")) == ("debian", "12.5")
    with pytest.raises(InvalidId):
        ids.parse_named(ids.domain_id("rack-1"), "service")
    with pytest.raises(InvalidId):
        ids.parse_image("image:debian")
