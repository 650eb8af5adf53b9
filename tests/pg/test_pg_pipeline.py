"""A batch on a server goes as a pipeline: its keys asked at once, its writes sent
without waiting (store/postgres.py, `Recorder._fetch_ahead`). The history must be
the one SQLite's statement-by-statement path writes, whatever the batch holds."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from factory import ent, event, rel, snap
from pg.pgserver import Server
from pg.test_pg_store import history
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, Store, open_store
from vtrail.store.conn import PipelineConflict, send
from vtrail.store.pgconn import PgConn

_tags = itertools.count()


@pytest.fixture(scope="module")
def pg(pg_server: Server) -> Iterator[Store]:
    store = open_store(pg_server.database("pipe"))
    yield store
    store.close()


@st.composite
def story(draw: Any, tag: str) -> list[Observation]:
    """Events and snapshots of two sources about four VMs and their edges: changes,
    repeats, vanishings, the same observation twice."""
    vms = [f"vm:{tag}-{i}" for i in range(4)]
    out: list[Observation] = []
    for t in sorted(draw(st.lists(st.integers(0, 40), min_size=1, max_size=14, unique=True))):
        src = f"agent-{draw(st.sampled_from('ab'))}-{tag}"
        kind = draw(st.sampled_from(["say", "say", "edge", "gone", "unedge", "snap"]))
        a, b = draw(st.sampled_from(vms)), draw(st.sampled_from(vms))
        if kind == "snap":
            shown = draw(st.lists(st.sampled_from(vms), unique=True, max_size=3))
            state = draw(st.sampled_from([1, 2]))
            out.append(snap(src, t, *(ent(v, state=state) for v in shown)))
        elif kind == "say":
            attrs = draw(
                st.dictionaries(st.sampled_from(["state", "mem"]), st.sampled_from([1, 2]))
            )
            out.append(event(src, t, ent(a, **attrs)))
        elif kind == "edge" and a != b:
            out.append(event(src, t, ent(a), ent(b), rel(a, "peer", b)))
        elif kind == "gone":
            out.append(event(src, t, gone=(a,)))
        elif a != b:
            out.append(event(src, t, gone_relations=((a, "peer", b),)))
    return out


def mine(store: Store, tag: str) -> list[tuple[object, ...]]:
    """The example's rows of the history (`history` decodes their attributes)."""
    return [r for r in history(store) if f"-{tag}" in str(r[1]) or f"-{tag}" in str(r[5])]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_a_pipelined_batch_writes_the_history_of_the_statement_path(
    pg: Store, tmp_path: Path, data: st.DataObject
) -> None:
    tag = f"x{next(_tags)}"
    obs = data.draw(story(tag))
    order = data.draw(st.permutations(range(len(obs))))
    arrived = [obs[i] for i in order]
    if arrived and data.draw(st.booleans()):
        arrived.append(arrived[0])  # the same observation again, in the same batch
    size = data.draw(st.integers(1, max(1, len(arrived))))
    note(f"{arrived} in batches of {size}")
    lite = SqliteStore(tmp_path / f"{tag}.db")
    for store in (lite, pg):
        rec = Recorder(store, checkpoint_min=3)
        for i in range(0, len(arrived), size):
            rec.record(arrived[i : i + size])
        rec.record(arrived)  # all of it again: nothing more is written
    want = mine(lite, tag)
    lite.close()
    assert mine(pg, tag) == want


def test_a_conflicting_insert_in_a_pipeline_is_raised_at_its_end(pg_server: Server) -> None:
    store = open_store(pg_server.database("conflict"))
    conn = store.conn
    conn.execute("CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT)")
    with (
        pytest.raises(PipelineConflict, match="UNIQUE constraint failed: INSERT INTO t"),
        store.write(),
        store.pipeline(),
    ):
        conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "x"))
        conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "y"))
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # rolled back
    # Held back and sent as one executemany, the same.
    with (
        pytest.raises(PipelineConflict, match="UNIQUE constraint failed: INSERT INTO t"),
        store.write(),
        store.pipeline(),
    ):
        for a in (1, 2, 1):
            send(conn, "INSERT INTO t (a, b) VALUES (?, ?)", (a, "x"))
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    # Held writes go before the next statement, which sees them.
    with store.write(), store.pipeline():
        for a in (1, 2, 3):
            send(conn, "INSERT INTO t (a, b) VALUES (?, ?)", (a, "x"))
        seen = conn.execute("SELECT count(*) FROM t").fetchone()[0]
        send(conn, "UPDATE t SET b = ? WHERE a = ?", ("y", 2))
    assert seen == 3
    assert conn.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [
        (1, "x"),
        (2, "y"),
        (3, "x"),
    ]
    conn.execute("DELETE FROM t")
    # Outside a pipeline the same INSERT raises at once, as sqlite3's does.
    with store.write():
        conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "x"))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "y"))
    assert conn.execute("SELECT b FROM t").fetchall() == [("x",)]
    store.close()


def test_a_batch_whose_pipeline_conflicts_is_done_again_statement_by_statement(
    pg_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real conflict needs a history the recorder never writes; the pipeline is made
    # to report one, to hold the recorder to rolling back and doing the batch again.
    store = open_store(pg_server.database("again"))
    real = PgConn.pipelined
    calls = []

    @contextmanager
    def conflicting(self: PgConn) -> Iterator[None]:
        calls.append(1)
        with real(self):
            yield
        if len(calls) == 1:
            raise PipelineConflict("UNIQUE constraint failed: INSERT INTO version")

    monkeypatch.setattr(PgConn, "pipelined", conflicting)
    rec = Recorder(store)
    batch = [event("agent", t, ent("vm:1", state=str(t))) for t in range(5)]
    stats = rec.record(batch)
    assert len(calls) == 1 and stats.observations == 5
    versions = store.conn.execute("SELECT count(*) FROM version").fetchone()[0]
    journal = store.conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    assert (versions, journal) == (5, 5)
    store.close()
