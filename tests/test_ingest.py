"""File ingest is atomic and precise about bad lines; rebuild replays to an identical history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory import ent, event, rel, sample, snap
from test_recorder_order import history
from vtrail.cli.main import app
from vtrail.recording.ingest import ingest_lines, rebuild
from vtrail.store import SqliteStore
from vtrail.store.journal import Journal
from vtrail.store.reads.stats import StatsReader
from vtrail.wire import ObservationError, json_schema, to_line

pytestmark = pytest.mark.both_stores

GOOD = [
    to_line(snap("a", 0, ent("vm:1", name="web"), rel("vm:1", "runs_on", "host:a"))),
    to_line(event("a", 5, ent("vm:2", name="db"), sample("vm:2", "cpu_time_ns", 10))),
    to_line(snap("a", 10, ent("vm:2", name="db"))),
]
BAD = {
    "not json": ("{", "not JSON"),
    "wrong type": (
        '{"source": 5, "observed_at": "2026-11-20T03:00:00Z", "kind": "event"}',
        "source",
    ),
    "missing field": ('{"source": "a", "kind": "event"}', "observed_at: Field required"),
    "year 1900": (
        '{"source": "a", "observed_at": "1900-01-01T00:00:00Z", "kind": "event"}',
        "impossible time",
    ),
    "far future": (
        '{"source": "a", "observed_at": "2999-01-01T00:00:00Z", "kind": "event"}',
        "future",
    ),
    "bad id": (
        '{"source": "a", "observed_at": "2026-11-20T03:00:00Z", "kind": "event", "gone": ["VM 1"]}',
        "kind:key",
    ),
    "unknown field": (
        '{"source": "a", "observed_at": "2026-11-20T03:00:00Z", "kind": "event", "entites": []}',
        "entites: unknown field",
    ),
    "unknown relation": (
        '{"source": "a", "observed_at": "2026-11-20T03:00:00Z", "kind": "event", '
        '"relations": [{"src": "vm:1", "rel": "lives_in", "dst": "host:a"}]}',
        "unknown relation 'lives_in'",
    ),
    "no zone": (
        '{"source": "a", "observed_at": "2026-11-20T03:00:00", "kind": "event"}',
        "no zone",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_line_rejects_the_whole_file(store: SqliteStore, case: str) -> None:
    ingest_lines(store, GOOD[:1])
    before = StatsReader(store).counts()
    line, reason = BAD[case]
    with pytest.raises(ObservationError) as err:
        ingest_lines(store, [*GOOD[1:], line])
    assert err.value.line == 3 and reason in str(err.value)
    assert StatsReader(store).counts() == before


def test_cli_ingest_reports_line_and_reason(tmp_path: Path) -> None:
    f = tmp_path / "obs.jsonl"
    f.write_text("\n".join([*GOOD, BAD["year 1900"][0]]) + "\n")
    r = CliRunner().invoke(app, ["ingest", str(f), "--db", str(tmp_path / "x.db")])
    assert r.exit_code == 1
    assert "line 4: observed_at: impossible time 1900-01-01" in r.output
    f.write_text("\n".join(GOOD) + "\n\n")
    r = CliRunner().invoke(app, ["ingest", str(f), "--db", str(tmp_path / "x.db")])
    assert r.exit_code == 0 and "recorded 3 observations" in r.output
    r = CliRunner().invoke(
        app, ["ingest", "-", "--db", str(tmp_path / "x.db")], input="\n".join(GOOD)
    )
    assert r.exit_code == 0 and "3 already known" in r.output


def test_rebuild_gives_an_identical_history(store: SqliteStore, tmp_path: Path) -> None:
    lines = [*GOOD, to_line(snap("a", 3, ent("vm:1", name="late")))]  # one late arrival
    ingest_lines(store, lines)
    stats = rebuild(store, tmp_path / "rebuilt.db")
    assert stats.observations == 4
    fresh = SqliteStore(tmp_path / "rebuilt.db")
    assert history(fresh) == history(store)
    assert list(Journal(fresh).entries()) == list(Journal(store).entries())
    fresh.close()


def test_cli_rebuild_in_place(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    f = tmp_path / "o.jsonl"
    f.write_text("\n".join(GOOD))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(f), "--db", str(db)]).exit_code == 0
    before = runner.invoke(app, ["history", "vm:2", "--db", str(db), "-o", "json"]).output
    r = runner.invoke(app, ["rebuild", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "v.before-rebuild.db").exists()
    assert (tmp_path / "v.before-rebuild.journal.db").exists()
    assert (tmp_path / "v.journal.db").exists()
    assert runner.invoke(app, ["history", "vm:2", "--db", str(db), "-o", "json"]).output == before


def test_shipped_schema_is_the_generated_one() -> None:
    shipped = Path(__file__).parents[1] / "src/vtrail/schema/observation.schema.json"
    assert json.loads(shipped.read_text()) == json_schema()
