"""`vtrail ipam conflicts`: what is wrong with addresses and MACs at an instant or over
a window, each with the interval it was wrong in.

| kind | what |
| --- | --- |
| `duplicate-address` | one address held by two interfaces in one space at once |
| `duplicate-mac` | one MAC on two live (plugged) NICs at once |
| `unallocated` | an address of a pool in use (observed or leased) while not allocated |
| `stale-allocation` | an allocation not seen in use for its pool's `stale-days` |
| `mac-outside-pools` | a live NIC's MAC in no MAC pool (only when some are defined) |
| `outside-pool` | an allocation its pool no longer holds (narrowed, or removed) |

Pools are those in force at the instant asked, or at the window's end. Use before
the window counts for staleness as far back as the longest `stale-days`.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vtrail.ids import parse_ip, parse_mac, parse_nic
from vtrail.ipam.intervals import Span, intersect, join, overlaps, subtract
from vtrail.ipam.pools import (
    address_key,
    member_value,
    observed_space,
    pools_at,
    reserved,
    shape,
)
from vtrail.model import InvalidId, split_id
from vtrail.policy.pools import Pool
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.ipam import Edge, IpamReader
from vtrail.timeexpr import from_us, to_us

Kind = Literal[
    "duplicate-address",
    "duplicate-mac",
    "unallocated",
    "stale-allocation",
    "mac-outside-pools",
    "outside-pool",
]
KINDS: tuple[str, ...] = (
    "duplicate-address",
    "duplicate-mac",
    "unallocated",
    "stale-allocation",
    "mac-outside-pools",
    "outside-pool",
)
_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: Kind
    #: The address or MAC.
    address: str
    #: Who is involved: the interfaces or NICs, the holder of the allocation.
    entities: list[str]
    t_from: datetime
    t_to: datetime | None
    #: The address space, for an address.
    space: str | None = None
    #: The pool it concerns, when one does.
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class ConflictsAnswer:
    at: datetime | None
    t_from: datetime | None
    t_to: datetime | None
    conflicts: list[Conflict]


class _Found:
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.out: list[Conflict] = []

    def add(self, kind: Kind, address: str, entities: list[str], span: Span,
            space: str | None = None, pool: str | None = None) -> None:  # fmt: skip
        if overlaps(span, self.lo, self.hi):
            s, t = span
            self.out.append(
                Conflict(
                    kind,
                    address,
                    sorted(entities),
                    from_us(s),
                    None if t is None else from_us(t),
                    space,
                    pool,
                )
            )


def _spans(edges: list[Edge], key: str) -> dict[tuple[str, str], list[Span]]:
    """Joined spans per (address id, other end) of edges; `key` says which end is the
    address: `src` or `dst`."""
    found: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for e in edges:
        pair = (e.src, e.dst) if key == "src" else (e.dst, e.src)
        found[pair].append((e.valid_from, e.valid_to))
    return {k: join(v) for k, v in found.items()}


def _pairs(found: _Found, kind: Kind, address: str, holders: dict[str, list[Span]],
           space: str | None) -> None:  # fmt: skip
    names = sorted(holders)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for span in intersect(holders[a], holders[b]):
                found.add(kind, address, [a, b], span, space)


def _ip(eid: str) -> tuple[str, str | None] | None:
    try:
        a = parse_ip(eid)
    except InvalidId:
        return None
    return str(a.address), a.space


def _text(eid: str) -> str:
    """The address or MAC an `ip:` or `mac:` id names, as it is written."""
    if split_id(eid)[0] == "ip":
        parsed = _ip(eid)
        return parsed[0] if parsed is not None else eid
    return parse_mac(eid)


def conflicts(
    store: Store,
    *,
    at: datetime | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> ConflictsAnswer:
    if at is None and (t_from is None or t_to is None):
        raise ValueError("conflicts needs an instant (at) or a window (from and to)")
    if at is not None:
        lo = to_us(at)
        hi, end = lo + 1, at
    else:
        assert t_from is not None and t_to is not None
        check_window(t_from, t_to)
        lo, hi, end = to_us(t_from), to_us(t_to), t_to
    pools = pools_at(store, end)
    ip_pools = [p for p in pools.values() if p.kind == "ip"]
    mac_pools = [p for p in pools.values() if p.kind == "mac"]
    horizon = lo - max((p.stale_days for p in ip_pools), default=0) * _DAY
    r = IpamReader(store)
    found = _Found(lo, hi)

    # Uses read from the horizon on, for staleness; the window's own are filtered by `add`.
    observed = _spans(r.edges_by_rel(("has_address",), horizon, hi), "dst")
    leased = _spans(r.edges_by_rel(("leased_to",), horizon, hi), "src")
    allocs = r.allocations(lo, hi)

    by_address: dict[str, dict[str, list[Span]]] = defaultdict(dict)
    for (ip, holder), spans in observed.items():
        by_address[ip][holder] = spans
    for ip, holders in by_address.items():
        if len(holders) > 1:
            parsed = _ip(ip)
            if parsed is not None:
                _pairs(found, "duplicate-address", parsed[0], holders, parsed[1])

    _macs(found, r.nic_plugs(lo, hi), mac_pools)

    # Use of each pool's addresses, by address integer, in the spaces the pool counts.
    use: dict[str, dict[int, list[Span]]] = {p.name: defaultdict(list) for p in ip_pools}
    users: dict[str, dict[int, set[str]]] = {p.name: defaultdict(set) for p in ip_pools}
    shapes = [(p, *shape(p)) for p in ip_pools]
    for source in (observed, leased):
        for (ip, holder), spans in source.items():
            key = address_key(ip)
            if key is None:
                continue
            family, n, space = key
            for p, pf, plo, phi in shapes:
                if family == pf and plo <= n <= phi and observed_space(p, space):
                    use[p.name][n].extend(spans)
                    users[p.name][n].add(holder)
    allocated: dict[str, dict[int, list[Span]]] = {p.name: defaultdict(list) for p in ip_pools}
    for (eid, holder), (spans, pool_name) in _allocations(allocs).items():
        pool = pools.get(pool_name) if pool_name is not None else None
        key = address_key(eid)
        space = key[2] if key is not None else None
        member = member_value(pool, eid) if pool is not None else None
        inside = (
            pool is not None and member is not None and (pool.kind == "mac" or space == pool.space)
        )
        for span in spans:
            if not inside:
                found.add("outside-pool", _text(eid), [holder], span, space, pool_name)
            elif pool is not None and member is not None and pool.kind == "ip":
                allocated[pool.name][member].append(span)
                _stale(found, pool, eid, holder, span, join(use[pool.name].get(member, [])), lo)
    for p in ip_pools:
        skip = reserved(p)
        for n, spans in use[p.name].items():
            if n in skip:
                continue
            text = str(ipaddress.ip_address(n) if p.family == 4 else ipaddress.IPv6Address(n))
            for span in subtract(join(spans), join(allocated[p.name].get(n, []))):
                found.add("unallocated", text, list(users[p.name][n]), span, None, p.name)
    found.out.sort(key=lambda c: (c.t_from, c.kind, c.address, c.entities))
    return ConflictsAnswer(at, t_from, t_to, found.out)


def _allocations(
    allocs: list[tuple[str, str, int, int | None, str | None]],
) -> dict[tuple[str, str], tuple[list[Span], str | None]]:
    """Joined spans and pool of each (member id, holder) allocation."""
    spans: dict[tuple[str, str], list[Span]] = defaultdict(list)
    pool: dict[tuple[str, str], str | None] = {}
    for src, dst, vf, vt, name in allocs:
        key = (src, dst)
        spans[key].append((vf, vt))
        pool.setdefault(key, name)
    return {k: (join(v), pool[k]) for k, v in spans.items()}


def _stale(found: _Found, p: Pool, eid: str, holder: str, span: Span, used: list[Span],
           lo: int) -> None:  # fmt: skip
    """The parts of an allocation `p.stale_days` after it was last seen in use."""
    n = p.stale_days * _DAY
    horizon = lo - n
    for g0, g1 in subtract([span], used):
        # A gap that began before what was read began at least at the horizon.
        start = max(g0, horizon) + n if g0 < horizon else g0 + n
        if g1 is None or start < g1:
            found.add("stale-allocation", _text(eid), [holder], (start, g1), p.space, p.name)


def _macs(found: _Found, plugs: list[Edge], mac_pools: list[Pool]) -> None:
    nics: dict[str, list[Span]] = defaultdict(list)
    for e in plugs:
        nics[e.src].append((e.valid_from, e.valid_to))
    by_mac: dict[str, dict[str, list[Span]]] = defaultdict(dict)
    for nic, spans in nics.items():
        try:
            mac = parse_nic(nic)[1].lower()
        except InvalidId:
            continue
        by_mac[mac][nic] = join(spans)
    bounds = [p.bounds() for p in mac_pools]
    for mac, holders in by_mac.items():
        if len(holders) > 1:
            _pairs(found, "duplicate-mac", mac, holders, None)
        if bounds:
            try:
                n = int(mac.replace(":", ""), 16)
            except ValueError:
                continue
            if not any(a <= n <= b for a, b in bounds):
                for nic, spans in holders.items():
                    for span in spans:
                        found.add("mac-outside-pools", mac, [nic], span)
