"""The policy's `pools:` section: address pools and MAC pools, read and checked in one
line per fault like the other sections, and written back in the file's form.

```yaml
pools:
  public-v4: {prefix: 203.0.113.0/28, public: true, space: edge, reserved: [203.0.113.1]}
  lab-v4:    {range: 10.0.3.10-10.0.3.200, space: lab}
  lab-v6:    {prefix: "2001:db8:3::/64", space: lab}
  nic-macs:  {mac-prefix: "02:00:00"}
  one-macs:  {mac-prefix: "02:00", from-ip: lab-v4}
```

An address pool is a prefix or a range (never both), of one family, in an address
space; a MAC pool is a prefix of one to five octets (`02:…` locally administered,
or a vendor's OUI), or, with `from-ip`, the OpenNebula scheme: a two-octet prefix
followed by the four octets of the IPv4 address the same holder was allocated from
that pool. docs/ipam.md says what each key means.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vtrail.ids import IPAddr, IPNet
from vtrail.policy.places import (
    At,
    described,
    is_name,
    known_names,
    quoted,
    read_address,
    read_count,
    read_list,
    read_mapping,
    read_optional_text,
    read_text,
)

PoolKind = Literal["ip", "mac"]

_ADDRESS_KEYS = ("prefix", "range", "space", "public", "reserved", "observed-in")
_MAC_KEYS = ("mac-prefix", "from-ip")
_KEYS = (*_ADDRESS_KEYS, *_MAC_KEYS, "stale-days", "description")
#: An allocation not seen in use for this many days is flagged (`stale-days`).
STALE_DAYS = 7
#: The space allocations are recorded in when a pool names none.
DEFAULT_SPACE = "ipam"
_MAC_PREFIX = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$")
_SPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    kind: PoolKind
    #: An address pool's prefix (`10.0.3.0/24`), or None for a range.
    prefix: str | None = None
    #: An address pool's first and last address, or None for a prefix.
    range: tuple[str, str] | None = None
    #: The address space its allocations are recorded in (`ip:<address>@<space>`).
    space: str = DEFAULT_SPACE
    public: bool = False
    #: Addresses never allocated (a gateway, a broadcast).
    reserved: tuple[str, ...] = ()
    #: Globs on the spaces whose observed use counts; empty: every space.
    observed_in: tuple[str, ...] = ()
    #: A MAC pool's prefix, lower case (`02:00:00`).
    mac_prefix: str | None = None
    #: A derived MAC pool's IPv4 pool (OpenNebula's scheme).
    from_ip: str | None = None
    stale_days: int = STALE_DAYS
    description: str | None = None

    def bounds(self) -> tuple[int, int]:
        """The first and last member as integers (a MAC as its 48 bits)."""
        if self.kind == "mac":
            assert self.mac_prefix is not None
            octets = bytes.fromhex(self.mac_prefix.replace(":", ""))
            free = 8 * (6 - len(octets))
            base = int.from_bytes(octets, "big") << free
            return base, base + (1 << free) - 1
        if self.prefix is not None:
            net = ipaddress.ip_network(self.prefix)
            return int(net.network_address), int(net.broadcast_address)
        assert self.range is not None
        return int(ipaddress.ip_address(self.range[0])), int(ipaddress.ip_address(self.range[1]))

    @property
    def family(self) -> int:
        """4 or 6 for an address pool; 0 for a MAC pool."""
        if self.kind == "mac":
            return 0
        text = self.prefix if self.prefix is not None else self.range[0]  # type: ignore[index]
        return 6 if ":" in text else 4

    def unusable(self) -> frozenset[int]:
        """Members never allocated: the reserved ones, and a prefix's network address and
        (IPv4) broadcast address, but in a /31, /32, /127 or /128, which have no others."""
        out = {int(ipaddress.ip_address(a)) for a in self.reserved}
        if self.prefix is not None:
            net = ipaddress.ip_network(self.prefix)
            if net.max_prefixlen - net.prefixlen >= 2:
                out.add(int(net.network_address))
                if net.version == 4:
                    out.add(int(net.broadcast_address))
        return frozenset(out)

    def size(self) -> int:
        """Members that may be allocated."""
        lo, hi = self.bounds()
        return hi - lo + 1 - len(self.unusable())


def _prefix(value: object, at: At) -> IPNet:
    text = read_text(value, at)
    try:
        return ipaddress.ip_network(text)
    except ValueError as e:
        if "host bits set" in str(e):
            net = ipaddress.ip_network(text, strict=False)
            raise at.bad(f"{quoted(text)} has host bits set: write {net}") from None
        raise at.bad(f"{quoted(text)} is not a prefix (write ADDRESS/LENGTH)") from None


def _range(value: object, at: At) -> tuple[IPAddr, IPAddr]:
    text = read_text(value, at)
    first, dash, last = text.partition("-")
    if not dash:
        raise at.bad(f"{quoted(text)} is not a range: write FIRST-LAST (10.0.3.10-10.0.3.200)")
    a, b = read_address(first.strip(), at), read_address(last.strip(), at)
    if a.version != b.version:
        raise at.bad(f"{quoted(text)} mixes IPv{a.version} and IPv{b.version}")
    if int(b) < int(a):
        raise at.bad(f"{quoted(text)} ends before it starts")
    return a, b


def _space(value: object, at: At) -> str:
    text = read_text(value, at)
    if not _SPACE.match(text):
        raise at.bad(
            f"{quoted(text)} is not an address space: letters, digits, '.', '_', ':', '/' "
            "and '-', starting with a letter or digit"
        )
    return text


def _glob(value: object, at: At) -> str:
    return read_text(value, at)


def _mac_prefix(value: object, at: At) -> str:
    text = read_text(value, at).lower().replace("-", ":")
    if not _MAC_PREFIX.match(text):
        raise at.bad(
            f"{quoted(value)} is not a MAC prefix: one to five octets in hex, such as 02:00:00"
        )
    if int(text[:2], 16) & 1:
        raise at.bad(
            f"{quoted(value)} is a multicast prefix: a NIC's MAC has the lowest bit of its "
            "first octet clear (02:…, or a vendor's OUI)"
        )
    return text


def _bool(m: Mapping[str, Any], key: str, at: At) -> bool:
    if key not in m:
        return False
    value = m[key]
    if not isinstance(value, bool):
        raise at.key(m, key).bad(f"expected true or false, got {described(value)}")
    return value


def read_pool(name: str, value: object, at: At) -> Pool:
    """One pool, `PolicyError`'s `Bad` naming the place when anything in it is wrong;
    `from-ip` is checked against the other pools by `read_pools`."""
    m = read_mapping(value, at, _KEYS, "a mapping (prefix or range, or mac-prefix, ...)")
    stale = (
        read_count(m["stale-days"], at.key(m, "stale-days"), 1, 3650)
        if "stale-days" in m
        else STALE_DAYS
    )
    description = read_optional_text(m, "description", at)
    if "mac-prefix" in m:
        extra = [k for k in _ADDRESS_KEYS if k in m]
        if extra:
            raise at.key(m, extra[0]).bad(f"a MAC pool has no {extra[0]}: it is an address pool's")
        mac = _mac_prefix(m["mac-prefix"], at.key(m, "mac-prefix"))
        from_ip = None
        if "from-ip" in m:
            from_ip = read_text(m["from-ip"], at.key(m, "from-ip"))
            if len(mac.split(":")) != 2:
                raise at.key(m, "mac-prefix").bad(
                    "a MAC derived from an IPv4 address has a two-octet prefix (02:00), "
                    "the address is the other four"
                )
        return Pool(name, "mac", mac_prefix=mac, from_ip=from_ip, stale_days=stale,
                    description=description)  # fmt: skip
    if "from-ip" in m:
        raise at.key(m, "from-ip").bad("from-ip derives MACs: give it with mac-prefix")
    if ("prefix" in m) == ("range" in m):
        raise at.bad("an address pool has a prefix or a range (one of them), or is a MAC pool "
                     "(mac-prefix)")  # fmt: skip
    prefix: str | None = None
    span: tuple[str, str] | None = None
    if "prefix" in m:
        net = _prefix(m["prefix"], at.key(m, "prefix"))
        prefix, version = str(net), net.version
        lo, hi = int(net.network_address), int(net.broadcast_address)
    else:
        a, b = _range(m["range"], at.key(m, "range"))
        span, version, lo, hi = (str(a), str(b)), a.version, int(a), int(b)
    reserved: tuple[str, ...] = ()
    if "reserved" in m:
        where = at.key(m, "reserved")
        found = read_list(m["reserved"], where, "addresses", read_address)
        for i, addr in enumerate(found):
            if addr.version != version or not lo <= int(addr) <= hi:
                raise where.item(m["reserved"], i).bad(f"{addr} is outside the pool")
        reserved = tuple(str(x) for x in found)
    observed: tuple[str, ...] = ()
    if "observed-in" in m:
        observed = read_list(m["observed-in"], at.key(m, "observed-in"), "space globs", _glob)
    space = _space(m["space"], at.key(m, "space")) if "space" in m else DEFAULT_SPACE
    return Pool(
        name, "ip", prefix=prefix, range=span, space=space, public=_bool(m, "public", at),
        reserved=reserved, observed_in=observed, stale_days=stale, description=description,
    )  # fmt: skip


def read_pools(value: object, at: At) -> dict[str, Pool]:
    """The `pools:` section: a mapping of pool names to pools."""
    if value is None:
        return {}
    m = read_mapping(value, at, None, "a mapping of pools by name")
    pools: dict[str, Pool] = {}
    for name, body in m.items():
        here = At(f"pools.{name}", "", at.key(m, name).line)
        if not is_name(name):
            raise At("pools", "", here.line).bad(
                f"{quoted(name)} is not a name: letters, digits, '.', '_' and '-', starting "
                "with a letter or digit, at most 64 characters"
            )
        pools[name] = read_pool(name, body, here)
    for name, pool in pools.items():
        if pool.from_ip is None:
            continue
        body = m[name]
        here = At(f"pools.{name}", "", at.key(m, name).line).key(body, "from-ip")
        source = pools.get(pool.from_ip)
        if source is None:
            ip_pools = [n for n, p in pools.items() if p.kind == "ip"]
            known = known_names(pool.from_ip, ip_pools, "address pools")
            raise here.bad(f"unknown pool {quoted(pool.from_ip)} {known}")
        if source.kind != "ip" or source.family != 4:
            raise here.bad(
                f"{pool.from_ip} is not an IPv4 address pool: a MAC holds 4 octets of it"
            )
    return pools


def pool_document(p: Pool) -> dict[str, Any]:
    """The pool as the file writes it (and as its `pool:` entity records it)."""
    doc: dict[str, Any] = {}
    if p.kind == "mac":
        doc["mac-prefix"] = p.mac_prefix
        if p.from_ip is not None:
            doc["from-ip"] = p.from_ip
    else:
        if p.prefix is not None:
            doc["prefix"] = p.prefix
        else:
            assert p.range is not None
            doc["range"] = f"{p.range[0]}-{p.range[1]}"
        doc["space"] = p.space
        if p.public:
            doc["public"] = True
        if p.reserved:
            doc["reserved"] = list(p.reserved)
        if p.observed_in:
            doc["observed-in"] = list(p.observed_in)
    if p.stale_days != STALE_DAYS:
        doc["stale-days"] = p.stale_days
    if p.description is not None:
        doc["description"] = p.description
    return doc
