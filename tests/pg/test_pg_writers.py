"""Writers on one server store: a write that names what it writes holds only that
(store/postgres.py), and a statement's held rows go as one statement over arrays
(store/pgbulk.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pg.pgserver import Server
from vtrail.store import Store, open_store
from vtrail.store.conn import send
from vtrail.store.pgbulk import as_set
from vtrail.store.postgres import PostgresStore


@pytest.fixture
def two(pg_server: Server) -> Iterator[tuple[Store, Store]]:
    url = pg_server.database("writers")
    a, b = open_store(url), open_store(url)
    yield a, b
    a.close()
    b.close()


def waiting(store: Store, on: Store) -> bool:
    """Whether `on`'s connection waits for an advisory lock (held by another)."""
    assert isinstance(on, PostgresStore)
    pid = on.conn.raw.info.backend_pid
    row = store.conn.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = ? AND locktype = 'advisory' AND NOT granted",
        (pid,),
    ).fetchone()
    return bool(row[0])


def blocked_until_commit(holder: Store, other: Store, names: set[str] | None) -> None:
    """`other` writing `names` waits while `holder`'s write is open, and goes on after."""
    done = threading.Event()

    def write() -> None:
        with other.write(names):
            done.set()

    th = threading.Thread(target=write)
    th.start()
    watcher = open_store(holder.url, readonly=True)  # type: ignore[attr-defined]
    try:
        for _ in range(500):
            if waiting(watcher, other):
                break
            threading.Event().wait(0.01)
        assert waiting(watcher, other) and not done.is_set()
    finally:
        watcher.close()
    holder.conn.execute("COMMIT")
    holder.conn.execute("BEGIN")  # the holder's block ends as it began
    th.join(10)
    assert done.is_set()


def test_a_named_write_waits_only_for_writes_of_its_names(two: tuple[Store, Store]) -> None:
    a, b = two
    with a.write({"svm-agent", "evm:1"}):
        # Other names: at once, while `a` holds its own.
        with b.write({"svm-agent-2", "evm:2"}):
            b.conn.execute("SELECT 1")
        # One name in common: after `a` commits.
        blocked_until_commit(a, b, {"evm:1", "evm:3"})
    with a.write({"evm:1"}):
        # The whole store waits for any named write, and a named one for it.
        blocked_until_commit(a, b, None)
    with a.write():
        blocked_until_commit(a, b, {"evm:9"})


@pytest.mark.parametrize(
    ("text", "bulk"),
    [
        (
            "INSERT INTO version (entity, valid_from, valid_to, attrs) "
            "VALUES (%s, %s, NULL, %s) ON CONFLICT DO NOTHING",
            "INSERT INTO version (entity, valid_from, valid_to, attrs) SELECT u.p1, u.p2, NULL, "
            "u.p3 FROM unnest(CAST(%b AS bigint[]), CAST(%b AS bigint[]), CAST(%b AS text[])) "
            "AS u(p1, p2, p3) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT INTO label VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            "INSERT INTO label SELECT u.p1, u.p2, u.p3 FROM unnest(CAST(%b AS text[]), "
            "CAST(%b AS text[]), CAST(%b AS bigint[])) AS u(p1, p2, p3) ON CONFLICT DO NOTHING",
        ),
        (
            "UPDATE source SET observations = observations + %s WHERE id = %s",
            "UPDATE source SET observations = observations + u.p1 FROM unnest(CAST(%b AS "
            "bigint[]), CAST(%b AS bigint[])) AS u(p1, p2) WHERE id = u.p2",
        ),
        (
            "DELETE FROM claim WHERE a = %s AND rel = %s",
            "DELETE FROM claim USING unnest(CAST(%b AS bigint[]), CAST(%b AS text[])) "
            "AS u(p1, p2) WHERE a = u.p1 AND rel = u.p2",
        ),
        # A mark that is not a column's value, or a table it does not know: left as it is.
        ("UPDATE version SET valid_to = greatest(valid_to, %s) WHERE entity = %s", None),
        ("INSERT INTO nowhere (a) VALUES (%s)", None),
        ("SELECT %s", None),
    ],
)
def test_held_rows_become_one_statement_over_arrays(text: str, bulk: str | None) -> None:
    known = {
        "version": [
            ("entity", "bigint"),
            ("valid_from", "bigint"),
            ("valid_to", "bigint"),
            ("attrs", "text"),
        ],
        "label": [("key", "text"), ("value", "text"), ("entity", "bigint")],
        "source": [("id", "bigint"), ("name", "text"), ("observations", "bigint")],
        "claim": [("a", "bigint"), ("rel", "text"), ("b", "bigint")],
    }
    assert as_set(text, lambda t: known.get(t, [])) == bulk


def test_held_rows_sent_as_one_statement_write_what_each_would(pg_server: Server) -> None:
    store = open_store(pg_server.database("bulk"))
    c = store.conn
    c.execute("CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT, c BYTEA, d BIGINT)")
    c.execute("INSERT INTO t VALUES (1, 'old', NULL, 5), (2, 'old', NULL, 5), (9, 'x', NULL, 0)")
    with store.write(), store.pipeline():
        for a, b in ((1, "new"), (2, None)):
            send(c, "UPDATE t SET b = ?, d = d + ? WHERE a = ?", (b, 10, a), ("t", a))
        for a in (3, 4):
            send(
                c,
                "INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
                (a, 'it\'s, "odd"', b"\x00,"),
                ("t", a),
            )
        send(c, "DELETE FROM t WHERE a = ?", (9,), ("t", 9))
        # A second write to a held row sends what is held first: the last one holds.
        send(c, "UPDATE t SET b = ?, d = d + ? WHERE a = ?", ("newer", 1, 1), ("t", 1))
    rows = c.execute("SELECT a, b, c, d FROM t ORDER BY a").fetchall()
    assert rows == [
        (1, "newer", None, 16),
        (2, None, None, 15),
        (3, 'it\'s, "odd"', b"\x00,", None),
        (4, 'it\'s, "odd"', b"\x00,", None),
    ]
    store.close()
