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

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, TypeVar

from vtrail.ids import parse_ip, parse_mac, parse_nic, pool_id
from vtrail.ipam.intervals import Span, intersect, join, overlaps, subtract
from vtrail.ipam.plain import sift, stale_from
from vtrail.ipam.pools import (
    address_key,
    member_text,
    member_value,
    observed_space,
    pools_at,
    reserved,
)
from vtrail.model import InvalidId, split_id
from vtrail.policy.pools import Pool
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.ipam import AddressEdge, Edge, IpamReader
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
#: A holder: its id, or its row id.
_K = TypeVar("_K", int, str)
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
    def __init__(self, store: Store, lo: int, hi: int) -> None:
        self.store = store
        self.lo, self.hi = lo, hi
        self.out: list[Conflict] = []

    def add(self, kind: Kind, address: str, entities: Iterable[int | str], span: Span,
            space: str | None = None, pool: str | None = None) -> None:  # fmt: skip
        """`entities` are ids, or the store's row ids of them: the scans keep the
        holders' row ids and name only those in a conflict."""
        if overlaps(span, self.lo, self.hi):
            s, t = span
            names = [e if isinstance(e, str) else self.store.entity_name(e) for e in entities]
            self.out.append(
                Conflict(
                    kind,
                    address,
                    sorted(names),
                    from_us(s),
                    None if t is None else from_us(t),
                    space,
                    pool,
                )
            )


#: Joined spans of each (address row id, holder row id).
_Held = dict[tuple[int, int], list[Span]]
#: Each address's holdings, by (family, address as an integer): (space, holder row id,
#: joined spans) of each.
_Uses = dict[tuple[int, int], list[tuple[str | None, int, list[Span]]]]
#: An allocation: member id, its `address_key`, holder row id, joined spans, pool.
_Alloc = tuple[str, tuple[int, int, str | None] | None, int, list[Span], str | None]


def _held(rows: list[AddressEdge], ids: dict[int, str]) -> _Held:
    """The holdings, grouped; `ids` learns each address's id by its row id."""
    found: _Held = {}
    for _, _, a, eid, h, f, t, _ in rows:
        ids[a] = eid
        spans = found.get((a, h))
        if spans is None:
            found[(a, h)] = [(f, t)]
        else:
            spans.append((f, t))
    for k, v in found.items():
        if len(v) > 1:
            found[k] = join(v)
    return found


def _pairs(found: _Found, kind: Kind, address: str, holders: dict[_K, list[Span]],
           space: str | None) -> None:  # fmt: skip
    names = sorted(holders)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for span in intersect(holders[a], holders[b]):
                found.add(kind, address, [a, b], span, space)


def _duplicates(found: _Found, observed: _Held, ids: dict[int, str]) -> None:
    """Addresses held by two interfaces at once: only those with two holders are grouped."""
    first: dict[int, int] = {}
    twice: set[int] = set()
    for a, h in observed:
        if first.setdefault(a, h) != h:
            twice.add(a)
    holders: dict[int, dict[int, list[Span]]] = defaultdict(dict)
    for (a, h), spans in observed.items():
        if a in twice:
            holders[a][h] = spans
    for a, by in holders.items():
        parsed = _ip(ids[a])
        if parsed is not None:
            _pairs(found, "duplicate-address", parsed[0], by, parsed[1])


def _by_number(held: Iterable[_Held], ids: dict[int, str]) -> _Uses:
    found: _Uses = {}
    for pairs in held:
        for (a, h), spans in pairs.items():
            key = address_key(ids[a])
            if key is None:
                continue
            family, n, space = key
            got = found.get((family, n))
            if got is None:
                found[(family, n)] = [(space, h, spans)]
            else:
                got.append((space, h, spans))
    return found


def _ip(eid: str) -> tuple[str, str | None] | None:
    try:
        a = parse_ip(eid)
    except InvalidId:
        return None
    return str(a.address), a.space


def _text(eid: str) -> str:
    """The address or MAC an `ip:` or `mac:` id names, as it is written; any other id
    (an `allocated_to` edge anyone may post from anything) as it is."""
    if split_id(eid)[0] == "ip":
        parsed = _ip(eid)
        return parsed[0] if parsed is not None else eid
    try:
        return parse_mac(eid)
    except InvalidId:
        return eid


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
    found = _Found(store, lo, hi)

    # Uses read from the horizon on, for staleness; the window's own are filtered by `add`.
    # Most addresses are plainly right (one interface, one allocation that covers it):
    # those are set aside on a glance at their two edges, and the rest judged in full.
    plain, rest = sift(r.address_edges(horizon, lo, hi), [p for _, _, p in epochs], lo)
    if plain:
        # An address written in some other way too is judged whole, every text of it.
        other = {k[1] for e in rest if (k := address_key(e[3])) is not None and k[0] == 4}
        for n in other & plain.keys():
            rest += plain[n]
    ids: dict[int, str] = {}
    observed = _held([e for e in rest if e[1] == 0], ids)
    leased = _held([e for e in rest if e[1] == 1], ids)
    allocs = _allocations([e for e in rest if e[1] == 2])
    _duplicates(found, observed, ids)
    uses = _by_number((observed, leased), ids)
    numbers: dict[int, list[int]] = defaultdict(list)
    for family, n in uses:
        numbers[family].append(n)
    for members in numbers.values():
        members.sort()
    macs = _macs(found, r.nic_plugs(lo, hi))

    # What depends on the pools is judged with the pools in force, epoch by epoch: each
    # epoch's conflicts are cut at its ends and joined again where the next goes on.
    by_epoch: list[list[Conflict]] = []
    for e0, e1, pools in epochs:
        part = _Found(store, max(lo, e0), min(hi, e1))
        mac_pools = [p for p in pools.values() if p.kind == "mac"]
        _outside_mac_pools(part, macs, mac_pools)
        _against_pools(part, pools, uses, numbers, allocs, lo)
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
    uses: _Uses,
    numbers: dict[int, list[int]],
    allocs: list[_Alloc],
    lo: int,
) -> None:
    """Unallocated use, stale allocations and allocations outside their pool."""
    ip_pools = [p for p in pools.values() if p.kind == "ip"]
    bounds = {p.name: p.bounds() for p in ip_pools}
    # Use of each pool's addresses, in the spaces the pool counts: joined, with its holders.
    use: dict[tuple[str, int], tuple[list[Span], list[int]]] = {}
    for p in ip_pools:
        plo, phi = bounds[p.name]
        counts: dict[str | None, bool] = {}
        members = numbers.get(p.family, [])
        for n in members[bisect_left(members, plo) : bisect_right(members, phi)]:
            spans: list[Span] = []
            holders: list[int] = []
            for space, h, got in uses[(p.family, n)]:
                counted = counts.get(space)
                if counted is None:
                    counted = counts[space] = observed_space(p, space)
                if counted:
                    spans += got
                    holders.append(h)
            if spans:
                use[(p.name, n)] = (spans if len(holders) == 1 else join(spans), holders)
    allocated: dict[tuple[str, int], list[Span]] = defaultdict(list)
    for eid, key, holder, spans, name in allocs:
        pool = pools.get(name) if name is not None else None
        space = key[2] if key is not None else None
        member: int | None = None
        if pool is not None and pool.kind == "ip":
            if key is not None and key[0] == pool.family:
                plo, phi = bounds[pool.name]
                member = key[1] if plo <= key[1] <= phi else None
        elif pool is not None:
            member = member_value(pool, eid)
        if pool is None or member is None or (pool.kind == "ip" and space != pool.space):
            for span in spans:
                found.add("outside-pool", _text(eid), [holder], span, space, name)
        elif pool.kind == "ip":
            allocated[(pool.name, member)] += spans
            used = use.get((pool.name, member))
            for span in spans:
                _stale(found, pool, eid, holder, span, used[0] if used else [], lo)
    skip = {p.name: reserved(p) for p in ip_pools}
    for (name, n), (spans, holders) in use.items():
        if n in skip[name]:
            continue
        held = allocated.get((name, n))
        left = subtract(spans, join(held)) if held else spans
        if left:
            text = member_text(pools[name], n)
            for span in left:
                found.add("unallocated", text, set(holders), span, None, name)


def _allocations(rows: list[AddressEdge]) -> list[_Alloc]:
    """Each (member, holder) allocation once: its spans joined, and the pool its first
    version names."""
    spans: dict[tuple[int, int], list[Span]] = {}
    first: dict[tuple[int, int], tuple[int, str | None]] = {}
    ids: dict[int, str] = {}
    for _, _, a, eid, h, f, t, pool in rows:
        ids[a] = eid
        got = spans.get((a, h))
        if got is None:
            spans[(a, h)] = [(f, t)]
            first[(a, h)] = (f, None if pool is None else str(pool))
        else:
            got.append((f, t))
            if f < first[(a, h)][0]:
                first[(a, h)] = (f, None if pool is None else str(pool))
    return [
        (ids[a], address_key(ids[a]), h, v if len(v) == 1 else join(v), first[(a, h)][1])
        for (a, h), v in spans.items()
    ]


def _stale(found: _Found, p: Pool, eid: str, holder: int, span: Span, used: list[Span],
           lo: int) -> None:  # fmt: skip
    """The parts of an allocation `p.stale_days` after it was last seen in use."""
    for g0, g1 in subtract([span], used):
        start = stale_from(g0, p.stale_days, lo)
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
