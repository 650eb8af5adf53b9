"""How allocators take turns: a lock file of their own beside the store, which also
counts their releases and their writes, and the store's WAL checkpoints done after the
lock is let go.

Allocators queue on the lock file, which the kernel hands to the next one the moment it
is free. Queued on SQLite's busy handler instead, a waiting allocation sleeps in steps
of up to 100 ms: under contention that sleep, not the allocation, was the time it took.
The transaction still makes an allocation safe against any other writer (a recorder);
the lock only orders the allocators.

A SQLite commit that brings its WAL to 1,000 frames (SQLite's automatic checkpoint)
copies them into the database and syncs both files before it returns: tens of
milliseconds on a busy disk, for one allocation in about fifty (one writes about twenty
pages), with every allocator queued behind it. Under the lock, automatic checkpoints are
off; after every `CHECKPOINT_EVERY` writes of the store's allocators, the one that made
the last lets go of the lock and then checkpoints both files in a thread of its own, as
SQLite's documentation suggests for writers that must not wait
(https://www.sqlite.org/wal.html#automatic_checkpoint). The count is kept in the lock
file, not read from SQLite's WAL index: a second descriptor on a file SQLite locks,
closed, drops its locks for the whole process (https://www.sqlite.org/howtocorrupt.html).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.request import pathname2url

from vtrail.store import Store
from vtrail.store.dialect import SQLITE
from vtrail.store.sqlite import journal_path

#: Allocators' writes (allocations and releases) between two checkpoints: about SQLite's
#: 1,000 frames, at about twenty pages each.
CHECKPOINT_EVERY = 48
#: The name of the threads that checkpoint after an allocation.
CHECKPOINTER = "vtrail-ipam-checkpoint"
#: Where the lock file keeps its counts: releases, then writes.
_RELEASES, _WRITES = 0, 8
#: The stores being checkpointed by a thread of this process.
_FOLDING: set[Path] = set()
_FOLDING_LOCK = threading.Lock()


def lock_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".ipam-lock")


@contextmanager
def one_at_a_time(store: Store) -> Iterator[BinaryIO]:
    """Hold the allocators' lock (the module doc) for the block, a write of the store
    (nothing when it raises), and yield its file."""
    # Not opened to append: Linux writes at the end of such a file whatever the offset.
    with os.fdopen(os.open(lock_path(store), os.O_RDWR | os.O_CREAT, 0o666), "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            with _no_checkpoint(store) as sqlite:
                yield f
            due = sqlite and _count(f, _WRITES) % CHECKPOINT_EVERY == 0
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    if due:
        _checkpoint_after(store)


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
    _count(lock, _RELEASES)


def _count(lock: BinaryIO, at: int) -> int:
    """Add one to the count at byte `at` of the lock file; return it."""
    count = os.pread(lock.fileno(), 8, at)
    n = int.from_bytes(count, "little") + 1 if len(count) == 8 else 1
    os.pwrite(lock.fileno(), n.to_bytes(8, "little"), at)
    return n


@contextmanager
def _no_checkpoint(store: Store) -> Iterator[bool]:
    """Turn a SQLite store's automatic checkpoints off for the block; yield whether it
    is one (a PostgreSQL store has none)."""
    if store.dialect is not SQLITE:
        yield False
        return
    every = int(store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    store.conn.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield True
    finally:
        store.conn.execute(f"PRAGMA wal_autocheckpoint={every}")


def _checkpoint_after(store: Store) -> None:
    """Checkpoint the store's two files in a thread, unless one of this process does."""
    with _FOLDING_LOCK:
        if store.path in _FOLDING:
            return
        _FOLDING.add(store.path)
    threading.Thread(target=_checkpoint, args=(store.path,), name=CHECKPOINTER).start()


def _checkpoint(path: Path) -> None:
    try:
        for db in (path, journal_path(path)):
            try:
                # Read-write, never create: a store renamed meanwhile leaves no empty one.
                c = sqlite3.connect(
                    f"file:{pathname2url(str(db.absolute()))}?mode=rw",
                    uri=True,
                    isolation_level=None,
                    timeout=30,
                )
                try:
                    c.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    c.close()
            except sqlite3.Error:
                # A store moved or removed meanwhile: its next commit or close
                # checkpoints what is left.
                pass
    finally:
        with _FOLDING_LOCK:
            _FOLDING.discard(path)
