"""The API answers while it is busy: reads never wait behind writes or behind each
other's Python work (issue 16, item 7; issue 9, "the API does not block or scan").

A real server on loopback (uvicorn in a thread) and real worker processes. To
hold a whole-fabric question mid-answer without timing anything, its worker
processes are stopped with SIGSTOP and let go with SIGCONT.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.story import WEB, at, record_story
from vtrail.api import Settings, create_app
from vtrail.recording.ingest import ingest_lines
from vtrail.store import SqliteStore, open_store
from vtrail.store import tokens as token_store
from vtrail.timeexpr import iso


@pytest.fixture
def db(db_location: str) -> Path:
    """The story in a fresh store: a SQLite file or, marked `both_stores`, a PostgreSQL
    database too."""
    return Path(record_story(db_location))


@contextmanager
def served(settings: Settings) -> Iterator[tuple[httpx2.Client, FastAPI]]:
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def workers_stopped(app: FastAPI) -> Iterator[None]:
    pids = app.state.heavy.pids()
    assert pids, "the workers have not started"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def answers(client: httpx2.Client) -> dict[tuple[str, str], float]:
    """vtrail_answers{question, how} from /metrics."""
    found = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("vtrail_answers_total{"):
            labels, value = line.split("} ")
            pairs = dict(
                p.split("=") for p in labels.removeprefix("vtrail_answers_total{").split(",")
            )
            found[pairs["question"].strip('"'), pairs["how"].strip('"')] = float(value)
    return found


def wait_until(done: Any, what: str) -> None:
    for _ in range(3000):
        if done():
            return
        time.sleep(0.01)
    raise AssertionError(f"never: {what}")


T12 = iso(at(12))


@pytest.mark.both_stores
def test_light_questions_answer_while_whole_fabric_ones_are_held(db: Path) -> None:
    """The reproduction: 20 clients asking for snapshots kept `where` waiting for 15 s.
    Now a snapshot held mid-answer keeps nothing else waiting."""
    with served(Settings(db=db)) as (client, app):
        assert client.get("/api/snapshot", params={"at": T12}).status_code == 200
        with ThreadPoolExecutor(20) as pool, workers_stopped(app):
            held = [
                pool.submit(client.get, "/api/snapshot", params={"at": iso(at(m))})
                for m in range(20)
            ]
            wait_until(lambda: app.state.heavy.waiting() == 19, "the other 19 waiting")
            for url, params in [
                ("/api/where", {"what": "web-1", "at": T12}),
                (f"/api/show/{WEB}", {"at": T12}),
                (f"/api/history/{WEB}", {}),
                ("/api/stats", {}),
                ("/api/search", {"q": "web"}),
            ]:
                r = client.get(url, params=params)
                assert r.status_code == 200, (url, r.text)
            assert not any(f.done() for f in held)
        assert all(f.result().status_code == 200 for f in held)


def started(app: FastAPI, n: int) -> bool:
    """`n` snapshots asked anew, and none of them waiting: the last has begun."""
    heavy = app.state.heavy
    return heavy.counts["snapshot", "asked"] >= n and heavy.waiting() == 0


@pytest.mark.both_stores
def test_identical_questions_waiting_are_asked_once(db: Path) -> None:
    with served(Settings(db=db)) as (client, app):
        client.get("/api/snapshot", params={"at": T12})
        before = answers(client)
        with ThreadPoolExecutor(12) as pool, workers_stopped(app):
            first = pool.submit(client.get, "/api/snapshot")
            wait_until(lambda: started(app, 2), "the first one begun")
            rest = [pool.submit(client.get, "/api/snapshot") for _ in range(10)]
            wait_until(lambda: answers(client).get(("snapshot", "joined"), 0) >= 9, "joined")
        bodies = {json.dumps(f.result().json()) for f in rest}
        assert first.result().status_code == 200
        after = answers(client)
        # The first, then one for the ten that waited behind it: two answers for eleven.
        computed = after.get(("snapshot", "computed"), 0) - before.get(("snapshot", "computed"), 0)
        assert computed == 2
        assert len(bodies) == 1


@pytest.mark.both_stores
def test_a_joined_answer_is_never_older_than_the_request(db: Path, tmp_path: Path) -> None:
    """A snapshot of now begun before a write is not handed to a request made after it."""
    store = open_store(db)
    _, writer = token_store.create(store, "writer", "test")
    store.close()
    late = {
        "source": "story@hv-c",
        "observed_at": iso(at(45)),
        "kind": "snapshot",
        "entities": [{"id": "host:hv-c", "attrs": {"hostname": "hv-c"}}],
    }
    with served(Settings(db=db)) as (client, app):
        client.get("/api/snapshot", params={"at": T12})
        with ThreadPoolExecutor(2) as pool, workers_stopped(app):
            before = pool.submit(client.get, "/api/snapshot")
            wait_until(lambda: started(app, 2), "the first one begun")
            r = client.post(
                "/api/observations",
                content=json.dumps(late),
                headers={"Authorization": f"Bearer {writer}"},
            )
            assert r.status_code == 200, r.text
            after = pool.submit(client.get, "/api/snapshot")
            wait_until(lambda: app.state.heavy.waiting() == 1, "the second one waiting")
        ids = {e["entity"] for e in after.result().json()["entities"]}
        assert "host:hv-c" in ids
        assert before.result().status_code == 200


def test_an_answer_is_kept_until_the_store_changes(db: Path) -> None:
    """SQLite only: the answer cache knows a change by SQLite's `data_version`; on a
    server every whole-fabric answer is computed anew (docs/scale.md)."""
    store = SqliteStore(db)
    _, writer = token_store.create(store, "writer", "test")
    store.close()
    with served(Settings(db=db)) as (client, _app):
        first = client.get("/api/diff", params={"from": iso(at(2)), "to": T12})
        again = client.get("/api/diff", params={"from": iso(at(2)), "to": T12})
        assert again.content == first.content
        assert answers(client)[("diff", "cached")] == 1
        late = {"source": "story@hv-c", "observed_at": iso(at(5)), "kind": "snapshot",
                "entities": [{"id": "host:hv-c", "attrs": {}}]}  # fmt: skip
        headers = {"Authorization": f"Bearer {writer}"}
        assert client.post("/api/observations", json=late, headers=headers).status_code == 200
        changed = client.get("/api/diff", params={"from": iso(at(2)), "to": T12})
        assert "host:hv-c" in changed.text
        assert answers(client)[("diff", "computed")] == 2


@pytest.mark.both_stores
def test_a_large_answer_is_sent_gzipped_to_who_takes_it(db: Path) -> None:
    many = {
        "source": "story@racks",
        "observed_at": iso(at(11)),
        "kind": "snapshot",
        "entities": [
            {"id": f"host:rack-{n}", "attrs": {"hostname": f"rack-{n}"}} for n in range(2000)
        ],
    }
    store = open_store(db)
    ingest_lines(store, [json.dumps(many)])
    store.close()
    with TestClient(create_app(Settings(db=db))) as client:
        plain = client.get("/api/snapshot", params={"at": T12}, headers={"Accept-Encoding": ""})
        packed = client.get("/api/snapshot", params={"at": T12})
    assert plain.headers.get("content-encoding") is None
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.json() == plain.json()
    assert len(plain.json()["entities"]) > 2000
