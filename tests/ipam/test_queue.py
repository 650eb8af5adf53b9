"""The allocators' queue: no WAL checkpoint while an allocator holds the lock, and one
in a thread of its own after every CHECKPOINT_EVERY writes."""

from __future__ import annotations

import threading
from pathlib import Path

from ipam.fabric import apply_pools
from vtrail.ipam.allocate import allocate
from vtrail.ipam.queue import CHECKPOINT_EVERY, CHECKPOINTER, one_at_a_time
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore


def _written(db: Path) -> tuple[int, int]:
    # Only stat: a descriptor of our own on a file SQLite locks would drop its locks.
    st = db.stat()
    return st.st_size, st.st_mtime_ns


def test_allocations_commit_without_a_checkpoint_and_the_last_of_a_round_makes_one_after(
    store: SqliteStore, recorder: Recorder, db_path: Path
) -> None:
    """With SQLite's automatic checkpoint at 1 frame, each commit would copy its pages
    into the database file. Under the lock none does: the file is untouched until the
    round's last write, whose allocator checkpoints after letting go of the lock."""
    apply_pools(recorder, "pools:\n  wide: {prefix: 10.1.0.0/20, space: lab}\n")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("PRAGMA wal_autocheckpoint=1")
    before = _written(db_path)
    for _ in range(CHECKPOINT_EVERY - 1):
        allocate(store, recorder, "wide", "vm:a")
    assert _written(db_path) == before, "a commit checkpointed under the lock"
    # The round's last write: the lock held as an allocation holds it.
    with one_at_a_time(store):
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1,)
    for t in threading.enumerate():
        if t.name == CHECKPOINTER:
            t.join(timeout=30)
    assert _written(db_path) != before
    assert store.conn.execute("PRAGMA main.wal_checkpoint(PASSIVE)").fetchone()[0] == 0
