"""A read-only store is read-only: nothing written through it, and its files as they were."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from factory import at, ent, rel, snap
from vtrail.query import state
from vtrail.recording.ingest import rebuild_in_place
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.store.sqlite import journal_path


def _recorded(path: Path) -> Path:
    store = SqliteStore(path)
    Recorder(store).record(
        [
            snap("a", 0, ent("vm:1", name="web"), rel("vm:1", "runs_on", "host:a")),
            snap("a", 10, ent("vm:1", name="web", state="paused")),
        ]
    )
    token_store.create(store, "reader", "ci")
    store.close()
    return path


def _files(path: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of the store's two databases."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in (path, journal_path(path))
    }


def _ask_everything(store: SqliteStore) -> None:
    state.stats(store)
    state.show(store, "vm:1", at(5))
    state.history(store, "vm:1")
    state.diff(store, at(0), at(20))
    state.snapshot(store, at(5))
    assert token_store.lookup(store, "vt_nothing") is None
    assert list(store.conn.execute("SELECT count(*) FROM jnl.journal")) == [(2,)]


def test_a_write_through_a_readonly_store_fails(tmp_path: Path) -> None:
    path = _recorded(tmp_path / "vtrail.db")
    store = SqliteStore(path, readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.conn.execute("INSERT INTO source (name) VALUES ('intruder')")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.conn.execute("DELETE FROM jnl.journal")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            token_store.create(store, "writer", "sneaky")
        assert [x.name for x in state.stats(store).sources] == ["a"]
        assert [t.name for t in token_store.listing(store)] == ["ci"]
    finally:
        store.close()


def test_reading_leaves_the_files_as_they_were(tmp_path: Path) -> None:
    path = _recorded(tmp_path / "vtrail.db")
    before = _files(path)
    for _ in range(2):
        store = SqliteStore(path, readonly=True)
        _ask_everything(store)
        store.close()
    assert _files(path) == before


def _crash_after_a_write(path: Path) -> None:
    crash = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from factory import ent, snap
        from vtrail.recording.recorder import Recorder
        from vtrail.store import SqliteStore
        store = SqliteStore({str(path)!r})
        Recorder(store).record([snap("a", 20, ent("vm:1", name="web", state="running"))])
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", crash], check=True)


def test_reading_after_a_crashed_writer_does_not_checkpoint_its_wal(tmp_path: Path) -> None:
    # A writer killed mid-life leaves its last commits in the WAL. A reader must see
    # them, and must not be the one that folds them into the main file: closing the
    # last read-write connection would.
    path = _recorded(tmp_path / "vtrail.db")
    _crash_after_a_write(path)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    before = _files(path)
    store = SqliteStore(path, readonly=True)
    try:
        v = state.show(store, "vm:1", at(25)).version
        assert v is not None and v.attrs["state"] == "running"
    finally:
        store.close()
    assert _files(path) == before
    assert wal.stat().st_size > 0


def test_a_store_path_that_looks_like_a_uri_is_still_a_path(tmp_path: Path) -> None:
    odd = tmp_path / "a dir?mode=rw#x%20"
    odd.mkdir()
    path = _recorded(odd / "vtrail.db")
    store = SqliteStore(path, readonly=True)
    try:
        _ask_everything(store)
    finally:
        store.close()


def test_rebuild_after_a_crashed_writer_keeps_its_last_writes(tmp_path: Path) -> None:
    # rebuild reads through a read-only store, then folds the WAL so that the backup's
    # two files hold everything.
    path = _recorded(tmp_path / "vtrail.db")
    _crash_after_a_write(path)
    rebuild_in_place(path)
    backup = tmp_path / "vtrail.before-rebuild.db"
    assert not Path(f"{backup}-wal").exists()
    for p in (path, backup):
        store = SqliteStore(p, readonly=True)
        try:
            v = state.show(store, "vm:1", at(25)).version
            assert v is not None and v.attrs["state"] == "running"
        finally:
            store.close()
