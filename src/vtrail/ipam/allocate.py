"""Allocating the next free address or MAC of a pool to a holder, and releasing it.

A member is free when nothing holds it at the instant of the allocation: no live
allocation in the pool's space, no interface observed holding it (`has_address`,
in a space the pool's `observed-in` counts), no DHCP lease, no NIC with that MAC.
The candidates are read before the allocator queues; under the lock and one `BEGIN
IMMEDIATE` transaction (the store's `write()`, which the recorder's own joins) each is
asked again whether it is still free, and the first free ones are recorded, so two
processes allocating at once are served one after the other and never get the same
member, and neither reads the pool while the other waits.

An allocation is history like anything else: an event of the source `ipam` that
states the member's entity (`ip:<address>@<space>` or `mac:<mac>`, with its
`pool`) and an `allocated_to` relation to the holder; a release ends both.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from vtrail.ids import address_prefixes, ip_id, ip_text_prefix, mac_id
from vtrail.ipam.pools import (
    IpamConflict,
    IpamError,
    IpamNotFound,
    address_key,
    id_prefix,
    is_mac,
    mac_text,
    member_id,
    member_text,
    member_value,
    observed_space,
    pool_named,
    read_target,
    reserved,
    shape,
)
from vtrail.ipam.queue import Floor, count_release, keep_floor, kept, one_at_a_time
from vtrail.model import EntityObs, InvalidId, JSONValue, Observation, RelationObs, RelKey, split_id
from vtrail.policy.pools import Pool
from vtrail.query.names import resolve_one
from vtrail.recording.recorder import Recorder
from vtrail.store import Store
from vtrail.store.dialect import SQLITE
from vtrail.store.reads.ipam import IpamReader
from vtrail.timeexpr import to_us

#: The source every allocation and release is recorded from.
SOURCE = "ipam"
#: The most members one request allocates.
COUNT_MAX = 4096
#: Members read as candidates beyond those asked for: allocators queued together read the
#: same lowest free members, and each one ahead in the queue takes some of them.
SPARE = 8
#: Up to this many members asked for, each candidate is asked again alone under the lock;
#: more are read again with the pool, a block at a time.
ASKED_ALONE = 8


@dataclass(frozen=True, slots=True)
class Allocation:
    pool: str
    #: The address or MAC, as it is written.
    address: str
    #: The id it is recorded under (`ip:<address>@<space>`, `mac:<mac>`).
    id: str
    #: Who holds it.
    entity: str


@dataclass(frozen=True, slots=True)
class AllocateAnswer:
    at: datetime
    pool: str
    entity: str
    allocated: list[Allocation]


@dataclass(frozen=True, slots=True)
class ReleaseAnswer:
    at: datetime
    released: list[Allocation]


def holder(store: Store, text: str) -> str:
    """The entity an allocation is for: an id as it is (it may not be recorded yet: an
    address is often allocated before its VM exists), or a name, MAC or address that
    names one recorded entity."""
    t = text.strip()
    try:
        split_id(t)
    except InvalidId:
        return resolve_one(store, t)
    return t


def taken(store: Store, pool: Pool, t: int, within: tuple[int, int] | None = None) -> set[int]:
    """The members of `pool` held at `t` (see the module doc), reserved ones included;
    only those from `within[0]` to `within[1]` when it is given: one member (read as
    the ids that begin with its text), or an IPv4 block of 256 or less (the ids that
    begin with its first three octets)."""
    r = IpamReader(store)
    family, lo, hi = shape(pool)
    prefix = id_prefix(pool)
    mac_prefix = pool.mac_prefix
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
        if lo == hi:
            text = member_text(pool, lo)
            if family == 0:
                mac_prefix, prefix = text, mac_id(text)
            else:
                prefix = ip_text_prefix(text)
        else:
            prefix = ip_text_prefix(str(ipaddress.IPv4Address(lo)).rsplit(".", 1)[0] + ".")
    out = {n for n in reserved(pool) if lo <= n <= hi} if pool.kind == "ip" else set()
    for eid, rel in r.taken(prefix, t):
        if family:
            key = address_key(eid)
            if key is None or key[0] != family or not lo <= key[1] <= hi:
                continue
            n, space = key[1], key[2]
        else:
            found = member_value(pool, eid)
            if found is None:
                continue
            n, space = found, None
        if rel == "allocated_to":
            if pool.kind == "mac" or space == pool.space:
                out.add(n)
        elif pool.kind == "mac" or observed_space(pool, space):
            out.add(n)
    if mac_prefix is not None:
        for mac in r.nic_macs(mac_prefix, t):
            out.add(int(mac.replace(":", ""), 16))
    return out


def _lowest(store: Store, pool: Pool, t: int, count: int, start: int | None = None) -> list[int]:
    """The `count` lowest members free at `t` from `start` on (default: the first), or
    as many as there are. An IPv4 pool's taken members are read 256 at a time, and no
    further than the block where enough are free."""
    lo, hi = pool.bounds()
    out: list[int] = []
    block = lo if start is None else start
    while block <= hi and len(out) < count:
        if pool.kind == "ip" and pool.family == 4:
            end = min(hi, block | 0xFF)
            held = taken(store, pool, t, (block, end))
        else:
            end = hi
            held = taken(store, pool, t)
        n = block
        while n <= end and len(out) < count:
            if n not in held:
                out.append(n)
            n += 1
        block = end + 1
    return out


def _floored(store: Store, pool: Pool) -> bool:
    """Whether the pool is read from a floor: an IPv4 pool of a SQLite store (a
    PostgreSQL store's allocators may run on other hosts, which count their releases
    in lock files of their own)."""
    return pool.family == 4 and store.dialect is SQLITE


def _from_floor(store: Store, pool: Pool) -> tuple[int | None, int, int]:
    """Where a floored pool is read from (its floor, while it holds; None: its first
    member), and the journal's newest seq and the releases counted now, which a floor
    found by this reading keeps."""
    r = IpamReader(store)
    seq = r.journal_top()
    released, floors = kept(store)
    floor = floors.get(pool.name)
    if floor is None:
        return None, seq, released
    lo, hi = pool.bounds()
    if floor.releases != released or not lo <= floor.block <= hi:
        return None, seq, released
    return (None if r.others_since(floor.seq, SOURCE) else floor.block), seq, released


def _pick(store: Store, pool: Pool, t: int, count: int) -> list[int]:
    """The `count` lowest free members, from the pool's floor on; `IpamConflict` when
    there are fewer."""
    out = _lowest(
        store, pool, t, count, _from_floor(store, pool)[0] if _floored(store, pool) else None
    )
    if len(out) < count:
        free = pool.size() - len(taken(store, pool, t) - reserved(pool))
        raise IpamConflict(
            f"pool {pool.name} has {max(free, 0)} free, not {count}: nothing was allocated"
        )
    return out


def _candidates(store: Store, pool: Pool, count: int) -> tuple[list[int], Floor | None]:
    """The lowest free members with `SPARE` more, read before the lock; a floored pool
    from its floor (ipam/queue.py, `Floor`) on, with the floor to keep after them."""
    t = to_us(datetime.now(UTC))
    if not _floored(store, pool):
        return _lowest(store, pool, t, count + SPARE), None
    start, seq, released = _from_floor(store, pool)
    out = _lowest(store, pool, t, count + SPARE, start)
    if not out:
        return out, None
    return out, Floor(max(pool.bounds()[0], out[0] & ~0xFF), seq, released)


def _confirm(store: Store, pool: Pool, t: int, candidates: list[int], count: int) -> list[int]:
    """The first `count` of `candidates` (read before the lock) still free at `t`, each
    asked alone; fewer when the allocators ahead took the rest."""
    out: list[int] = []
    for n in candidates:
        if n not in taken(store, pool, t, (n, n)):
            out.append(n)
            if len(out) == count:
                break
    return out


def _derived(store: Store, pool: Pool, entity: str, t: int, held: set[int]) -> list[int]:
    """OpenNebula's MACs: the prefix, then the four octets of each IPv4 address the
    holder was allocated from the pool `from-ip` at `t`."""
    r = IpamReader(store)
    ids = r.ids_equal([entity])
    addresses = []
    for e in r.edges_of([n for n, _ in ids], t, t + 1, out=(), into=("allocated_to",)):
        if e.valid_to is None and json.loads(e.attrs).get("pool") == pool.from_ip:
            addresses.append(ipaddress.ip_address(split_id(e.src)[1].split("@", 1)[0]))
    if not addresses:
        raise IpamConflict(
            f"pool {pool.name} derives MACs from pool {pool.from_ip}, which allocated nothing "
            f"to {entity}: allocate an address to it first"
        )
    lo, _ = pool.bounds()
    out = []
    for a in sorted(addresses, key=int):
        n = lo | int(a)
        if n in held:
            raise IpamConflict(f"{mac_text(n)} (from {a}) is already taken: nothing was allocated")
        out.append(n)
    return out


def _take(
    store: Store,
    recorder: Recorder,
    pool_name: str,
    read: Pool,
    who: str,
    count: int,
    candidates: list[int],
) -> AllocateAnswer:
    """Under the lock and in the write: the members still free now, recorded for `who`.
    `read` is the pool as it was when the candidates were read before the lock."""
    now = datetime.now(UTC)
    t = to_us(now)
    pool = pool_named(store, pool_name, now)
    if pool.from_ip is not None:
        picked = _derived(store, pool, who, t, taken(store, pool, t))
    else:
        picked = _confirm(store, pool, t, candidates, count) if pool == read else []
        if len(picked) < count:
            # The pool changed, or the allocators ahead took every candidate: read
            # it again, under the lock.
            picked = _pick(store, pool, t, count)
    found = [
        Allocation(pool.name, member_text(pool, n), member_id(pool, member_text(pool, n)), who)
        for n in picked
    ]
    entities = []
    for a in found:
        attrs: dict[str, JSONValue] = {"pool": pool.name}
        attrs |= {"mac": a.address} if pool.kind == "mac" else {"address": a.address}
        entities.append(EntityObs(a.id, split_id(a.id)[0], attrs))
    relations = tuple(
        RelationObs(RelKey(a.id, "allocated_to", who), {"pool": pool.name}) for a in found
    )
    recorder.record([Observation(SOURCE, now, "event", tuple(entities), relations)])
    return AllocateAnswer(now, pool.name, who, found)


def allocate(
    store: Store, recorder: Recorder, pool_name: str, entity: str, count: int = 1
) -> AllocateAnswer:
    """Allocate `count` free members of the pool to `entity` and record it; `IpamError`
    (nothing recorded) when the pool is unknown or has too few free."""
    if not 1 <= count <= COUNT_MAX:
        raise IpamError(f"--count {count} is out of range: from 1 to {COUNT_MAX}")
    # Everything that can be read before the lock is: the pool, the holder and the
    # lowest free members with some to spare. Under the lock, only whether those are
    # still free (a few lookups of one member each, however full the pool) and the
    # record: the allocators queued behind wait for that alone.
    pool = pool_named(store, pool_name, datetime.now(UTC))
    who = holder(store, entity)
    candidates, floor = (
        _candidates(store, pool, count)
        if pool.from_ip is None and count <= ASKED_ALONE
        else ([], None)
    )
    with one_at_a_time(store) as lock:
        with store.write():
            answer = _take(store, recorder, pool_name, pool, who, count, candidates)
        if floor is not None:
            keep_floor(lock, pool_name, floor)
    return answer


def release(store: Store, recorder: Recorder, text: str) -> ReleaseAnswer:
    """End the allocation of an address (in every space, or the one after `@`) or a MAC;
    `IpamError` (nothing recorded) when it is not allocated now."""
    what, space = read_target(text)
    with one_at_a_time(store) as lock:
        with store.write():
            now = datetime.now(UTC)
            t = to_us(now)
            r = IpamReader(store)
            if is_mac(what):
                ids = r.ids_equal([mac_id(what)])
            elif space is not None:
                ids = r.ids_equal([ip_id(what, space)])
            else:
                ids = r.ids_with_prefix(address_prefixes(ipaddress.ip_address(what))[:1])
            live = [
                e
                for e in r.edges_of([n for n, _ in ids], t, t + 1, out=("allocated_to",), into=())
                if e.valid_to is None and e.source == SOURCE
            ]
            if not live:
                raise IpamNotFound(
                    f"{text.strip()} is not allocated at {now.isoformat()}: nothing to release"
                )
            gone = tuple(sorted({e.src for e in live}))
            gone_rel = tuple(RelKey(e.src, e.rel, e.dst) for e in live)
            recorder.record([Observation(SOURCE, now, "event", gone=gone, gone_relations=gone_rel)])
        count_release(lock)
    released = [
        Allocation(
            str(json.loads(e.attrs).get("pool", "")),
            what,
            e.src,
            e.dst,
        )
        for e in live
    ]
    return ReleaseAnswer(now, released)
