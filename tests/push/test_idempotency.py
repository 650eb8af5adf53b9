"""`POST /api/observations` with an `Idempotency-Key`: a batch sent again after its reply was
lost is acknowledged again, recorded once, and counted as no duplicate; the real app
through its test client, on a real store: a SQLite file, and a PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from push.served import journaled, observations, writer_token
from vtrail.api import Settings, create_app
from vtrail.store import open_store
from vtrail.store.pushed import streams
from vtrail.wire import to_line


def body(start: int, count: int) -> bytes:
    return "".join(f"{to_line(o)}\n" for o in observations("hv-a", start, count)).encode()


def duplicates(client: TestClient) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("vtrail_observations_duplicate_total "):
            return float(line.split()[1])
    raise AssertionError("no duplicate counter")


pytestmark = pytest.mark.both_stores


@pytest.fixture
def client(db_location: str) -> TestClient:
    token = writer_token(db_location)
    c = TestClient(create_app(Settings(db=Path(db_location))))
    c.headers.update({"Authorization": f"Bearer {token}"})
    return c


def test_a_batch_sent_again_under_its_key_is_acknowledged_and_not_recorded_again(
    client: TestClient, db_location: str
) -> None:
    with client:
        first = client.post(
            "/api/observations",
            content=body(0, 20),
            headers={"Idempotency-Key": "hv-a-1:2", "Content-Type": "application/x-ndjson"},
        )
        assert first.status_code == 200 and first.json()["observations"] == 20
        assert "Idempotency-Replayed" not in first.headers
        again = client.post(
            "/api/observations",
            content=body(0, 20),
            headers={"Idempotency-Key": "hv-a-1:2", "Content-Type": "application/x-ndjson"},
        )
        assert again.status_code == 200
        assert again.headers["Idempotency-Replayed"] == "true"
        assert again.json()["observations"] == 0 and again.json()["duplicates"] == 20
        # Not taken to the recorder: the duplicate counter says no observation came twice.
        assert duplicates(client) == 0
        # An older number of the same stream is a re-send too; another stream is not.
        older = client.post(
            "/api/observations",
            content=body(20, 5),
            headers={"Idempotency-Key": "hv-a-1:1", "Content-Type": "application/x-ndjson"},
        )
        assert older.headers.get("Idempotency-Replayed") == "true"
        other = client.post(
            "/api/observations",
            content=body(20, 5),
            headers={"Idempotency-Key": "hv-b-9:1", "Content-Type": "application/x-ndjson"},
        )
        assert other.json()["observations"] == 5
    assert journaled(db_location) == {"push@hv-a": 25}
    store = open_store(db_location, readonly=True)
    try:
        assert [(s.stream, s.last_seq, s.batches, s.observations) for s in streams(store)] == [
            ("hv-a-1", 2, 1, 20),
            ("hv-b-9", 1, 1, 5),
        ]
    finally:
        store.close()


def test_a_refused_batch_leaves_its_number_unused(client: TestClient, db_location: str) -> None:
    with client:
        bad = body(0, 3) + b'{"source": "push@hv-a"}\n'
        refused = client.post("/api/observations", content=bad, headers={"Idempotency-Key": "s:4"})
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("line 4: ")
        # The same number with a good body is a first send, not a re-send.
        ok = client.post(
            "/api/observations", content=body(0, 3), headers={"Idempotency-Key": "s:4"}
        )
        assert ok.json()["observations"] == 3 and "Idempotency-Replayed" not in ok.headers
    assert journaled(db_location) == {"push@hv-a": 3}


@pytest.mark.parametrize("key", ["", "s", "s:0", "s:-1", "s:x", "a b:1", f"{'s' * 129}:1"])
def test_a_malformed_key_is_a_one_line_refusal_that_records_nothing(
    client: TestClient, db_location: str, key: str
) -> None:
    with client:
        r = client.post("/api/observations", content=body(0, 3), headers={"Idempotency-Key": key})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("Idempotency-Key: ")
    assert "\n" not in r.json()["detail"]
    assert journaled(db_location) == {}


def test_the_server_commits_what_it_acknowledges_with_a_synced_wal(client: TestClient) -> None:
    with client:
        assert client.post("/api/observations", content=body(0, 1)).status_code == 200
        writer = client.app.state.stores.writer()  # type: ignore[attr-defined]
        if writer.dialect.name == "postgresql":
            # A commit returns once its WAL is flushed on the server.
            assert writer.conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
            return
        # 2 is FULL, for the history's file and the journal's.
        assert writer.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert writer.conn.execute("PRAGMA jnl.synchronous").fetchone()[0] == 2


def test_batches_pushed_under_keys_take_the_live_sets_checkpoints(
    client: TestClient, db_location: str
) -> None:
    """Each keyed batch is recorded in the write that notes its key. The checkpoint of
    the live set that falls due is taken there, as for a batch recorded alone: a server
    fed only by pushing collectors took none before, and its snapshots read ever more
    history."""
    with client:
        client.app.state.stores.recorder().checkpoint_min = 10  # type: ignore[attr-defined]
        for seq in range(1, 5):
            sent = client.post(
                "/api/observations",
                content=body(20 * (seq - 1), 20),
                headers={
                    "Idempotency-Key": f"hv-a-1:{seq}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            assert sent.status_code == 200 and sent.json()["observations"] == 20
    store = open_store(db_location, readonly=True)
    try:
        taken = store.conn.execute("SELECT count(*) FROM checkpoint").fetchone()[0]
    finally:
        store.close()
    assert taken >= 1
