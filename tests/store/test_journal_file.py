"""The journal in its own file: where it lives, the move from one file, and repair after a
crash that falls between the journal's commit and the history's."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from factory import ent, event, rel, sample, snap
from test_recorder_order import history
from vtrail.model import Observation
from vtrail.query.state import stats
from vtrail.recording.ingest import rebuild
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, StoreError
from vtrail.store.journal import Journal
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.reads.stats import StatsReader
from vtrail.store.sqlite import journal_path

A = [
    snap("a", 0, ent("vm:1", name="web"), rel("vm:1", "runs_on", "host:a")),
    event("a", 5, ent("vm:2", name="db"), sample("vm:2", "cpu_time_ns", 10)),
]
# B changes what A left, and one of its observations arrives late (t=3 after t=10).
B = [
    snap("a", 10, ent("vm:2", name="db", state="paused")),
    event("b", 3, ent("vm:3", name="late"), sample("vm:3", "rx_bytes", 7)),
]


def recorded(path: Path, *batches: list[Observation]) -> Path:
    store = SqliteStore(path)
    rec = Recorder(store, checkpoint_min=1)
    for batch in batches:
        rec.record(batch)
    store.close()
    return path


def history_of(path: Path) -> tuple[list[object], ...]:
    store = SqliteStore(path, readonly=True)
    try:
        return history(store)
    finally:
        store.close()


def observations(path: Path) -> dict[str, int]:
    store = SqliteStore(path, readonly=True)
    try:
        return {x.name: x.observations for x in stats(store).sources}
    finally:
        store.close()


def readings(path: Path) -> int:
    store = SqliteStore(path, readonly=True)
    try:
        return StatsReader(store).counts()["sample_readings"]
    finally:
        store.close()


def test_the_journal_has_a_file_of_its_own(tmp_path: Path) -> None:
    path = recorded(tmp_path / "v.db", A)
    assert journal_path(path) == tmp_path / "v.journal.db"
    main = sqlite3.connect(path)
    assert main.execute("SELECT 1 FROM sqlite_schema WHERE name = 'journal'").fetchone() is None
    jnl = sqlite3.connect(journal_path(path))
    assert jnl.execute("SELECT count(*) FROM journal").fetchone() == (2,)


def test_a_store_without_its_journal_file_is_refused(tmp_path: Path) -> None:
    path = recorded(tmp_path / "v.db", A)
    journal_path(path).rename(tmp_path / "elsewhere.db")
    for readonly in (True, False):
        with pytest.raises(StoreError, match=r"journal of .*v\.db is missing: .*v\.journal\.db"):
            SqliteStore(path, readonly=readonly)
    assert not journal_path(path).exists()


def test_a_lost_journal_commit_rederives_history_without_that_batch(tmp_path: Path) -> None:
    # SQLite commits the history's file first. A crash before the journal's commit
    # cannot be timed in a test, so its result is made by hand: the history of A
    # and B beside the journal of A alone.
    only_a = recorded(tmp_path / "a.db", A)
    crashed = recorded(tmp_path / "ab.db", A, B)
    shutil.copy(journal_path(only_a), journal_path(crashed))
    assert history_of(crashed)[:2] != history_of(only_a)[:2]

    store = SqliteStore(crashed)
    Recorder(store)  # a recorder starting on the store repairs it
    store.close()
    assert history_of(crashed)[:2] == history_of(only_a)[:2]
    # The readings B carried were taken: they stay, though the journal lost them.
    assert readings(crashed) == 2
    assert observations(crashed) == observations(only_a) == {"a": 2}
    assert Recorder(SqliteStore(crashed)).recover().observations == 0


def test_a_lost_history_commit_records_the_journal_again(tmp_path: Path) -> None:
    # The other way round: the journal holds B, the history does not.
    both = recorded(tmp_path / "ab.db", A, B)
    crashed = recorded(tmp_path / "a.db", A)
    shutil.copy(journal_path(both), journal_path(crashed))
    assert history_of(crashed) != history_of(both)
    assert readings(crashed) == 1

    stats = Recorder(SqliteStore(crashed)).recover()
    assert stats.observations == 0  # the constructor already did it
    assert history_of(crashed) == history_of(both)
    assert readings(crashed) == 2
    assert observations(crashed) == observations(both) == {"a": 3, "b": 1}


def test_a_running_recorder_repairs_before_its_next_batch(tmp_path: Path) -> None:
    both = recorded(tmp_path / "ab.db", A, B)
    store = SqliteStore(tmp_path / "a.db")
    rec = Recorder(store)
    rec.record(A)
    # Another writer's crash, seen by this one: B's journal entries committed
    # (through a connection of their own), the history they lead to not.
    b_rows = (
        sqlite3.connect(journal_path(both))
        .execute("SELECT * FROM journal WHERE seq > 2 ORDER BY seq")
        .fetchall()
    )
    other = sqlite3.connect(journal_path(store.path))
    other.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?)", b_rows)
    other.commit()
    other.close()
    rec.record([])
    store.close()
    assert history_of(tmp_path / "a.db") == history_of(both)


def one_file_store(path: Path, like: Path) -> None:
    """A store as vtrail wrote it before 0005_journal_file, journal in the main file,
    holding the sources and journal of the store at `like`."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("CREATE TABLE migration (name TEXT PRIMARY KEY, applied_at INTEGER)")
    for m in MIGRATIONS[:4]:
        c.executescript(f"BEGIN;\n{m.sql}\n;INSERT INTO migration VALUES ('{m.name}', 0);COMMIT;")
    sources = sqlite3.connect(like).execute("SELECT id, name FROM source").fetchall()
    journal = (
        sqlite3.connect(journal_path(like))
        .execute("SELECT seq, source, kind, observed_at, recorded_at, hash, body FROM journal")
        .fetchall()
    )
    c.executemany("INSERT INTO source VALUES (?, ?)", sources)
    c.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)", journal)
    c.close()


def test_a_one_file_store_moves_its_journal_out(tmp_path: Path) -> None:
    new = recorded(tmp_path / "new.db", A, B)
    old = tmp_path / "old.db"
    one_file_store(old, new)

    # Read before it is migrated: the journal is found in the main file, no file is made.
    ro = SqliteStore(old, readonly=True)
    assert list(Journal(ro).entries()) == list(Journal(SqliteStore(new)).entries())
    ro.close()
    assert not journal_path(old).exists()

    # A crash after the copy was committed and before the drop: the copy runs again.
    c = sqlite3.connect(old, isolation_level=None)
    c.execute("ATTACH DATABASE ? AS jnl", (str(journal_path(old)),))
    c.executescript(f"BEGIN;\n{MIGRATIONS[4].prepare}\n;COMMIT;")
    c.close()

    store = SqliteStore(old)
    assert "0005_journal_file" in [name for name, _ in store.migrations()]
    # 0006 counted each source's observations in the moved journal.
    assert {x.name: x.observations for x in stats(store).sources} == {"a": 3, "b": 1}
    assert (
        store.conn.execute("SELECT 1 FROM main.sqlite_schema WHERE name = 'journal'").fetchone()
        is None
    )
    assert list(Journal(store).entries()) == list(Journal(SqliteStore(new)).entries())
    rebuild(store, tmp_path / "rebuilt.db")
    assert history_of(tmp_path / "rebuilt.db") == history_of(new)


def test_a_new_store_beside_another_stores_journal_is_refused(tmp_path: Path) -> None:
    path = recorded(tmp_path / "v.db", A)
    path.unlink()
    with pytest.raises(StoreError, match=r"v\.db is a new store but .*v\.journal\.db holds"):
        SqliteStore(path)
    assert sqlite3.connect(journal_path(path)).execute(
        "SELECT count(*) FROM journal"
    ).fetchone() == (2,)
