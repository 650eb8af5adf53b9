"""How allocators take turns: a lock file of their own beside the store, which also
counts their releases.

Allocators queue on the lock file, which the kernel hands to the next one the moment it
is free. Queued on SQLite's busy handler instead, a waiting allocation sleeps in steps
of up to 100 ms: under contention that sleep, not the allocation, was the time it took.
The transaction still makes an allocation safe against any other writer (a recorder);
the lock only orders the allocators.

A commit under the lock does not checkpoint the WAL: a SQLite store folds its WAL into
its files from a thread of its own (store/walfold.py), where SQLite's automatic
checkpoint, at 1,000 frames, copied and synced both files inside one allocation's commit
in about fifty while every allocator queued behind it. The release count is kept in the
lock file, read and written through its own descriptor: never open one on a file SQLite
locks, since closing it drops SQLite's locks for the whole process
(https://www.sqlite.org/howtocorrupt.html).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from vtrail.store import Store


def lock_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".ipam-lock")


@contextmanager
def one_at_a_time(store: Store) -> Iterator[BinaryIO]:
    """Hold the allocators' lock (the module doc) for the block, and yield its file."""
    # Not opened to append: Linux writes at the end of such a file whatever the offset.
    with os.fdopen(os.open(lock_path(store), os.O_RDWR | os.O_CREAT, 0o666), "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def releases(store: Store) -> int:
    """How many releases the allocators of this store made (0 before the first)."""
    try:
        with lock_path(store).open("rb") as f:
            count = f.read(8)
    except FileNotFoundError:
        return 0
    return int.from_bytes(count, "little") if len(count) == 8 else 0


def count_release(lock: BinaryIO) -> None:
    """One release more, written once it is committed and before the lock is let go: a
    reading that saw the count before saw the store before the release."""
    count = os.pread(lock.fileno(), 8, 0)
    n = int.from_bytes(count, "little") + 1 if len(count) == 8 else 1
    os.pwrite(lock.fileno(), n.to_bytes(8, "little"), 0)
