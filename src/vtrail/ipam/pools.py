"""The pools in force at an instant, and what is in one: its members as integers, the
text every id of a member starts with, and an address or MAC typed by a user read
into one line of refusal when it is none.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from vtrail.ids import ip_id, ip_text_prefix, mac_id, parse_ip, parse_mac, pool_id
from vtrail.model import InvalidId, split_id
from vtrail.policy.pools import Pool, pool_document
from vtrail.policy.record import from_attrs
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.ipam import IpamReader
from vtrail.timeexpr import iso, to_us

_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$", re.IGNORECASE)


class IpamError(ValueError):
    """A request that cannot be answered or done, said in one line; nothing was changed."""


class IpamNotFound(IpamError):
    """What was asked of is not there: an unknown pool, an address not allocated, text
    that names no address or MAC (the API's 404)."""


class IpamConflict(IpamError):
    """The pool cannot give what was asked now: too few free, a derived MAC taken or
    without its address (the API's 409)."""


#: The pools in force now, per store and the stamp of its pools' versions: an allocator
#: asks for them at every allocation, and reading and parsing them was a fifth of one.
_NOW: dict[tuple[str, tuple[int, int, int]], dict[str, Pool]] = {}


def pools_at(store: Store, at: datetime) -> dict[str, Pool]:
    """The pools of the policy in force at `at` (docs/ipam.md)."""
    t = to_us(at)
    stamp = IpamReader(store).stamp(pool_id(""))
    # After the last change to any pool, every instant has the same pools.
    settled = t >= stamp[2]
    key = (str(store.path), stamp)
    if settled and key in _NOW:
        return _NOW[key]
    r = GraphReader(store)
    ids = r.with_prefix(pool_id(""), t)
    found = from_attrs((n.eid, n.attrs) for n in r.nodes(ids, t).values()).pools
    if settled:
        _NOW.clear()
        _NOW[key] = found
    return found


def pool_named(store: Store, name: str, at: datetime) -> Pool:
    pools = pools_at(store, at)
    found = pools.get(name)
    if found is None:
        known = ", ".join(sorted(pools)) or "none: define some under pools: in the policy"
        raise IpamNotFound(f"unknown pool {name!r} at {iso(at)} (pools: {known})")
    return found


# -- members as integers -------------------------------------------------------------------


def mac_text(n: int) -> str:
    return ":".join(f"{b:02x}" for b in n.to_bytes(6, "big"))


def member_text(pool: Pool, n: int) -> str:
    """Member `n` of `pool` as it is written: an address, or a MAC."""
    if pool.kind == "mac":
        return mac_text(n)
    return str(ipaddress.ip_address(n) if pool.family == 4 else ipaddress.IPv6Address(n))


def member_id(pool: Pool, text: str) -> str:
    """The id an allocation of `text` from `pool` is recorded under."""
    if pool.kind == "mac":
        return mac_id(text)
    return ip_id(text, pool.space)


def _dotted_quad(text: str) -> int | None:
    """`a.b.c.d` as an integer, None for anything else (IPv6, a prefix, a name)."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    a, b, c, d = map(int, parts)
    if max(a, b, c, d) > 255:
        return None
    return a << 24 | b << 16 | c << 8 | d


@lru_cache(maxsize=1 << 18)
def address_key(eid: str) -> tuple[int, int, str | None] | None:
    """`(family, address as an integer, space)` of an `ip:` id, None for any other id.
    The scans read it of every address: a dotted quad is read without `ipaddress`,
    and each id once."""
    head = ip_text_prefix()
    if not eid.startswith(head):
        return None
    local, at, space = eid[len(head) :].partition("@")
    if at:
        try:
            # The C parser takes the dotted quads `_dotted_quad` reads, but for those
            # with leading zeros, which it leaves to it, at a fifth of the cost.
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, local), "big"), space
        except (OSError, ValueError):
            quad = _dotted_quad(local)
            if quad is not None:
                return 4, quad, space
    try:
        parsed = parse_ip(eid)
    except InvalidId:
        return None
    return parsed.address.version, int(parsed.address), parsed.space


@lru_cache(maxsize=256)
def shape(pool: Pool) -> tuple[int, int, int]:
    """`(family, first, last)` of a pool, read once (family 0: a MAC pool)."""
    lo, hi = pool.bounds()
    return pool.family, lo, hi


def member_value(pool: Pool, eid: str) -> int | None:
    """The integer of the member an `ip:` or `mac:` id names, when it is of `pool`'s
    family and inside it (reserved ones included); None otherwise."""
    family, lo, hi = shape(pool)
    if family == 0:
        try:
            if split_id(eid)[0] != "mac":
                return None
            n = int(parse_mac(eid).replace(":", ""), 16)
        except (InvalidId, ValueError):
            return None
    else:
        key = address_key(eid)
        if key is None or key[0] != family:
            return None
        n = key[1]
    return n if lo <= n <= hi else None


@lru_cache(maxsize=256)
def reserved(pool: Pool) -> frozenset[int]:
    """What is never allocated from `pool` (`Pool.unusable`); nothing in a MAC pool."""
    return pool.unusable() if pool.kind == "ip" else frozenset()


def observed_space(pool: Pool, space: str | None) -> bool:
    """Whether use observed in `space` counts for `pool` (`observed-in`, every space when
    it says none)."""
    if not pool.observed_in:
        return True
    return space is not None and any(fnmatch.fnmatchcase(space, g) for g in pool.observed_in)


def id_prefix(pool: Pool) -> str:
    """Text every id of a member of `pool` starts with (in any space), as long as it can
    be: the store reads the ids in a range of its index, then keeps those inside."""
    if pool.kind == "mac":
        assert pool.mac_prefix is not None
        return mac_id(pool.mac_prefix)
    lo, hi = pool.bounds()
    if pool.family == 4:
        a, b = str(ipaddress.IPv4Address(lo)).split("."), str(ipaddress.IPv4Address(hi)).split(".")
        same = []
        for x, y in zip(a, b, strict=True):
            if x != y:
                break
            same.append(x)
        return ip_text_prefix("".join(f"{x}." for x in same))
    # Leading hextets that are not zero are written as they are; a `::` may only stand
    # for zeros, so no shorter form of an address inside can skip them.
    ha = ipaddress.IPv6Address(lo).exploded.split(":")
    hb = ipaddress.IPv6Address(hi).exploded.split(":")
    same = []
    for x, y in zip(ha, hb, strict=True):
        if x != y or int(x, 16) == 0:
            break
        same.append(format(int(x, 16), "x"))
    return ip_text_prefix("".join(f"{x}:" for x in same))


# -- what a user typed ---------------------------------------------------------------------


def read_target(text: str) -> tuple[str, str | None]:
    """`(what, space)` of an address (`10.0.3.7`, `10.0.3.7@lab`) or a MAC typed by a
    user: `what` written canonically (an address compressed, a MAC lower case with
    colons). `IpamError` when it is neither."""
    t = text.strip()
    if _MAC.match(t):
        return t.lower().replace("-", ":"), None
    local, at, space = t.partition("@")
    try:
        address = ipaddress.ip_address(local)
    except ValueError:
        raise IpamNotFound(
            f"{text!r} is neither an IP address (10.0.3.7, 10.0.3.7@SPACE, 2001:db8::7) "
            "nor a MAC (52:54:00:12:34:56)"
        ) from None
    if at and not space:
        raise IpamNotFound(f"{text!r} names no space after '@'")
    return str(address), space or None


def is_mac(what: str) -> bool:
    return _MAC.match(what) is not None


@dataclass(frozen=True, slots=True)
class PoolsAnswer:
    """The pools in force at `at`, each in the policy file's form with its name."""

    at: datetime
    pools: list[dict[str, Any]]


def pools_answer(store: Store, at: datetime) -> PoolsAnswer:
    found = pools_at(store, at)
    return PoolsAnswer(
        at,
        [
            {"name": n, "kind": p.kind, "size": p.size(), **pool_document(p)}
            for n, p in sorted(found.items())
        ],
    )
