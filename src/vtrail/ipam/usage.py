"""`vtrail ipam usage`: per pool, how many members were allocated, observed in use
and free at evenly spaced instants of a window: "do we have enough public IPs?"

A member is allocated while an allocation of it in the pool's space lives, in use
while an interface holds it or a DHCP lease names it (an address, in a space the
pool counts) or a plugged NIC has it (a MAC), and free when neither, reserved
members aside. Counted at each instant with two sorted lists of starts and ends,
so a window costs its edges once whatever the number of instants.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from vtrail.ids import parse_nic
from vtrail.ipam.intervals import Span, join
from vtrail.ipam.pools import (
    IpamError,
    IpamNotFound,
    address_key,
    member_value,
    observed_space,
    pools_at,
    reserved,
)
from vtrail.model import InvalidId
from vtrail.policy.pools import Pool
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.ipam import Edge, IpamReader
from vtrail.timeexpr import from_us, to_us

#: The most instants one answer counts at.
POINTS_MAX = 1000


@dataclass(frozen=True, slots=True)
class UsagePoint:
    at: datetime
    allocated: int
    observed: int
    free: int


@dataclass(frozen=True, slots=True)
class PoolUsage:
    pool: str
    kind: str
    #: 4 or 6 for an address pool, 0 for a MAC pool.
    family: int
    public: bool
    space: str | None
    #: Members that may be allocated (reserved ones left out).
    size: int
    series: list[UsagePoint]


@dataclass(frozen=True, slots=True)
class UsageAnswer:
    t_from: datetime
    t_to: datetime
    pools: list[PoolUsage]


class _Counter:
    """How many of a set of members' joined spans cover an instant."""

    def __init__(self, spans: dict[int, list[Span]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for found in spans.values():
            for s, e in join(found):
                self.starts.append(s)
                if e is not None:
                    self.ends.append(e)
        self.starts.sort()
        self.ends.sort()

    def at(self, t: int) -> int:
        return bisect.bisect_right(self.starts, t) - bisect.bisect_right(self.ends, t)


def usage(
    store: Store,
    t_from: datetime,
    t_to: datetime,
    *,
    pool: str | None = None,
    points: int = 24,
) -> UsageAnswer:
    """Each pool in force at `t_to` (or the one named), counted at `points` instants from
    `t_from` to `t_to`, both included."""
    check_window(t_from, t_to)
    if not 2 <= points <= POINTS_MAX:
        raise IpamError(f"--points {points} is out of range: from 2 to {POINTS_MAX}")
    pools = pools_at(store, t_to)
    if pool is not None:
        if pool not in pools:
            known = ", ".join(sorted(pools)) or "none"
            raise IpamNotFound(f"unknown pool {pool!r} at {t_to.isoformat()} (pools: {known})")
        chosen = [pools[pool]]
    else:
        chosen = [pools[n] for n in sorted(pools)]
    lo, hi = to_us(t_from), to_us(t_to)
    r = IpamReader(store)
    observed = r.edges_by_rel(("has_address",), lo, hi + 1)
    leased = r.edges_by_rel(("leased_to",), lo, hi + 1)
    allocs = r.edges_by_rel(("allocated_to",), lo, hi + 1)
    plugs = r.nic_plugs(lo, hi + 1) if any(p.kind == "mac" for p in chosen) else []
    instants = [lo + (hi - lo) * i // (points - 1) for i in range(points)]
    out = []
    for p in chosen:
        alloc: dict[int, list[Span]] = defaultdict(list)
        used: dict[int, list[Span]] = defaultdict(list)
        for e in allocs:
            n = member_value(p, e.src)
            if n is not None and (p.kind == "mac" or _space(e.src) == p.space):
                alloc[n].append((e.valid_from, e.valid_to))
        if p.kind == "ip":
            for e in observed:
                n = member_value(p, e.dst)
                if n is not None and observed_space(p, _space(e.dst)):
                    used[n].append((e.valid_from, e.valid_to))
            for e in leased:
                n = member_value(p, e.src)
                if n is not None and observed_space(p, _space(e.src)):
                    used[n].append((e.valid_from, e.valid_to))
        else:
            _mac_use(p, plugs, leased, used)
        skip = reserved(p) if p.kind == "ip" else frozenset()
        for n in skip:
            alloc.pop(n, None)
            used.pop(n, None)
        either = {n: alloc.get(n, []) + used.get(n, []) for n in alloc.keys() | used.keys()}
        a, u, any_ = _Counter(alloc), _Counter(used), _Counter(either)
        series = [UsagePoint(from_us(t), a.at(t), u.at(t), p.size() - any_.at(t)) for t in instants]
        space = p.space if p.kind == "ip" else None
        out.append(PoolUsage(p.name, p.kind, p.family, p.public, space, p.size(), series))
    return UsageAnswer(t_from, t_to, out)


def _mac_use(p: Pool, plugs: list[Edge], leased: list[Edge], used: dict[int, list[Span]]) -> None:
    lo, hi = p.bounds()
    for e in plugs:
        try:
            n = int(parse_nic(e.src)[1].replace(":", ""), 16)
        except (InvalidId, ValueError):
            continue
        if lo <= n <= hi:
            used[n].append((e.valid_from, e.valid_to))
    for e in leased:
        n2 = member_value(p, e.dst)
        if n2 is not None:
            used[n2].append((e.valid_from, e.valid_to))


def _space(eid: str) -> str | None:
    key = address_key(eid)
    return key[2] if key is not None else None
