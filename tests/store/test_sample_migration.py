"""`0010_exact_samples`: a store whose samples were REALs is converted exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrail.store import SqliteStore
from vtrail.store import samples as s
from vtrail.store import sqlite as sqlite_store
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.reads.samples import series, totals

EXACT = "0010_exact_samples"


def old_store(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store at the schema before 0010, with the blocks the writer makes (written by
    today's writer into a store of its own, then copied in the old columns)."""
    fresh = SqliteStore(path.with_name("writer.db"))
    counter, gauge, wide = (
        fresh.entity_id(x, create=True) for x in ("port:h/vnet0", "probe:a", "vm:busy")
    )
    w = s.SampleWriter(fresh)
    with fresh.write():
        for k in range(2 * s.BLOCK + 17):
            w.add(counter, "tx_bytes", 10_000_000 * k, 1_500 * k + (k % 3))
            w.add(gauge, "rtt_ms", 10_000_000 * k, 0.25 + k / 8)
            w.add(wide, "cpu_time_ns", 10_000_000 * k, float(2**60 + 4096 * k))
    cols = "entity, metric, t0, t1, n, v_first, v_last, increase, dt_last, data"
    blocks = {
        t: fresh.conn.execute(f"SELECT {cols} FROM {t} ORDER BY rowid").fetchall()
        if t == "sample"
        else fresh.conn.execute(f"SELECT {cols} FROM {t}").fetchall()
        for t in ("sample", "sample_open")
    }
    fresh.close()
    with monkeypatch.context() as m:
        m.setattr(sqlite_store, "MIGRATIONS", [x for x in MIGRATIONS if x.name < EXACT])
        store = SqliteStore(path)
    for x in ("port:h/vnet0", "probe:a", "vm:busy"):
        store.entity_id(x, create=True)
    with store.write():
        for table, rows in blocks.items():
            # A REAL column stores every value as a double, as the old writer's did.
            store.conn.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * 10)})", rows
            )
    assert {r[0] for r in store.conn.execute("SELECT typeof(v_first) FROM sample")} == {"real"}
    store.close()


def test_old_samples_become_exact_integers_and_floats_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    old_store(path, monkeypatch)
    store = SqliteStore(path)  # applies 0010
    assert EXACT in {name for name, _ in store.migrations()}
    counter, gauge, wide = (store.entity_id(x) for x in ("port:h/vnet0", "probe:a", "vm:busy"))
    rows = store.conn.execute(
        "SELECT entity, typeof(v_first), typeof(v_last), typeof(increase) FROM sample "
        "UNION ALL SELECT entity, typeof(v_first), typeof(v_last), typeof(increase) "
        "FROM sample_open"
    ).fetchall()
    assert {r[1:] for r in rows if r[0] == counter} == {("integer",) * 3}
    assert {r[1:] for r in rows if r[0] in (gauge, wide)} == {("real",) * 3}

    n = 2 * s.BLOCK + 17
    assert series(store, counter, "tx_bytes") == [
        (10_000_000 * k, 1_500 * k + (k % 3)) for k in range(n)
    ]
    assert all(type(v) is int for _, v in series(store, counter, "tx_bytes"))
    assert series(store, gauge, "rtt_ms") == [(10_000_000 * k, 0.25 + k / 8) for k in range(n)]
    assert series(store, wide, "cpu_time_ns")[-1] == (
        10_000_000 * (n - 1),
        2.0**60 + 4096 * (n - 1),
    )
    (tot,) = totals(store, counter)
    assert tot.total == tot.last - tot.first and type(tot.total) is int
    # Sealed blocks keep their rowids, so their order on disk.
    assert [r[0] for r in store.conn.execute("SELECT t0 FROM sample ORDER BY rowid")] == sorted(
        r[0] for r in store.conn.execute("SELECT t0 FROM sample")
    )
    assert store.conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'sample_series'").fetchone()

    # The series go on, exact to the top of a 64-bit counter.
    w = s.SampleWriter(store)
    with store.write():
        w.add(counter, "tx_bytes", 10_000_000 * n, 2**64 - 1)
        w.add(wide, "cpu_time_ns", 10_000_000 * n, 2**60 + 4096 * n + 1)
    assert series(store, counter, "tx_bytes")[-1] == (10_000_000 * n, 2**64 - 1)
    assert series(store, wide, "cpu_time_ns")[-1] == (10_000_000 * n, 2**60 + 4096 * n + 1)
    store.close()
