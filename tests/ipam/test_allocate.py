"""Allocation: the next free member, free only when nothing holds or uses it; release;
refusals that change nothing; and four processes allocating at once never sharing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipam.fabric import POOLS, ago, allocated, apply_pools, holds, plugged, waiters
from vtrail.ids import ip_id
from vtrail.ipam.allocate import allocate, one_at_a_time, release
from vtrail.ipam.pools import IpamError
from vtrail.ipam.who import who
from vtrail.model import Observation, RelKey
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, Store


def addresses(
    store: SqliteStore, recorder: Recorder, pool: str, n: int = 1, to: str = "vm:a"
) -> list[str]:
    return [a.address for a in allocate(store, recorder, pool, to, n).allocated]


def test_the_next_free_skips_what_is_held_reserved_or_observed(
    store: SqliteStore, recorder: Recorder
) -> None:
    apply_pools(recorder)
    # 10.0.3.2 is on an interface of a namespace, never allocated: it is taken all the same.
    holds(recorder, "netlink:blue", "port:blue/eth0", "10.0.3.2", "blue", ago(1), None)
    assert addresses(store, recorder, "lab", 2) == ["10.0.3.3", "10.0.3.4"]
    assert addresses(store, recorder, "lab") == ["10.0.3.5"]


def test_a_pool_wider_than_256_is_read_a_block_at_a_time_and_allocated_across_them(
    store: SqliteStore, recorder: Recorder
) -> None:
    """Taken members are read 256 at a time from the low end: a request that runs past
    the first block goes on in the next, skipping what is taken there too."""
    apply_pools(recorder, POOLS + "  wide: {prefix: 10.1.0.0/22, space: lab}\n")
    assert addresses(store, recorder, "wide", 250)[-1] == "10.1.0.250"
    holds(recorder, "netlink:blue", "port:blue/eth0", "10.1.1.1", "blue", ago(1), None)
    got = addresses(store, recorder, "wide", 8)
    assert got == [*(f"10.1.0.{n}" for n in range(251, 256)), "10.1.1.0", "10.1.1.2", "10.1.1.3"]
    with pytest.raises(IpamError, match="pool wide has 763 free, not 1000"):
        allocate(store, recorder, "wide", "vm:a", 1000)


def test_an_address_used_once_but_no_more_is_free_again(
    store: SqliteStore, recorder: Recorder
) -> None:
    apply_pools(recorder)
    holds(recorder, "netlink:blue", "port:blue/eth0", "10.0.3.2", "blue", ago(2), ago(1))
    assert addresses(store, recorder, "lab") == ["10.0.3.2"]


def test_ipv6_and_macs(store: SqliteStore, recorder: Recorder) -> None:
    apply_pools(recorder)
    # The subnet-router anycast address (the prefix's first) is never handed out.
    assert addresses(store, recorder, "lab6", 2) == ["2001:db8:3::1", "2001:db8:3::2"]
    plugged(recorder, "nic:aaaa/02:00:00:00:00:00", "bridge:hv-a/br0", ago(1), None)
    assert addresses(store, recorder, "macs") == ["02:00:00:00:00:01"]


def test_a_derived_mac_carries_the_holders_ipv4_address(
    store: SqliteStore, recorder: Recorder
) -> None:
    apply_pools(recorder)
    assert addresses(store, recorder, "lab", to="vm:web") == ["10.0.3.2"]
    assert addresses(store, recorder, "one", to="vm:web") == ["02:00:0a:00:03:02"]
    with pytest.raises(IpamError, match="allocated nothing to vm:db: allocate an address"):
        allocate(store, recorder, "one", "vm:db")


def test_release_frees_it_and_keeps_its_history(store: SqliteStore, recorder: Recorder) -> None:
    apply_pools(recorder)
    addresses(store, recorder, "lab", to="vm:a")
    released = release(store, recorder, "10.0.3.2")
    assert [(x.id, x.entity) for x in released.released] == [("ip:10.0.3.2@lab", "vm:a")]
    assert addresses(store, recorder, "lab", to="vm:b") == ["10.0.3.2"]
    held = who(store, "10.0.3.2").holders
    assert [(h.entity, h.how, h.t_to is None) for h in held] == [
        ("vm:a", "allocated", False),
        ("vm:b", "allocated", True),
    ]


def _journal(store: SqliteStore) -> int:
    return int(store.conn.execute("SELECT count(*) FROM jnl.journal").fetchone()[0])


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda s, r: allocate(s, r, "nope", "vm:a"), "unknown pool 'nope' at "),
        (lambda s, r: allocate(s, r, "lab", "vm:a", 0), "--count 0 is out of range"),
        (lambda s, r: allocate(s, r, "lab", "vm:a", 254), "pool lab has 253 free, not 254"),
        (lambda s, r: release(s, r, "10.0.3.9"), "10.0.3.9 is not allocated at "),
        (lambda s, r: release(s, r, "10.0.3.999"), "'10.0.3.999' is neither an IP address"),
    ],
)
def test_bad_requests_say_why_in_one_line_and_change_nothing(
    store: SqliteStore, recorder: Recorder, call: object, says: str
) -> None:
    apply_pools(recorder)
    before = _journal(store)
    with pytest.raises(IpamError) as e:
        call(store, recorder)  # type: ignore[operator]
    assert says in str(e.value) and "\n" not in str(e.value)
    assert _journal(store) == before


#: One process's allocations, one at a time, printed as JSON: what runs four times at once.
WORKER = """
import json, sys
from vtrail.ipam.allocate import allocate
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
store = SqliteStore(sys.argv[1])
store.conn.execute("PRAGMA busy_timeout = 60000")
recorder = Recorder(store)
got = []
for _ in range(int(sys.argv[2])):
    got += [a.address for a in allocate(store, recorder, "lab", sys.argv[3]).allocated]
print(json.dumps(got))
"""


def test_four_processes_allocating_at_once_never_share_an_address(db_path: Path) -> None:
    store = SqliteStore(db_path)
    apply_pools(Recorder(store))
    store.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db_path), "25", f"vm:p{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    everything = []
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
        everything += json.loads(out)
    assert len(everything) == 100
    assert len(set(everything)) == 100, "two processes got the same address"
    # And the record agrees: 100 live allocations, each of one holder.
    c = sqlite3.connect(db_path)
    live = c.execute(
        "SELECT count(DISTINCT src), count(*) FROM relation WHERE rel = 'allocated_to' "
        "AND valid_to IS NULL"
    ).fetchone()
    c.close()
    assert live == (100, 100)


def _reads(store: SqliteStore) -> list[str]:
    """Every statement the store's connection runs from now on, its values written in."""
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    return seen


def _fill_first_block(store: SqliteStore, recorder: Recorder, held: int = 0) -> None:
    """The pool `wide` (10.1.0.0/22) with its first block of 256 all taken (`held` of
    them already were), the next allocation read from its low end: the process's floor
    is now its second block."""
    apply_pools(recorder, POOLS + "  wide: {prefix: 10.1.0.0/22, space: lab}\n")
    addresses(store, recorder, "wide", 255 - held)
    assert addresses(store, recorder, "wide") == ["10.1.1.0"]


def test_a_process_reads_a_filling_pool_from_where_it_was_full_until_one_is_released(
    store: SqliteStore, recorder: Recorder, db_path: Path
) -> None:
    """Allocations only take members: while nothing else was recorded, the block the
    process found full is not read again. A release through another connection frees
    one there, and the next allocation, read from the bottom again, hands it out."""
    _fill_first_block(store, recorder)
    reads = _reads(store)
    assert addresses(store, recorder, "wide") == ["10.1.1.1"]
    assert not [s for s in reads if "'ip:10.1.0.'" in s], "the full block was read again"
    other = SqliteStore(db_path)
    release(other, Recorder(other), "10.1.0.7")
    other.close()
    assert addresses(store, recorder, "wide") == ["10.1.0.7"]
    assert addresses(store, recorder, "wide") == ["10.1.1.2"]


def test_a_process_starts_where_another_left_off_in_the_allocators_lock_file(
    store: SqliteStore, recorder: Recorder, db_path: Path
) -> None:
    """The floor is kept in the lock file, so a command run once (a new process, its
    store opened afresh) does not read the blocks the last allocation found full; once
    anything but an allocation is recorded, or the floors cannot be read, the next
    process reads the pool from the bottom."""
    _fill_first_block(store, recorder)
    assert addresses(store, recorder, "wide") == ["10.1.1.1"]
    run = [sys.executable, "-c", FIRST_READS, str(db_path)]

    def once() -> list[object]:
        out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
        return list(json.loads(out))

    assert once() == ["10.1.1.2", False]
    holds(recorder, "netlink:blue", "port:blue/eth1", "10.9.0.1", "blue", ago(0), None)
    assert once() == ["10.1.1.3", True]
    assert once() == ["10.1.1.4", False]
    lock = db_path.with_name(db_path.name + ".ipam-lock")
    with lock.open("r+b") as f:
        os.pwrite(f.fileno(), (40).to_bytes(4, "little") + b"{not json", 8)
    assert once() == ["10.1.1.5", True]
    assert once() == ["10.1.1.6", False]


#: Allocates one from `wide` in a process of its own: the address, and whether it read
#: the block 10.1.0.x.
FIRST_READS = """
import json, sys
from vtrail.ipam.allocate import allocate
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
store = SqliteStore(sys.argv[1])
seen = []
store.conn.set_trace_callback(seen.append)
got = allocate(store, Recorder(store), "wide", "vm:once").allocated[0].address
print(json.dumps([got, any("'ip:10.1.0.'" in s for s in seen)]))
"""


def test_an_address_an_interface_let_go_of_is_free_again_below_the_floor(
    store: SqliteStore, recorder: Recorder
) -> None:
    """The interface's end is recorded late (at an instant before the floor was read):
    anything recorded but an allocation sends the next reading to the bottom."""
    rel = RelKey("port:blue/eth0", "has_address", ip_id("10.1.0.20", "blue"))
    holds(recorder, "netlink:blue", rel.src, "10.1.0.20", "blue", ago(2), None)
    _fill_first_block(store, recorder, held=1)
    assert [h.entity for h in who(store, "10.1.0.20").holders] == [rel.src]
    recorder.record([Observation("netlink:blue", ago(1), "event", gone_relations=(rel,))])
    assert addresses(store, recorder, "wide") == ["10.1.0.20"]


@pytest.mark.parametrize(("taken_meanwhile", "gets"), [(3, "10.0.3.5"), (12, "10.0.3.14")])
def test_candidates_taken_while_an_allocation_queued_are_passed_over(
    store: SqliteStore, recorder: Recorder, db_path: Path, taken_meanwhile: int, gets: str
) -> None:
    """The allocation reads its candidates (10.0.3.2 and SPARE more), then queues; the
    allocator ahead of it takes some of them, or all and more. Asked again under the
    lock, those are passed over: the next candidate still free, or, when none is, the
    pool read again."""
    apply_pools(recorder)
    other = SqliteStore(db_path)
    other_recorder = Recorder(other)
    got: list[str] = []
    with one_at_a_time(other):
        queued = threading.Thread(target=lambda: got.extend(addresses(store, recorder, "lab")))
        queued.start()
        while not waiters(db_path.with_name(db_path.name + ".ipam-lock")):
            time.sleep(0.01)
        for n in range(2, 2 + taken_meanwhile):
            allocated(other_recorder, "lab", f"10.0.3.{n}", "lab", "vm:ahead", ago(0))
    queued.join(timeout=30)
    other.close()
    assert got == [gets]
    live = [h.entity for h in who(store, gets).holders if h.t_to is None]
    assert live == ["vm:a"]


@pytest.mark.both_stores
def test_allocate_and_release_on_either_store(store: Store, recorder: Recorder) -> None:
    """A PostgreSQL store's allocators read their candidates from the low end each time
    (no floor) and ask them again under the store's write lock, as SQLite's do."""
    apply_pools(recorder)

    def got(n: int = 1) -> list[str]:
        return [a.address for a in allocate(store, recorder, "lab", "vm:a", n).allocated]

    assert got(2) == ["10.0.3.2", "10.0.3.3"]
    assert got(12)[-1] == "10.0.3.15"
    release(store, recorder, "10.0.3.3")
    assert got() == ["10.0.3.3"]
    assert got() == ["10.0.3.16"]
    with pytest.raises(IpamError, match="pool lab has 238 free, not 239"):
        allocate(store, recorder, "lab", "vm:a", 239)
