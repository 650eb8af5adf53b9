"""The policy's `pools:` section: read exactly, refused in one line naming the place,
and recorded and read back the same."""

from __future__ import annotations

import pytest

from ipam.fabric import POOLS
from vtrail.policy.document import to_yaml
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.pools import Pool
from vtrail.policy.record import from_attrs, to_observation
from vtrail.timeexpr import parse_time


def test_pools_are_read_exactly() -> None:
    p = parse_policy(POOLS, "policy.yaml").pools
    assert p["lab"] == Pool("lab", "ip", prefix="10.0.3.0/24", space="lab",
                            reserved=("10.0.3.1",), stale_days=7)  # fmt: skip
    assert p["lab6"].family == 6 and p["lab6"].space == "lab"
    assert p["macs"] == Pool("macs", "mac", mac_prefix="02:00:00")
    assert p["one"].from_ip == "lab"
    # The network and broadcast addresses and the reserved one are never allocated.
    assert p["lab"].size() == 253
    assert p["macs"].size() == 2**24


def test_a_range_and_a_public_pool() -> None:
    text = "pools:\n  pub: {range: 203.0.113.10-203.0.113.20, public: true, space: edge}\n"
    pub = parse_policy(text).pools["pub"]
    assert pub.range == ("203.0.113.10", "203.0.113.20") and pub.public and pub.size() == 11


def test_pools_round_trip_through_the_record_and_the_file() -> None:
    p = parse_policy(POOLS, "policy.yaml")
    o = to_observation(p, parse_time("2026-11-20T03:00Z"))
    assert from_attrs((e.id, e.attrs) for e in o.entities) == p
    assert parse_policy(to_yaml(p)) == p


BAD = [
    ("pools:\n  a: {prefix: 10.0.3.1/24}\n",
     "policy.yaml:2: pools.a: prefix: '10.0.3.1/24' has host bits set: write 10.0.3.0/24"),
    ("pools:\n  a: {prefix: 10.0.3.0/24, range: 10.0.3.1-10.0.3.9}\n",
     "policy.yaml:2: pools.a: an address pool has a prefix or a range (one of them), or is a "
     "MAC pool (mac-prefix)"),
    ("pools:\n  a: {range: 10.0.3.9-10.0.3.1}\n",
     "policy.yaml:2: pools.a: range: '10.0.3.9-10.0.3.1' ends before it starts"),
    ("pools:\n  a: {range: 10.0.3.1-2001:db8::1}\n",
     "policy.yaml:2: pools.a: range: '10.0.3.1-2001:db8::1' mixes IPv4 and IPv6"),
    ("pools:\n  a:\n    prefix: 10.0.3.0/24\n    reserved: [10.0.4.1]\n",
     "policy.yaml:4: pools.a: reserved[0]: 10.0.4.1 is outside the pool"),
    ("pools:\n  m: {mac-prefix: '01:00:5e'}\n",
     "policy.yaml:2: pools.m: mac-prefix: '01:00:5e' is a multicast prefix: a NIC's MAC has the "
     "lowest bit of its first octet clear (02:…, or a vendor's OUI)"),
    ("pools:\n  m: {mac-prefix: '02:00', from-ip: labb}\n  lab: {prefix: 10.0.3.0/24}\n",
     "policy.yaml:2: pools.m: from-ip: unknown pool 'labb' (did you mean 'lab'? address pools: lab)"),
    ("pools:\n  m: {mac-prefix: '02:00:00', from-ip: lab}\n  lab: {prefix: 10.0.3.0/24}\n",
     "policy.yaml:2: pools.m: mac-prefix: a MAC derived from an IPv4 address has a two-octet "
     "prefix (02:00), the address is the other four"),
    ("pools:\n  a: {prefix: 10.0.3.0/24, spce: lab}\n",
     "policy.yaml:2: pools.a: spce: unknown key 'spce' (did you mean 'space'? allowed: "
     "description, from-ip, mac-prefix, observed-in, prefix, public, range, reserved, space, "
     "stale-days)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line"), BAD)
def test_a_bad_pool_is_refused_in_one_line_naming_the_place(text: str, line: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(text, "policy.yaml")
    assert str(e.value) == line
