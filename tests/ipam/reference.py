"""The address conflicts (`duplicate-address`, `unallocated`, `stale-allocation`,
`outside-pool`) computed the plain way, to hold `vtrail.ipam.conflicts` to: every edge
read as named objects, grouped by the address `ipaddress` reads from its id, and every
address judged in full with the pools of each epoch. Slow, and meant to be obvious.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable

from vtrail.ids import parse_ip, parse_mac
from vtrail.ipam.conflicts import Conflict, _cut, _epochs, _joined
from vtrail.ipam.intervals import Span, intersect, join, overlaps, subtract
from vtrail.ipam.pools import observed_space
from vtrail.model import InvalidId, split_id
from vtrail.policy.pools import Pool
from vtrail.store import Store
from vtrail.store.reads.ipam import IpamReader
from vtrail.timeexpr import from_us, to_us

DAY = 86_400_000_000
#: One conflict as compared: kind, address, entities, from, to (microseconds), space, pool.
Row = tuple[str, str, tuple[str, ...], int, int | None, str | None, str | None]


def address(eid: str) -> tuple[int, int, str | None] | None:
    """(family, integer, space) of an `ip:` id, None for anything else."""
    try:
        a = parse_ip(eid)
    except InvalidId:
        return None
    return a.address.version, int(a.address), a.space


def text(eid: str) -> str:
    a = address(eid)
    if a is None:
        return eid.split(":", 1)[1]
    return str(ipaddress.ip_address(a[1]) if a[0] == 4 else ipaddress.IPv6Address(a[1]))


def conflict(kind: str, what: str, entities: list[str], span: Span, space: str | None,
             pool: str | None) -> Conflict:  # fmt: skip
    t = span[1]
    return Conflict(kind, what, sorted(entities), from_us(span[0]),  # type: ignore[arg-type]
                    None if t is None else from_us(t), space, pool)  # fmt: skip


def as_row(c: Conflict) -> Row:
    return (c.kind, c.address, tuple(c.entities), to_us(c.t_from),
            None if c.t_to is None else to_us(c.t_to), c.space, c.pool)  # fmt: skip


def ordered(rows: Iterable[Row]) -> list[Row]:
    """Rows in one order, whatever of theirs is None."""
    return sorted(rows, key=repr)


def reference(store: Store, lo: int, hi: int) -> list[Row]:
    epochs = _epochs(store, lo, hi)
    days = [p.stale_days for _, _, pools in epochs for p in pools.values() if p.kind == "ip"]
    horizon = lo - max(days, default=0) * DAY
    r = IpamReader(store)
    # (address id, holder) -> spans, for interfaces and for leases.
    uses: dict[tuple[str, str], list[Span]] = defaultdict(list)
    interfaces: dict[str, dict[str, list[Span]]] = defaultdict(lambda: defaultdict(list))
    for e in r.edges_by_rel(("has_address",), horizon, hi):
        uses[(e.dst, e.src)].append((e.valid_from, e.valid_to))
        interfaces[e.dst][e.src].append((e.valid_from, e.valid_to))
    for e in r.edges_by_rel(("leased_to",), horizon, hi):
        uses[(e.src, e.dst)].append((e.valid_from, e.valid_to))
    allocs: dict[tuple[str, str], list[tuple[int, int | None, str | None]]] = defaultdict(list)
    for e in r.edges_by_rel(("allocated_to",), lo, hi):
        pool = json.loads(e.attrs).get("pool")
        allocs[(e.src, e.dst)].append(
            (e.valid_from, e.valid_to, None if pool is None else str(pool))
        )

    out: list[Conflict] = []
    for eid, holders in interfaces.items():
        a = address(eid)
        if a is None:
            continue
        names = sorted(holders)
        for i, x in enumerate(names):
            for y in names[i + 1 :]:
                for span in intersect(join(holders[x]), join(holders[y])):
                    if overlaps(span, lo, hi):
                        out.append(
                            conflict("duplicate-address", text(eid), [x, y], span, a[2], None)
                        )

    by_epoch = []
    for e0, e1, pools in epochs:
        part = [c for c in judged(pools, uses, allocs, lo)
                if overlaps(as_row(c)[3:5], max(lo, e0), min(hi, e1))]  # fmt: skip
        by_epoch.append([_cut(c, e0, e1) for c in part])
    out += _joined(by_epoch)
    return ordered(as_row(c) for c in out)


def judged(
    pools: dict[str, Pool],
    uses: dict[tuple[str, str], list[Span]],
    allocs: dict[tuple[str, str], list[tuple[int, int | None, str | None]]],
    lo: int,
) -> list[Conflict]:
    out: list[Conflict] = []
    ip_pools = [p for p in pools.values() if p.kind == "ip"]

    def in_pool(p: Pool, eid: str) -> int | None:
        a = address(eid)
        if a is None or a[0] != p.family:
            return None
        first, last = p.bounds()
        return a[1] if first <= a[1] <= last else None

    def mac_in(p: Pool, eid: str) -> int | None:
        if split_id(eid)[0] != "mac":
            return None
        first, last = p.bounds()
        n = int(parse_mac(eid).replace(":", ""), 16)
        return n if first <= n <= last else None

    def use_of(p: Pool, n: int) -> tuple[list[Span], set[str]]:
        spans: list[Span] = []
        holders: set[str] = set()
        for (eid, holder), got in uses.items():
            a = address(eid)
            if in_pool(p, eid) == n and a is not None and observed_space(p, a[2]):
                spans += got
                holders.add(holder)
        return join(spans), holders

    allocated: dict[tuple[str, int], list[Span]] = defaultdict(list)
    for (eid, holder), versions in allocs.items():
        name = min(versions, key=lambda v: v[0])[2]
        pool = pools.get(name) if name is not None else None
        a = address(eid)
        space = a[2] if a is not None else None
        n = None if pool is None else in_pool(pool, eid) if pool.kind == "ip" else mac_in(pool, eid)
        if pool is None or n is None or (pool.kind == "ip" and space != pool.space):
            for span in join([(f, t) for f, t, _ in versions]):
                out.append(conflict("outside-pool", text(eid), [holder], span, space, name))
            continue
        if pool.kind == "mac":
            continue
        used, _ = use_of(pool, n)
        stale = pool.stale_days * DAY
        for span in join([(f, t) for f, t, _ in versions]):
            allocated[(pool.name, n)].append(span)
            for g0, g1 in subtract([span], used):
                start = max(g0, lo - stale) + stale if g0 < lo - stale else g0 + stale
                if g1 is None or start < g1:
                    out.append(conflict("stale-allocation", text(eid), [holder], (start, g1),
                                        pool.space, pool.name))  # fmt: skip
    for p in ip_pools:
        numbers = {in_pool(p, eid) for eid, _ in uses} - {None}
        for n in sorted(x for x in numbers if x is not None):
            if n in p.unusable():
                continue
            spans, holders = use_of(p, n)
            what = str(ipaddress.ip_address(n) if p.family == 4 else ipaddress.IPv6Address(n))
            for span in subtract(spans, join(allocated.get((p.name, n), []))):
                out.append(conflict("unallocated", what, sorted(holders), span, None, p.name))
    return out
