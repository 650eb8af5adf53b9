"""A bad observation can never poison the store: every way in validates, once, and the
journal is read back without validating again."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from factory import T0, at, disconnect, ent, event, rel, sample, snap
from test_recorder_order import history
from vtrail import wire
from vtrail.api import Settings, create_app
from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs
from vtrail.payload import decode, encode
from vtrail.recording.ingest import ingest_lines, rebuild
from vtrail.recording.recorder import Recorder
from vtrail.recording.writer import BatchWriter
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.store.journal import Journal
from vtrail.store.reads.stats import StatsReader
from vtrail.wire import ObservationError, check, parse_line, to_dict, to_line

pytestmark = pytest.mark.both_stores

GOOD = [
    snap("a", 0, ent("vm:1", name="web"), rel("vm:1", "runs_on", "host:a")),
    event("a", 5, ent("vm:2", name="db"), sample("vm:2", "cpu_time_ns", 10)),
    snap("a", 10, ent("vm:2", name="db"), sample("vm:2", "cpu_time_ns", 2**64 - 1)),
]


def spoil(o: Observation, **change: Any) -> Observation:
    return dataclasses.replace(o, **change)


def _sample(value: Any = 1, metric: str = "rx_bytes", entity: str = "port:h/p") -> SampleObs:
    return SampleObs(entity, metric, value)


#: Observations a collector might build by mistake, each with what the error names.
BAD: dict[str, tuple[Observation, str]] = {
    "bad id": (spoil(GOOD[1], gone=("VM 1",)), "gone.0: entity id 'VM 1'"),
    "kind differs": (
        spoil(GOOD[1], entities=(EntityObs("vm:3", "host"),)),
        "entities.0: entity vm:3: kind 'host'",
    ),
    "unknown relation": (
        spoil(GOOD[1], relations=(RelationObs(RelKey("vm:1", "lives_in", "host:a")),)),
        "relations.0.rel: unknown relation 'lives_in'",
    ),
    "bad metric": (spoil(GOOD[1], samples=(_sample(metric="RX Bytes"),)), "samples.0.metric"),
    "beyond 2^64": (spoil(GOOD[1], samples=(_sample(2**64),)), "samples.0.value: integer"),
    "nan": (spoil(GOOD[1], samples=(_sample(math.nan),)), "samples.0.value: nan is not"),
    "bool": (spoil(GOOD[1], samples=(_sample(True),)), "samples.0.value: a sample value is"),
    "text": (spoil(GOOD[1], samples=(_sample("5"),)), "samples.0.value: a sample value is"),
    "no zone": (spoil(GOOD[1], observed_at=datetime(2026, 11, 20)), "observed_at: time has no"),
    "year 1900": (spoil(GOOD[1], observed_at=T0.replace(year=1900)), "impossible time"),
    "nan attribute": (spoil(GOOD[1], entities=(ent("vm:3", load=math.inf),)), "attrs.load"),
    "not JSON": (spoil(GOOD[1], entities=(ent("vm:3", tags={"a"}),)), "attrs.tags: set"),
    "snapshot with gone": (spoil(GOOD[0], gone=("vm:1",)), "'gone' belongs to events"),
    "disconnect with things": (spoil(disconnect("a", 3), entities=GOOD[0].entities), "carries"),
    "empty source": (spoil(GOOD[1], source=""), "source: a string"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_refuses_what_the_parser_refuses_in_one_line(case: str) -> None:
    o, reason = BAD[case]
    with pytest.raises(ObservationError) as err:
        check(o)
    message = str(err.value)
    assert reason in message and "\n" not in message
    assert message.startswith("observation from 'a'") or case == "empty source"
    if case not in JSON_CANNOT_SAY:
        with pytest.raises(ObservationError):
            parse_line(json.dumps(to_dict(o)))


#: Cases the wire form cannot carry: a zone is always written, a set is no JSON.
JSON_CANNOT_SAY = {"no zone", "not JSON"}


def test_check_accepts_what_the_parser_accepts() -> None:
    for o in GOOD:
        assert check(o) is o
        assert check(parse_line(to_line(o))) == o


@given(
    st.lists(
        st.one_of(
            st.integers(wire.INT_MIN, wire.INT_MAX),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_journal_keeps_every_value_as_it_was_received(values: list[int | float]) -> None:
    o = Observation(
        "a",
        at(1),
        "event",
        samples=tuple(SampleObs(f"vm:{n}", "m", v) for n, v in enumerate(values)),
    )
    check(o)
    text, _ = encode(o)
    assert parse_line(text) == decode(text) == o
    got = [x.value for x in decode(text).samples]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in values]
    assert encode(decode(text))[0] == text  # a rebuild journals the very same text


# -- nothing is written, and every later replay still works ---------------------------------


def dump(store: SqliteStore) -> tuple[Any, ...]:
    return (*history(store), list(Journal(store).entries()), StatsReader(store).counts())


def test_a_rejected_observation_leaves_the_store_and_later_replays_intact(
    store: SqliteStore, recorder: Recorder, tmp_path: Path
) -> None:
    recorder.record(GOOD)
    before = dump(store)
    for o, _ in BAD.values():
        with pytest.raises(ObservationError):
            recorder.record([snap("a", 20, ent("vm:9", name="new")), o])
        assert dump(store) == before
    # A late arrival re-derives from the journal; so does a rebuild.
    stats = recorder.record([snap("a", 7, ent("vm:2", name="db-late"))])
    assert stats.replays == 1
    assert ("vm:2", {"name": "db-late"}) in [(v[0], v[3]) for v in history(store)[0]]
    rebuild(store, tmp_path / "rebuilt.db")
    fresh = SqliteStore(tmp_path / "rebuilt.db")
    assert history(fresh) == history(store)
    fresh.close()


@pytest.fixture
def no_validator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """Make the public validator fail loudly, and count how often it was asked."""
    calls = 0

    def refuse(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise AssertionError("the journal was validated again")

    monkeypatch.setattr(wire.ObservationIn, "model_validate", refuse)
    yield lambda: calls


def test_replay_rebuild_and_repair_never_validate_again(
    store: SqliteStore, tmp_path: Path, no_validator: Callable[[], int]
) -> None:
    recorder = Recorder(store)
    recorder.record(GOOD)
    recorder.record([event("a", 3, ent("vm:1", name="late"))])  # re-derives from t=3
    rebuild(store, tmp_path / "rebuilt.db")
    # A crash after the journal's commit and before the history's: repaired by replay.
    # (A server commits both in one transaction: it has no such crash, nor `applied`.)
    if not store.dialect.remote:
        before = history(store)
        store.conn.execute("UPDATE applied SET seq = seq - 1")
        Recorder(store)
        assert history(store) == before
    assert no_validator() == 0


def test_a_journal_an_older_vtrail_let_a_bad_sample_into_still_replays(
    store: SqliteStore, recorder: Recorder, tmp_path: Path
) -> None:
    bad = spoil(GOOD[1], samples=(_sample(metric="RX Bytes"),))  # journalled unchecked
    recorder.record([GOOD[0], bad], validated=True)
    stats = recorder.record([snap("a", 2, ent("vm:1", name="web-2"))])  # late: replays `bad`
    assert stats.replays == 1
    rebuild(store, tmp_path / "rebuilt.db")
    fresh = SqliteStore(tmp_path / "rebuilt.db")
    assert history(fresh) == history(store)
    fresh.close()


# -- every way in ---------------------------------------------------------------------------


def test_collectors_bad_observation_is_dropped_and_named(store: SqliteStore) -> None:
    writer = BatchWriter(store)
    writer.start()
    bad, _ = BAD["beyond 2^64"]
    for o in (GOOD[0], bad, GOOD[2]):
        writer.put(o)
    assert writer.flush(10)
    writer.close(10)
    st = writer.stats()
    assert (st.recorded, st.dropped) == (2, 1)
    assert st.error == (
        "refused an observation from 'a' at 2026-11-20T03:00:05.000Z: samples.0.value: "
        "integer 18446744073709551616 is out of range: counters go from -2^63 to 2^64 - 1"
    )
    assert StatsReader(store).counts()["journal"] == 2


BAD_LINES = {
    "beyond 2^64": (
        '{"source":"a","observed_at":"2026-11-20T03:00:00Z","kind":"event",'
        '"samples":[{"entity":"vm:1","metric":"m","value":18446744073709551616}]}',
        "samples.0.value: integer 18446744073709551616 is out of range: "
        "counters go from -2^63 to 2^64 - 1",
    ),
    "NaN": (
        '{"source":"a","observed_at":"2026-11-20T03:00:00Z","kind":"event",'
        '"samples":[{"entity":"vm:1","metric":"m","value":NaN}]}',
        "not JSON: NaN is not a JSON number",
    ),
    "Infinity attribute": (
        '{"source":"a","observed_at":"2026-11-20T03:00:00Z","kind":"event",'
        '"entities":[{"id":"vm:1","attrs":{"load":-Infinity}}]}',
        "not JSON: -Infinity is not a JSON number",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_file_line_beyond_json_or_2_64_is_refused(store: SqliteStore, case: str) -> None:
    line, reason = BAD_LINES[case]
    with pytest.raises(ObservationError) as err:
        ingest_lines(store, [to_line(GOOD[0]), line])
    assert str(err.value) == f"line 2: {reason}"
    assert StatsReader(store).counts()["journal"] == 0


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_the_api_refuses_the_same_and_writes_nothing(tmp_path: Path, case: str) -> None:
    db = tmp_path / "vtrail.db"
    with TestClient(create_app(Settings(db=db))) as c:
        store = SqliteStore(db)
        _, writer = token_store.create(store, "writer", "ci")
        store.close()
        auth = {"Authorization": f"Bearer {writer}"}
        line, reason = BAD_LINES[case]
        r = c.post("/api/observations", content=f"{to_line(GOOD[0])}\n{line}", headers=auth)
        assert r.status_code == 422 and r.json()["detail"] == f"line 2: {reason}"
        body = f"[{to_line(GOOD[0])}, {line}]"
        r = c.post("/api/observations", content=body, headers=auth)
        assert r.status_code == 422 and reason.removeprefix("not JSON: ") in r.json()["detail"]
        store = SqliteStore(db, readonly=True)
        assert StatsReader(store).counts()["journal"] == 0
        store.close()
