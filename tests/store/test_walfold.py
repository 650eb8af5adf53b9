"""The WAL is folded into the store's files from a thread of its own (store/walfold.py),
and that changes nothing a writer or a reader can tell, crash included."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.model import EntityObs, Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.sqlite import journal_path
from vtrail.store.walfold import BOUND_PAGES

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def batch(start: int, n: int) -> list[Observation]:
    return [
        Observation(
            "libvirt+test:///default@h1",
            T0 + timedelta(seconds=i),
            "event",
            (EntityObs(f"vm:{i % 50:04d}", "vm", {"name": f"vm-{i % 50}", "n": i}),),
        )
        for i in range(start, start + n)
    ]


def in_file_alone(path: Path, sql: str) -> int:
    """What the database file holds without its WAL: what was checkpointed."""
    c = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(c.execute(sql).fetchone()[0])
    finally:
        c.close()


def waited(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_commits_reach_the_files_without_the_writer_checkpointing(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    store = SqliteStore(path)
    try:
        # The writer's own checkpoint is only the bound: far beyond this small batch.
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BOUND_PAGES
        Recorder(store).record(batch(0, 200))
        assert store.folder is not None
        folder = store.folder
        waited(lambda: folder.folded == folder.commits, "no checkpoint after the last commit")
        versions = store.conn.execute("SELECT count(*) FROM version").fetchone()[0]
        assert versions == 200
        assert in_file_alone(path, "SELECT count(*) FROM version") == versions
        assert in_file_alone(journal_path(path), "SELECT count(*) FROM journal") == 200
    finally:
        store.close()


def test_a_read_only_store_folds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    SqliteStore(path).close()
    ro = SqliteStore(path, readonly=True)
    try:
        assert ro.folder is None
    finally:
        ro.close()


def test_close_stops_the_thread_and_leaves_the_files_whole(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    store = SqliteStore(path)
    Recorder(store).record(batch(0, 100))
    store.close()
    assert not Path(f"{path}-wal").exists()
    assert in_file_alone(path, "SELECT count(*) FROM version") == 100


CRASH = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from store.test_walfold import batch
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
store = SqliteStore(Path({path!r}))
rec = Recorder(store)
for k in range(20):
    rec.record(batch(k * 100, 100))
    print(k, flush=True)
os._exit(0)  # killed mid-stream: no close, the folding thread cut off wherever it was
"""


def test_a_writer_killed_mid_stream_loses_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    tests = str(Path(__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", CRASH.format(tests=tests, path=str(path))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[-1] == "19"
    store = SqliteStore(path, readonly=True)
    try:
        assert store.conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 2000
        assert store.conn.execute("SELECT count(*) FROM version").fetchone()[0] == 2000
    finally:
        store.close()
