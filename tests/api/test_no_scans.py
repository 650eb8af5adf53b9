"""Questions that look one thing up seek; /metrics reads counts kept as rows come and go
(issue 9, "the API does not block or scan").

Every statement a lookup runs is captured (SQLite's trace, with its values) and
its plan asked of SQLite itself: none may read the whole entity table, and a
scrape may count no history table. Plans are SQLite's; what a lookup finds and what
a scrape counts is asked of both stores.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.story import WEB, at, record_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.query import names, state
from vtrail.recording.ingest import ingest_lines
from vtrail.store import SqliteStore, open_store
from vtrail.store.reads.stats import StatsReader
from vtrail.store.sqlite import journal_path
from vtrail.timeexpr import iso

#: A NIC known only by its id: no `mac` attribute to find it by.
BARE_NIC = f"nic:{WEB[3:]}/52:54:00:aa:bb:cc"


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file, or a PostgreSQL database for a test parametrised over STORES."""
    path = recorded(request, tmp_path_factory, "scans", record_story)
    store = open_store(path)
    lines = [
        {
            "source": "story@hv-b",
            "observed_at": iso(at(40.5)),
            "kind": "event",
            "entities": [{"id": BARE_NIC, "attrs": {"model": "e1000"}}],
            "relations": [{"src": WEB, "rel": "has_nic", "dst": BARE_NIC}],
            "samples": [{"entity": BARE_NIC, "metric": "rx_bytes", "value": n} for n in (1, 2)],
        },
        # Late: history after minute 3 is derived again, rows deleted and written anew.
        {
            "source": "story@hv-c",
            "observed_at": iso(at(3)),
            "kind": "snapshot",
            "entities": [{"id": "host:hv-c", "attrs": {"hostname": "hv-c"}}],
        },
    ]
    ingest_lines(store, [json.dumps(o) for o in lines])
    store.close()
    return Path(path)


@contextmanager
def plans(store: SqliteStore) -> Iterator[Callable[[], list[str]]]:
    """The query plan of every statement run on `store` meanwhile, one line per step."""
    ran: list[str] = []
    store.conn.set_trace_callback(ran.append)
    found: list[str] = []
    try:
        yield lambda: found
    finally:
        store.conn.set_trace_callback(None)
        probe = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
        probe.execute("ATTACH DATABASE ? AS jnl", (f"file:{journal_path(store.path)}?mode=ro",))
        for sql in ran:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                steps = probe.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                found += [f"{step[3]}    <- {sql}" for step in steps]
        probe.close()


def whole_table_reads(steps: list[str], table: str) -> list[str]:
    return [s for s in steps if re.match(rf"SCAN {table}\b", s)]


@pytest.mark.parametrize("what", ["52:54:00:aa:bb:cc", "52:54:00:00:01:10", "10.0.1.10", "web-1"])
def test_a_lookup_seeks(db: Path, what: str) -> None:
    store = SqliteStore(db, readonly=True)
    try:
        with plans(store) as steps:
            found = state.where(store, what, at(41))
        assert found.entity == WEB
        assert whole_table_reads(steps(), "entity") == []
    finally:
        store.close()


@pytest.mark.parametrize("db", STORES, indirect=True)
def test_a_nic_known_only_by_its_id_is_found_by_its_mac(db: Path) -> None:
    store = open_store(db, readonly=True)
    try:
        assert names.resolve(store, "52:54:00:AA:BB:CC") == [BARE_NIC]
    finally:
        store.close()


@pytest.mark.parametrize("db", STORES, indirect=True)
def test_the_counts_are_kept_not_counted(db: Path) -> None:
    store = open_store(db, readonly=True)
    try:
        if isinstance(store, SqliteStore):
            with plans(store) as steps:
                kept = StatsReader(store).counts()
        else:
            kept = StatsReader(store).counts()
            steps = list  # plans are SQLite's: the server's counts are compared only
        c = store.conn
        counted = {
            table: c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "entity",
                "version",
                "relation",
                "sample",
                "journal",
                "source",
                "checkpoint",
            )
        }
        counted["sample_readings"] = c.execute(
            "SELECT (SELECT ifnull(sum(n), 0) FROM sample) + (SELECT ifnull(sum(n), 0) FROM sample_open)"
        ).fetchone()[0]
        counted["live_entities"] = c.execute(
            "SELECT count(*) FROM version WHERE valid_to IS NULL"
        ).fetchone()[0]
        assert kept == counted
        for table in ("entity", "version", "relation", "sample", "journal"):
            assert whole_table_reads(steps(), table) == [], table
    finally:
        store.close()


@pytest.mark.parametrize("db", STORES, indirect=True)
def test_metrics_say_the_kept_counts(db: Path) -> None:
    with TestClient(create_app(Settings(db=db))) as client:
        text = client.get("/metrics").text
    store = open_store(db, readonly=True)
    try:
        counts = StatsReader(store).counts()
    finally:
        store.close()
    for table, n in counts.items():
        assert f'vtrail_store_rows{{table="{table}"}} {float(n)}' in text


#: What a user may type for each question that looks a thing up, in every form.
LOOKUPS: list[tuple[str, dict[str, str]]] = [
    ("/api/where", {"what": "52:54:00:AA:BB:CC", "at": iso(at(41))}),
    ("/api/where", {"what": "10.0.1.10/24", "at": iso(at(41))}),
    ("/api/where", {"what": "10.0.1.10@web-1", "at": iso(at(41))}),
    ("/api/where", {"what": "10.0.1.10", "space": "web-1", "at": iso(at(41))}),
    ("/api/show/52:54:00:00:01:10", {"at": iso(at(41))}),
    ("/api/show/10.0.2.20", {"at": iso(at(41))}),
    ("/api/history/web-1", {}),
    ("/api/lifetime/10.0.1.10", {}),
    ("/api/counters/52:54:00:aa:bb:cc", {}),
    ("/api/path", {"a": "web-1", "b": "10.0.2.20", "at": iso(at(41))}),
    ("/api/path", {"a": "52:54:00:00:01:10", "b": "db-1", "at": iso(at(41))}),
    ("/api/policy", {"at": iso(at(41))}),
]


def explained(db: Path, ran: list[str]) -> list[str]:
    """The plan of each read statement in `ran`, one line per step."""
    probe = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    probe.execute("ATTACH DATABASE ? AS jnl", (f"file:{journal_path(db)}?mode=ro",))
    found: list[str] = []
    try:
        for sql in ran:
            # The checkpoint's temporary tables are the connection's own: whole-fabric
            # reads, which no lookup makes.
            if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "temp." not in sql:
                steps = probe.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                found += [f"{step[3]}    <- {sql}" for step in steps]
    finally:
        probe.close()
    return found


@pytest.mark.parametrize(("url", "params"), LOOKUPS, ids=[f"{u} {p}" for u, p in LOOKUPS])
def test_every_question_looks_up_by_an_index(
    db: Path, statements: list[tuple[bool, str]], url: str, params: dict[str, str]
) -> None:
    """A MAC, an address (bare, with its prefix length, in a space), a name: each is
    found by seeks, through the API, whichever question asks."""
    with TestClient(create_app(Settings(db=db))) as client:
        got = client.get(url, params=params)
    assert got.status_code == 200, got.text
    steps = explained(db, [sql for _, sql in statements])
    assert any("label" in s or "entity" in s for s in steps), "the lookup was not traced"
    for table in ("entity", "label"):
        assert whole_table_reads(steps, table) == [], table
