"""Addresses plainly right, set aside before the conflict scan judges the rest in full.

Most addresses of a fleet are held by one interface and covered by one allocation of
their pool: judged in full, each would be grouped, joined and subtracted to find
nothing. `sift` looks at the two edges of such an address and sets it aside when the
full judgement (`vtrail.ipam.conflicts`) could find nothing in it under the pools of
any epoch of the window; anything else, or anything it is not sure of, is judged in
full. tests/ipam/test_conflicts_reference.py holds the two to the same answers.
"""

from __future__ import annotations

import socket
from bisect import bisect_right
from itertools import groupby, pairwise
from operator import itemgetter

from vtrail.ipam.intervals import Span, subtract
from vtrail.ipam.pools import observed_space
from vtrail.policy.pools import Pool
from vtrail.store.reads.ipam import AddressEdge

DAY = 86_400_000_000
_OPEN = 2**62


def sift(
    rows: list[AddressEdge], epochs: list[dict[str, Pool]], lo: int
) -> tuple[dict[int, list[AddressEdge]], list[AddressEdge]]:
    """The edges of each IPv4 address that plainly has no conflict, by the address as an
    integer, and all the others' edges. Plain: written canonically, one interface holding
    it and one allocation of it (no lease), and in every epoch the one pool holding it is
    the allocation's, in its space, counting the interface's space, with an allocation
    that covers the use and no gap in the use as long as the pool's `stale-days`: what
    the full judgement would find nothing in."""
    judges = [_Plain(pools, lo) for pools in epochs]
    plain: dict[int, list[AddressEdge]] = {}
    rest: list[AddressEdge] = []
    for x, group in groupby(rows, key=itemgetter(0)):
        edges = list(group)
        if len(edges) == 2 and {edges[0][1], edges[1][1]} == {0, 2}:
            use, alloc = (edges[0], edges[1]) if edges[0][1] == 0 else (edges[1], edges[0])
            try:
                n = int.from_bytes(socket.inet_pton(socket.AF_INET, x), "big")
            except (OSError, ValueError):
                n = -1
            cut = 4 + len(x)
            if n >= 0 and all(
                j.clean(n, use[3][cut:], alloc[3][cut:], alloc[7], use[5:7], alloc[5:7])
                for j in judges
            ):
                twice = plain.pop(n, None)
                if twice is None:
                    plain[n] = edges
                    continue
                rest += twice
        rest += edges
    return plain, rest


class _Plain:
    """Whether an address with one use and one allocation is plainly right under the
    pools of one epoch (`_sift`)."""

    def __init__(self, pools: dict[str, Pool], lo: int) -> None:
        v4 = sorted(
            ((*p.bounds(), p) for p in pools.values() if p.kind == "ip" and p.family == 4),
            key=lambda b: b[0],
        )
        self.starts = [b[0] for b in v4]
        self.v4 = v4
        # Where pools overlap, an address is in two and each judges it: none is plain.
        self.disjoint = all(a[1] < b[0] for a, b in pairwise(v4))
        self.counted: dict[tuple[str, str], bool] = {}
        self.lo = lo

    def clean(self, n: int, use_space: str, alloc_space: str, pool: object, use: Span,
              alloc: Span) -> bool:  # fmt: skip
        i = bisect_right(self.starts, n) - 1
        if i < 0 or not self.disjoint:
            return False
        _, last, p = self.v4[i]
        if n > last or p.name != pool or p.space != alloc_space:
            return False
        counted = self.counted.get((p.name, use_space))
        if counted is None:
            counted = self.counted[(p.name, use_space)] = observed_space(p, use_space)
        if not counted:
            return False
        # Nothing unallocated: the allocation covers the use.
        end = _OPEN if alloc[1] is None else alloc[1]
        if alloc[0] > use[0] or (_OPEN if use[1] is None else use[1]) > end:
            return False
        # Nothing stale: no gap in the use that `_stale` would flag.
        for g0, g1 in subtract([alloc], [use]):
            start = stale_from(g0, p.stale_days, self.lo)
            if g1 is None or start < g1:
                return False
        return True


def stale_from(gap: int, days: int, lo: int) -> int:
    """When an allocation unused since `gap` is stale, `days` being its pool's
    `stale-days`: a gap that began before the uses read (from `days` before the window's
    start `lo`) began at least then."""
    n = days * DAY
    return max(gap, lo - n) + n
