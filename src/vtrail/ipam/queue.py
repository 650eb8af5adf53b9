"""How allocators take turns: a lock file of their own beside the store, which also
counts their releases and keeps each pool's floor.

Allocators queue on the lock file, which the kernel hands to the next one the moment it
is free. Queued on SQLite's busy handler instead, a waiting allocation sleeps in steps
of up to 100 ms: under contention that sleep, not the allocation, was the time it took.
They are served in the order they came (`one_at_a_time`): a plain `flock` wakes every
waiter when it is let go, and whichever runs first takes it, so with four allocating
at once on two cores, each turn about 1.4 ms, one waited 534 ms (bench/ipam.py).
The transaction still makes an allocation safe against any other writer (a recorder);
the lock only orders the allocators.

A commit under the lock does not checkpoint the WAL: a SQLite store folds its WAL into
its files from a thread of its own (store/walfold.py), where SQLite's automatic
checkpoint, at 1,000 frames, copied and synced both files inside one allocation's commit
in about fifty while every allocator queued behind it. The release count is kept in the
lock file, read and written through its own descriptor: never open one on a file SQLite
locks, since closing it drops SQLite's locks for the whole process
(https://www.sqlite.org/howtocorrupt.html).

The file holds the release count (8 bytes), the next ticket (8 bytes), then the floors
(`Floor`) as a JSON object after their length (4 bytes): kept here, every
process allocating from the store starts where the last allocation left off, a
command run once as much as a server, instead of reading a pool filled from the
bottom up to its first free member.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import BinaryIO

from vtrail.store import Store
from vtrail.store.reads.rows import bulk


def lock_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".ipam-lock")


#: Where the ticket counter is kept, after the release count.
_TICKET_AT = 8
#: Where the floors begin in the lock file, after the ticket counter.
_FLOORS_AT = 16
#: Each ticket is a byte locked at this offset and on, modulo `_TICKETS` (far past the
#: file's end: a lock on a byte is not a byte written).
_QUEUE_AT, _TICKETS = 1 << 40, 1 << 32


def _byte(fd: int, kind: int, ticket: int, wait: bool) -> None:
    """Lock (`F_WRLCK`) or unlock (`F_UNLCK`) ticket's byte: an open file description
    lock, which neither another thread's descriptor nor a descriptor of this process
    closed elsewhere (`kept`) shares or drops."""
    at = _QUEUE_AT + ticket % _TICKETS
    fcntl.fcntl(
        fd,
        fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK,
        struct.pack("hhqqi4x", kind, os.SEEK_SET, at, 1, 0),
    )


@contextmanager
def one_at_a_time(store: Store) -> Iterator[BinaryIO]:
    """Hold the allocators' lock (the module doc) for the block, and yield its file.

    A ticket lock: under a `flock` held for a few system calls, the allocator takes the
    next ticket and locks its byte; then it waits for its predecessor's byte, which is
    let go when the predecessor's turn ends, and holds its own until its turn ends.
    One that dies lets go of its byte with its descriptor, and the next one goes on."""
    # Not opened to append: Linux writes at the end of such a file whatever the offset.
    with os.fdopen(os.open(lock_path(store), os.O_RDWR | os.O_CREAT, 0o666), "r+b") as f:
        fd = f.fileno()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            head = os.pread(fd, 8, _TICKET_AT)
            ticket = int.from_bytes(head, "little") if len(head) == 8 else 0
            os.pwrite(fd, ((ticket + 1) % _TICKETS).to_bytes(8, "little"), _TICKET_AT)
            _byte(fd, fcntl.F_WRLCK, ticket, wait=False)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        # A pass of the cyclic collector over a big heap takes 20 to 30 ms, and every
        # allocator queued behind would wait it out too: the pass that falls due in the
        # turn is made once the next allocator's turn has begun, by this process alone.
        with bulk():
            try:
                _byte(fd, fcntl.F_WRLCK, ticket - 1, wait=True)
                _byte(fd, fcntl.F_UNLCK, ticket - 1, wait=False)
                yield f
            finally:
                _byte(fd, fcntl.F_UNLCK, ticket, wait=False)


def count_release(lock: BinaryIO) -> None:
    """One release more, written once it is committed and before the lock is let go: a
    reading that saw the count before saw the store before the release."""
    count = os.pread(lock.fileno(), 8, 0)
    n = int.from_bytes(count, "little") + 1 if len(count) == 8 else 1
    os.pwrite(lock.fileno(), n.to_bytes(8, "little"), 0)


@dataclass(frozen=True, slots=True)
class Floor:
    """An IPv4 pool read from its low end found every member below `block` taken, when
    the journal's newest observation was `seq` and the store's allocators had released
    `releases` times. While nothing but allocations has been recorded since (the
    allocators' writes are the only observations of the source `ipam`, and their
    releases are counted), those members are taken still, and the next reading starts
    at `block`: a /16 filling from the bottom is not read from the bottom for each
    address."""

    block: int
    seq: int
    releases: int


def kept(store: Store) -> tuple[int, dict[str, Floor]]:
    """How many releases the allocators of this store made (0 before the first), and the
    floors kept, by pool: one reading of the lock file. Read without the lock: a reading
    torn by a write beside it is not JSON, or mixes two floors that each held when
    written, which the allocator checks before using either."""
    try:
        with lock_path(store).open("rb") as f:
            count = os.pread(f.fileno(), 8, 0)
            found = _floors(f.fileno())
    except FileNotFoundError:
        return 0, {}
    return (int.from_bytes(count, "little") if len(count) == 8 else 0), found


def keep_floor(lock: BinaryIO, pool: str, floor: Floor) -> None:
    """Keep `pool`'s floor beside the others; under the lock, as the allocation it was
    read for is committed."""
    floors = _floors(lock.fileno())
    floors[pool] = floor
    text = json.dumps({k: astuple(f) for k, f in floors.items()}, separators=(",", ":"))
    os.pwrite(lock.fileno(), len(text).to_bytes(4, "little") + text.encode(), _FLOORS_AT)


def _floors(fd: int) -> dict[str, Floor]:
    head = os.pread(fd, 4, _FLOORS_AT)
    size = int.from_bytes(head, "little") if len(head) == 4 else 0
    try:
        found = json.loads(os.pread(fd, size, _FLOORS_AT + 4)) if size else {}
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        k: Floor(*v)
        for k, v in found.items()
        if isinstance(v, list) and len(v) == 3 and all(type(x) is int for x in v)
    }
