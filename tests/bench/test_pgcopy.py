"""bench/pgcopy.py: a PostgreSQL store copied from the SQLite file a recorder wrote holds
exactly the rows the recorder writes to the server itself, on a history with every
kind of row (claims from several sources, relations, samples, vanishings, a lost
collector, journal keyframes and deltas); and `same_rows` does see a difference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pg.pgserver import Server
from pg.test_pg_store import fleet
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def pgcopy(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import pgcopy

    return pgcopy


def test_a_copied_store_holds_the_recorders_rows(
    pgcopy: Any, pg_server: Server, tmp_path: Path
) -> None:
    obs = sorted(
        (o for per_host in fleet(7).values() for o in per_host), key=lambda o: o.observed_at
    )
    recorded = open_store(pg_server.database())
    copied = open_store(pg_server.database())
    lite = open_store(tmp_path / "v.db")
    try:
        for store in (recorded, lite):
            rec = Recorder(store)
            for i in range(0, len(obs), 7):
                rec.record(obs[i : i + 7])
        counts = pgcopy.copy(lite, copied)
        assert counts["version"] and counts["relation"] and counts["sample_open"]
        assert counts["journal_base"], "no journal keyframe: the history is too small"
        assert pgcopy.same_rows(recorded, copied) == []
        # The server goes on from the copied rows: the next entity gets the next id.
        for store in (recorded, copied):
            assert store.entity_id("vm:new", create=True) == counts["entity"] + 1
        copied.conn.execute("UPDATE version SET attrs = 'x' WHERE valid_to IS NULL AND entity = 1")
        differ = pgcopy.same_rows(recorded, copied)
        assert len(differ) == 1 and differ[0].startswith("version:")
    finally:
        for store in (recorded, copied, lite):
            store.close()
