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

Pools are those in force at each instant: over a window in which the policy changed
them, what depends on them is judged epoch by epoch, and a conflict that goes on
across a change is one. Use before the window counts for staleness as far back as
the longest `stale-days`.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from vtrail.ids import parse_ip, parse_mac, parse_nic, pool_id
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
#: Beyond every instant, either way: the open ends of the first and last epochs.
_FOREVER = 2**62


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
        hi = lo + 1
    else:
        assert t_from is not None and t_to is not None
        check_window(t_from, t_to)
        lo, hi = to_us(t_from), to_us(t_to)
    epochs = _epochs(store, lo, hi)
    days = [p.stale_days for _, _, pools in epochs for p in pools.values() if p.kind == "ip"]
    horizon = lo - max(days, default=0) * _DAY
    r = IpamReader(store)
    found = _Found(lo, hi)

    # Uses read from the horizon on, for staleness; the window's own are filtered by `add`.
    observed = _spans(r.edges_by_rel(("has_address",), horizon, hi), "dst")
    leased = _spans(r.edges_by_rel(("leased_to",), horizon, hi), "src")
    allocs = _allocations(r.allocations(lo, hi))

    by_address: dict[str, dict[str, list[Span]]] = defaultdict(dict)
    for (ip, holder), spans in observed.items():
        by_address[ip][holder] = spans
    for ip, holders in by_address.items():
        if len(holders) > 1:
            parsed = _ip(ip)
            if parsed is not None:
                _pairs(found, "duplicate-address", parsed[0], holders, parsed[1])
    macs = _macs(found, r.nic_plugs(lo, hi))

    # What depends on the pools is judged with the pools in force, epoch by epoch: each
    # epoch's conflicts are cut at its ends and joined again where the next goes on.
    by_epoch: list[list[Conflict]] = []
    for e0, e1, pools in epochs:
        part = _Found(max(lo, e0), min(hi, e1))
        ip_pools = [p for p in pools.values() if p.kind == "ip"]
        mac_pools = [p for p in pools.values() if p.kind == "mac"]
        _outside_mac_pools(part, macs, mac_pools)
        _against_pools(part, pools, ip_pools, (observed, leased), allocs, lo)
        by_epoch.append([_cut(c, e0, e1) for c in part.out])
    found.out += _joined(by_epoch)
    found.out.sort(key=lambda c: (c.t_from, c.kind, c.address, c.entities))
    return ConflictsAnswer(at, t_from, t_to, found.out)


def _epochs(store: Store, lo: int, hi: int) -> list[tuple[int, int, dict[str, Pool]]]:
    """The pools in force over `[lo, hi)`, as epochs in which they do not change: the
    first reaches back without end and the last forward (a conflict that began before
    the window keeps its start), each with the pools of its first instant in the window."""
    r = IpamReader(store)
    ids = [n for n, _ in r.ids_with_prefix([pool_id("")])]
    cuts = sorted(
        {t for life in r.lives(ids, lo, hi) for t in (life.valid_from, life.valid_to)
         if t is not None and lo < t < hi}
    )  # fmt: skip
    starts = [lo, *cuts]
    ends = [*cuts, _FOREVER]
    return [
        (-_FOREVER if i == 0 else s, e, pools_at(store, from_us(s)))
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]


def _cut(c: Conflict, e0: int, e1: int) -> Conflict:
    s = max(to_us(c.t_from), e0)
    t = (
        e1
        if c.t_to is None and e1 < _FOREVER
        else None
        if c.t_to is None
        else min(to_us(c.t_to), e1)
    )
    return replace(c, t_from=from_us(s), t_to=None if t is None else from_us(t))


def _joined(by_epoch: list[list[Conflict]]) -> list[Conflict]:
    """The epochs' conflicts, one that goes on across an epoch's end joined into one."""
    out: list[Conflict] = []
    open_at: dict[tuple[object, ...], int] = {}
    for conflicts_of in by_epoch:
        going: dict[tuple[object, ...], int] = {}
        for c in conflicts_of:
            key = (c.kind, c.address, tuple(c.entities), c.space, c.pool)
            i = open_at.get(key)
            if i is not None and out[i].t_to == c.t_from:
                out[i] = replace(out[i], t_to=c.t_to)
            else:
                i = len(out)
                out.append(c)
            if out[i].t_to is not None:
                going[key] = i
        open_at = going
    return out


def _against_pools(
    found: _Found,
    pools: dict[str, Pool],
    ip_pools: list[Pool],
    uses: tuple[dict[tuple[str, str], list[Span]], ...],
    allocs: dict[tuple[str, str], tuple[list[Span], str | None]],
    lo: int,
) -> None:
    """Unallocated use, stale allocations and allocations outside their pool."""
    # Use of each pool's addresses, by address integer, in the spaces the pool counts.
    use: dict[str, dict[int, list[Span]]] = {p.name: defaultdict(list) for p in ip_pools}
    users: dict[str, dict[int, set[str]]] = {p.name: defaultdict(set) for p in ip_pools}
    shapes = [(p, *shape(p)) for p in ip_pools]
    for source in uses:
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
    for (eid, holder), (spans, pool_name) in allocs.items():
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
        held = allocated[p.name]
        for n, spans in use[p.name].items():
            if n in skip:
                continue
            left = subtract(join(spans), join(held.get(n, [])))
            if not left:
                continue
            text = str(ipaddress.ip_address(n) if p.family == 4 else ipaddress.IPv6Address(n))
            for span in left:
                found.add("unallocated", text, list(users[p.name][n]), span, None, p.name)


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


def _macs(found: _Found, plugs: list[Edge]) -> dict[str, dict[str, list[Span]]]:
    """Two NICs plugged at once with one MAC; and every MAC's NICs, with when each was
    plugged."""
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
    for mac, holders in by_mac.items():
        if len(holders) > 1:
            _pairs(found, "duplicate-mac", mac, holders, None)
    return by_mac


def _outside_mac_pools(
    found: _Found, by_mac: dict[str, dict[str, list[Span]]], mac_pools: list[Pool]
) -> None:
    bounds = [p.bounds() for p in mac_pools]
    if not bounds:
        return
    for mac, holders in by_mac.items():
        try:
            n = int(mac.replace(":", ""), 16)
        except ValueError:
            continue
        if not any(a <= n <= b for a, b in bounds):
            for nic, spans in holders.items():
                for span in spans:
                    found.add("mac-outside-pools", mac, [nic], span)
