"""A series is an entity's metric as one source read it (0014), and a sample says whether
it is a counter or a gauge: two vantages probing one target stay two series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import at, ent, sample
from vtrail.model import Observation, SampleObs
from vtrail.query.counters import counters
from vtrail.query.state import lifetime
from vtrail.recording.ingest import ingest_lines, rebuild
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store import sqlite as sqlite_store
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.reads.samples import series
from vtrail.wire import ObservationError, parse_lines, to_dict

DB1 = "vm:db-1"


def probe(vantage: str, seconds: float, loss: float) -> Observation:
    return Observation(
        f"probe:web-to-db@{vantage}",
        at(seconds),
        "event",
        (ent(DB1, name="db-1"),),
        samples=(SampleObs(DB1, "probe.loss", loss, None, "gauge"),),
    )


def test_two_vantages_on_one_target_are_two_series(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    rec = Recorder(store)
    rec.record([probe("netns:h-web", k, 0.0) for k in range(0, 50, 10)])
    rec.record([probe("netns:h-app", k + 5, 1.0) for k in range(0, 50, 10)])
    found = counters(store, DB1)
    by_source = {(s.source, s.metric, s.gauge): [v for _, v in s.points] for s in found.series}
    assert by_source == {
        ("probe:web-to-db@netns:h-app", "probe.loss", True): [1.0] * 5,
        ("probe:web-to-db@netns:h-web", "probe.loss", True): [0.0] * 5,
    }
    totals = {c.source: c for c in lifetime(store, DB1).counters}
    assert set(totals) == {"probe:web-to-db@netns:h-app", "probe:web-to-db@netns:h-web"}
    assert all(c.gauge and not c.from_birth for c in totals.values())
    # One series read alone is its source's readings only.
    n, src = store.entity_id(DB1), store.source_id("probe:web-to-db@netns:h-web")
    assert [v for _, v in series(store, n, "probe.loss", source=src)] == [0.0] * 5


def test_the_type_is_kept_through_the_wire_the_journal_and_a_rebuild(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "source": "blackbox@mon-1",
            "observed_at": "2026-11-20T03:00:00Z",
            "kind": "event",
            "entities": [{"id": DB1}],
            "samples": [
                {"entity": DB1, "metric": "probe.ok", "value": 1, "type": "gauge"},
                {"entity": DB1, "metric": "rx_bytes", "value": 10},
            ],
        }
    )
    [(o, _)] = list(parse_lines([line]))
    assert [s.type for s in o.samples] == ["gauge", "counter"]
    assert to_dict(o)["samples"][0]["type"] == "gauge"
    assert "type" not in to_dict(o)["samples"][1]
    store = SqliteStore(tmp_path / "w.db")
    ingest_lines(store, [line])
    rebuild(store, tmp_path / "again.db")
    again = SqliteStore(tmp_path / "again.db")
    for s in (store, again):
        kinds = {c.metric: c.gauge for c in lifetime(s, DB1).counters}
        assert kinds == {"probe.ok": True, "rx_bytes": False}


def test_a_type_that_is_neither_is_refused_in_one_line(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "source": "x",
            "observed_at": "2026-11-20T03:00:00Z",
            "kind": "event",
            "samples": [{"entity": DB1, "metric": "m", "value": 1, "type": "histogram"}],
        }
    )
    with pytest.raises(ObservationError, match=r"line 1: samples\.0\.type") as e:
        list(parse_lines([line]))
    assert "\n" not in str(e.value)
    bad = Observation("x", at(0), "event", samples=(SampleObs(DB1, "m", 1, None, "level"),))  # type: ignore[arg-type]
    store = SqliteStore(tmp_path / "r.db")
    with pytest.raises(ObservationError, match=r"samples\.0\.type"):
        Recorder(store).record([bad])
    assert store.conn.execute("SELECT count(*) FROM sample_open").fetchone()[0] == 0


def test_readings_from_before_0014_stay_a_series_of_unknown_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(sqlite_store, "MIGRATIONS", [x for x in MIGRATIONS if x.name < "0014"])
        old = SqliteStore(path)
        n = old.entity_id("port:h/vnet0", create=True)
        with old.write():
            old.conn.execute(
                "INSERT INTO sample_open (entity, metric, t0, t1, n, v_first, v_last, increase, "
                "dt_last, data) VALUES (?, 'tx_bytes', 0, 0, 1, 7, 7, 0, 0, x'00')",
                (n,),
            )
        old.close()
    store = SqliteStore(path)
    Recorder(store).record(
        [
            Observation(
                "netlink:@h", at(10), "event", samples=(sample("port:h/vnet0", "tx_bytes", 9),)
            )
        ]
    )
    found = {
        (s.source, tuple(v for _, v in s.points)) for s in counters(store, "port:h/vnet0").series
    }
    assert found == {(None, (7,)), ("netlink:@h", (9,))}
