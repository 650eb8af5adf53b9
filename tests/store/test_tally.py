"""The history tables' row counts (`tally`) stay equal to what the tables hold.

The interval writer counts the rows it inserts and deletes and adds them to
`tally` as its transaction commits (0012); nothing counts the tables again
afterwards, so every path that writes history is exercised here: in-order and
late arrivals (a source re-derived), endings, a batch refused half-way, and a
store migrated from the triggers of 0011.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import ent, event, rel, snap
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, Store
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.reads.stats import StatsReader
from vtrail.store.sqlite import journal_path


def counted(store: SqliteStore) -> dict[str, int]:
    kept = dict(
        store.conn.execute("SELECT name, n FROM tally WHERE name IN ('version', 'relation')")
    )
    actual = {
        t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("version", "relation")
    }
    assert kept == actual
    return actual


def story() -> list[Observation]:
    vm, port = "vm:00000000-0000-0000-0000-000000000001", "port:hv-a/vnet0"
    out = []
    for i in range(6):
        items = [ent(vm, state=("running", "paused")[i % 2]), ent(port, mtu=1500 + i % 3)]
        if i % 3:
            items.append(rel(vm, "runs_on", "host:hv-a"))
            items.append(ent("host:hv-a"))
        out.append(snap("libvirt+test:///default@hv-a", i * 10, *items))
        out.append(snap("netlink@hv-a", i * 10 + 3, ent(port, mtu=1500, up=bool(i % 2))))
    out.append(event("netlink@hv-a", 70, gone=(port,)))
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(13)))
def test_counts_hold_whatever_the_arrival_order(
    tmp_path_factory: pytest.TempPathFactory, order: list[int]
) -> None:
    obs = story()
    store = SqliteStore(tmp_path_factory.mktemp("t") / "t.db")
    rec = Recorder(store)
    for i in order:
        rec.record([obs[i]])  # late ones re-derive their source: rows deleted and written again
    assert counted(store)["version"] > 0
    store.close()


def test_a_refused_batch_counts_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    rec = Recorder(store)
    rec.record(story()[:4])
    before = counted(store)

    class Boom(Exception):
        pass

    def failing() -> object:
        yield from story()[4:8]
        raise Boom

    with pytest.raises(Boom):
        rec.record(failing())  # type: ignore[arg-type]
    assert counted(store) == before
    rec.record(story()[4:])
    assert counted(store) != before


def test_a_store_counted_by_triggers_is_counted_again(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    Recorder(store).record(story())
    expected = counted(store)
    store.close()
    # As 0011 left it: the triggers back, 0012 not applied, and the tally off (a
    # store that counted wrong must come out right, not merely unchanged).
    c = sqlite3.connect(path, isolation_level=None)
    (m11,) = [m for m in MIGRATIONS if m.name == "0011_counts_and_mac_index"]
    triggers = [
        s for s in m11.sql.split("CREATE TRIGGER")[1:] if "ON version" in s or "ON relation" in s
    ]
    assert len(triggers) == 4
    c.executescript("".join(f"CREATE TRIGGER{t}" for t in triggers))
    c.execute("UPDATE tally SET n = 0 WHERE name IN ('version', 'relation')")
    c.execute("DELETE FROM migration WHERE name = '0012_history_tally_by_writer'")
    c.close()

    store = SqliteStore(path)
    assert counted(store) == expected
    assert not store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('version', 'relation')"
    ).fetchall()
    assert StatsReader(store).counts()["version"] == expected["version"]


def test_labels_are_written_once_and_again_after_a_rollback(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    rec = Recorder(store)
    vm = "vm:00000000-0000-0000-0000-000000000002"
    rec.record([event("libvirt", 1, ent(vm, name="web-1", state="running"))])

    def boom() -> object:
        yield event("libvirt", 2, ent(vm, name="web-2", state="running"))
        raise RuntimeError

    with pytest.raises(RuntimeError):
        rec.record(boom())  # type: ignore[arg-type]
    # web-2 was remembered as written, then rolled back: it must be written again.
    rec.record([event("libvirt", 3, ent(vm, name="web-2", state="paused"))])
    names = {v for (v,) in store.conn.execute("SELECT value FROM label WHERE key = 'name'")}
    assert names == {"web-1", "web-2"}


class _Fails:
    """A deriver that fails: the batch it runs in is rolled back after its labels were
    met (the recorder derives after applying every observation)."""

    def __call__(self, store: Store, since: int) -> int:
        raise RuntimeError("derived rows cannot be written")

    def forget(self) -> None:
        return None

    def idle(self, store: Store) -> bool:
        return False


@pytest.mark.both_stores
def test_a_batch_writes_its_labels_as_it_commits_and_none_when_rolled_back(store: Store) -> None:
    rec = Recorder(store)
    vms = [f"vm:00000000-0000-0000-0000-00000000001{i}" for i in range(3)]
    batch = [
        event("libvirt", i, ent(vm, name=f"db-{i}", mac=f"52:54:00:AA:00:0{i}"))
        for i, vm in enumerate(vms)
    ]
    store.derivers.append(_Fails())
    with pytest.raises(RuntimeError, match="derived rows"):
        rec.record(batch)
    assert store.labels_due == []
    assert not store.conn.execute("SELECT 1 FROM label").fetchall()
    store.derivers.clear()
    rec.record(batch)
    rows = set(store.conn.execute("SELECT key, value FROM label"))
    assert rows == {("name", f"db-{i}") for i in range(3)} | {
        ("mac", f"52:54:00:aa:00:0{i}") for i in range(3)
    }


def test_counts_hold_after_a_lost_journal_commit(tmp_path: Path) -> None:
    # The history committed, the journal did not: the history is rolled back to
    # before the lost batch and derived again, deleting rows as it goes.
    obs = story()
    store = SqliteStore(tmp_path / "ab.db")
    Recorder(store).record(obs[:6])
    store.close()
    shutil.copy(journal_path(tmp_path / "ab.db"), tmp_path / "journal-a")
    store = SqliteStore(tmp_path / "ab.db")
    Recorder(store).record(obs[6:])
    store.close()
    shutil.copy(tmp_path / "journal-a", journal_path(tmp_path / "ab.db"))

    store = SqliteStore(tmp_path / "ab.db")
    Recorder(store)  # repairs
    only_a = SqliteStore(tmp_path / "a.db")
    Recorder(only_a).record(obs[:6])
    assert counted(store) == counted(only_a)
