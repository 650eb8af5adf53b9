"""`vtrail rebuild` and `vtrail compact` on a PostgreSQL store, through the real CLI, on
a real server: the rebuilt history is the one SQLite's rebuild gives from the same
journal, and compacting drops the same bodies and keeps the history."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from pg.pgserver import Server
from pg.test_pg_store import HOSTS, fleet, history
from vtrail.cli.main import app
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, StoreError, open_store, tokens
from vtrail.store.pgmaint import FRESH, Rebuild
from vtrail.store.postgres import PostgresStore


def arrivals() -> list[list[Observation]]:
    """Each host's observations in batches, one host after the other: most arrive late
    for the hosts before them, so the recorder puts them in place as it goes."""
    per_host = fleet(seed=11)
    return [per_host[h][i : i + 6] for h in HOSTS for i in range(0, len(per_host[h]), 6)]


def record(where: str | Path) -> Store:
    store = open_store(where)
    rec = Recorder(store)
    for batch in arrivals():
        rec.record(batch)
    return store


def test_rebuild_replays_the_journal_as_sqlites_rebuild_does(
    pg_server: Server, tmp_path: Path
) -> None:
    url, lite = pg_server.database(), tmp_path / "v.db"
    for where in (url, lite):
        store = record(where)
        if where == url:
            before = history(store)
            _, secret = tokens.create(store, "writer", "hv-a")
            # A stray row the recorder never writes: the rebuilt history must not hold it.
            store.conn.execute("UPDATE version SET attrs = 'x' WHERE valid_to IS NULL")
        store.close()
    runner = CliRunner()
    done = runner.invoke(app, ["rebuild", "--db", url])
    assert done.exit_code == 0, done.output
    assert "previous store: schema public_before_rebuild" in done.output
    assert runner.invoke(app, ["rebuild", "--db", str(lite)]).exit_code == 0

    pg, sq = open_store(url, readonly=True), open_store(lite, readonly=True)
    try:
        got = history(pg)
        assert got == history(sq)
        assert got == before
        # The token is carried over; the old schema is kept, with the stray row.
        assert tokens.lookup(pg, secret) is not None
        kept = pg.conn.execute(
            "SELECT count(*) FROM public_before_rebuild.version WHERE attrs = 'x'"
        ).fetchone()[0]
        assert kept > 0
    finally:
        pg.close()
        sq.close()


def test_a_rebuild_while_a_recorder_writes_changes_nothing(pg_server: Server) -> None:
    url = pg_server.database()
    store = record(url)
    assert isinstance(store, PostgresStore)
    before = history(store)
    job = Rebuild(store)
    other = open_store(url)
    try:
        Recorder(other).record(fleet(seed=12)["h0"][:1])
        after = history(other)
        try:
            job.swap()
        except StoreError as e:
            assert "the journal changed while it was replayed" in str(e)
            job.abandon()
        else:
            raise AssertionError("the swap went on with a journal that changed")
        assert history(store) == after != before
        assert store.conn.execute(f"SELECT to_regnamespace('{FRESH}')").fetchone()[0] is None
    finally:
        other.close()
        store.close()


def test_compact_drops_old_bodies_keeps_the_history_and_then_rebuild_is_refused(
    pg_server: Server,
) -> None:
    url = pg_server.database()
    store = record(url)
    before = history(store)
    store.close()
    runner = CliRunner()
    done = runner.invoke(app, ["compact", "--keep-days", "0", "--db", url])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("packed 0 bodies, dropped ")
    assert "replayable from" in done.output

    with psycopg.connect(url) as c:
        empty = c.execute("SELECT count(*) FROM journal WHERE body = ''::bytea").fetchone()[0]
    assert empty > 0
    store = open_store(url, readonly=True)
    try:
        assert history(store) == before
    finally:
        store.close()

    refused = runner.invoke(app, ["rebuild", "--db", url])
    assert refused.exit_code == 1
    assert refused.output.startswith("error: cannot rebuild")
    assert "were dropped by vtrail compact" in refused.output
    with psycopg.connect(url) as c:
        assert c.execute(f"SELECT to_regnamespace('{FRESH}')").fetchone()[0] is None
