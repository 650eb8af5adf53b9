"""The snapshot's JSON made from rows (query/snapshot_json.py) is the answer's JSON, byte
for byte: what `vtrail snapshot -o json` and every other answer serialise through
`to_jsonable`, at every instant, for every kind, whatever the rows carry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.story import record_story
from factory import at, disconnect, ent, rel, snap
from stores import STORES, location
from vtrail.api import Settings, create_app
from vtrail.api.heavy import dumps
from vtrail.model import Observation, RelationObs, RelKey
from vtrail.query import state
from vtrail.query.jsonable import to_jsonable
from vtrail.query.snapshot_json import snapshot_jsonable
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.timeexpr import iso

ODD = "vm:99999999-9999-4999-8999-999999999999"
ODD_NIC = f"nic:{ODD[3:]}/52:54:00:99:99:99"


def _odd(seconds: float) -> list[Observation]:
    """Rows the story has none of: attributes of every JSON type and script, a relation
    with attributes, an instant with microseconds, a source that goes away and a
    version that vanishes behind it."""
    return [
        snap(
            "odd@hv-z",
            seconds,
            ent(
                ODD,
                name="vm-ünïcødé-名前",
                vcpus=2,
                big=2**64 - 1,
                ratio=0.1,
                small=-1e-300,
                flags=[True, False, None],
                nested={"z": [1, {"a": "\u2028"}], "a": ""},
                quote='"\\/\n\t',
            ),
            ent(ODD_NIC, mac="52:54:00:99:99:99"),
            ent("host:hv-z", hostname="hv-z"),
            rel(ODD, "runs_on", "host:hv-z"),
            RelationObs(RelKey(ODD, "has_nic", ODD_NIC), {"slot": 3, "model": "virtio"}),
        ),
    ]


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story and the odd rows on a SQLite file, then on a real PostgreSQL server."""
    where = location(request, request.param, tmp_path_factory.mktemp("snapjson") / "vtrail.db")
    path = Path(record_story(where))
    store = open_store(path)
    rec = Recorder(store)
    rec.record(_odd(60 * 12 + 0.000_123))
    rec.record(_odd(60 * 13 + 0.5))
    rec.record([disconnect("odd@hv-z", 60 * 14)])
    # Back without the VM: it vanished somewhere between minute 13.5 and 25.
    rec.record([snap("odd@hv-z", 60 * 25, ent("host:hv-z", hostname="hv-z"))])
    store.close()
    return path


def _instants() -> list[datetime]:
    minutes = [at(60 * m) for m in (0, 5, 6, 9.5, 12, 13, 14, 20, 24, 25, 30, 40, 45)]
    return [*minutes, at(60 * 12 + 0.000_123), at(60 * 13 + 0.5) + timedelta(microseconds=1)]


@pytest.mark.parametrize("kind", [None, "vm", "nic", "port", "host", "ip"])
def test_the_rows_make_the_answers_bytes(db: Path, kind: str | None) -> None:
    store = open_store(db, readonly=True)
    try:
        for t in _instants():
            want = dumps(to_jsonable(state.snapshot(store, t, kind)))
            assert dumps(snapshot_jsonable(store, t, kind)) == want, (iso(t), kind)
    finally:
        store.close()


def test_the_comparison_sees_what_is_rare(db: Path) -> None:
    # Each is in some answer compared above, or the byte check proves less than it says.
    store = open_store(db, readonly=True)
    try:
        texts = [dumps(snapshot_jsonable(store, t)).decode() for t in _instants()]
    finally:
        store.close()
    seen = "\n".join(texts)
    for rare in (
        '"vanished_between":["2026-11-20T03:13:00.500Z","2026-11-20T03:25:00.000Z"]',
        '"attrs":{"model":"virtio","slot":3}',
        "03:12:00.000123Z",
        "vm-ünïcødé-名前",
        str(2**64 - 1),
        '"to":null',
        '"to":"2026-11-20T03:',
    ):
        assert rare in seen, rare


def test_the_api_serves_those_bytes(db: Path) -> None:
    t = at(60 * 20)
    store = open_store(db, readonly=True)
    try:
        want = dumps(to_jsonable(state.snapshot(store, t)))
    finally:
        store.close()
    with TestClient(create_app(Settings(db=db))) as client:
        got = client.get("/api/snapshot", params={"at": iso(t)}, headers={"Accept-Encoding": ""})
    assert got.status_code == 200
    assert got.content == want


def test_an_unknown_kind_is_refused_the_same_way(db: Path) -> None:
    store = open_store(db, readonly=True)
    try:
        with pytest.raises(state.UnknownKind) as slow:
            state.snapshot(store, at(60), "bogus")
        with pytest.raises(state.UnknownKind) as fast:
            snapshot_jsonable(store, at(60), "bogus")
    finally:
        store.close()
    assert str(fast.value) == str(slow.value)
