"""The REST API: the CLI's questions with the CLI's JSON, one-line errors, tokens, writes,
on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.story import DB, GHOST, WEB, at, record_story, story_lines
from stores import STORES, recorded
from vtrail.api import Settings, create_app, is_loopback
from vtrail.cli.main import app as cli
from vtrail.store import open_store
from vtrail.store import tokens as token_store
from vtrail.store.reads.stats import StatsReader

pytestmark = pytest.mark.both_stores


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The story on a SQLite file, then on a real PostgreSQL server."""
    return str(recorded(request, tmp_path_factory, "story", record_story))


@pytest.fixture(scope="module")
def client(db: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=Path(db)))) as c:
        yield c


def cli_json(db: str, *args: str) -> object:
    done = CliRunner().invoke(cli, [*args, "--db", db, "-o", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


T2, T12, T25 = (at(m).isoformat() for m in (2, 12, 25))

SAME_AS_CLI = [
    ("/api/where", {"what": "web-1", "at": T12}, ["where", "web-1", "--at", T12]),
    (f"/api/show/{GHOST}", {"at": at(6).isoformat()}, ["show", GHOST, "--at", at(6).isoformat()]),
    (f"/api/history/{WEB}", {}, ["history", WEB]),
    (f"/api/lifetime/{GHOST}", {}, ["lifetime", GHOST]),
    ("/api/diff", {"from": T2, "to": T12}, ["diff", "--from", T2, "--to", T12]),
    ("/api/ghosts", {"from": T2, "to": T25}, ["ghosts", "--from", T2, "--to", T25]),
    ("/api/snapshot", {"at": T25}, ["snapshot", "--at", T25]),
    ("/api/topology", {"at": T12}, ["topology", "--at", T12]),
    ("/api/topology", {"at": T2, "around": "db-1", "depth": 2},
     ["topology", "--at", T2, "--around", "db-1", "--depth", "2"]),
    ("/api/path", {"a": "web-1", "b": "db-1", "at": T25}, ["path", "web-1", "db-1", "--at", T25]),
    ("/api/path", {"a": "web-1", "b": "db-1", "at": T2, "compare": T12},
     ["path", "web-1", "db-1", "--at", T2, "--compare", T12]),
    ("/api/timeline", {"from": T2, "to": T25, "buckets": 23},
     ["timeline", "--from", T2, "--to", T25, "--buckets", "23"]),
    (f"/api/counters/{GHOST}", {"from": T2}, ["counters", GHOST, "--from", T2]),
    ("/api/search", {"q": "br-", "limit": 3}, ["search", "br-", "--limit", "3"]),
]  # fmt: skip


@pytest.mark.parametrize(("url", "params", "argv"), SAME_AS_CLI, ids=[s[0] for s in SAME_AS_CLI])
def test_every_question_answers_with_the_cli_json(
    client: TestClient, db: str, url: str, params: dict[str, str], argv: list[str]
) -> None:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    assert r.json() == cli_json(db, *argv)


def test_stats_and_openapi(client: TestClient, db: str) -> None:
    assert client.get("/api/stats").json() == cli_json(db, "stats")
    spec = client.get("/api/openapi.json").json()
    for p in (
        "/api/where",
        "/api/show/{id}",
        "/api/history/{id}",
        "/api/diff",
        "/api/ghosts",
        "/api/snapshot",
        "/api/topology",
        "/api/path",
        "/api/stats",
        "/api/observations",
    ):
        assert p in spec["paths"], p  # fmt: skip
    assert "token" in spec["components"]["securitySchemes"]


def test_dot_over_http_and_page_helpers(client: TestClient, db: str) -> None:
    r = client.get("/api/topology", params={"at": T12, "output": "dot"})
    assert r.status_code == 200 and r.text.startswith("digraph vtrail {")
    dot = CliRunner().invoke(cli, ["topology", "--at", T12, "--db", db, "-o", "dot"])
    assert dot.exit_code == 0 and dot.stdout == r.text
    tl = client.get("/api/timeline", params={"buckets": 40}).json()
    assert len(tl["changes"]) == 40 and tl["changes"][0] > 0  # the first snapshot
    assert tl["changes"][5] > 0  # minute 5: the ghost bridge appears
    found = client.get("/api/search", params={"q": "db-1"}).json()
    assert found["query"] == "db-1"
    assert found["hits"][0] == {"id": DB, "kind": "vm", "name": "db-1"}
    counters = client.get(f"/api/counters/{GHOST}").json()
    assert counters["series"][0]["metric"] == "tx_bytes"
    assert [v for _, v in counters["series"][0]["points"]] == [40_000_000, 80_000_000]


@pytest.mark.parametrize(
    ("url", "params", "status", "detail"),
    [
        ("/api/where", {"what": "nope"}, 404, "nothing recorded matches 'nope'"),
        ("/api/show/vm:0000", {}, 404, "nothing recorded matches"),
        ("/api/where", {"what": "web-1", "at": "half past"}, 422, "at: cannot read time"),
        ("/api/diff", {"from": T12, "to": T2}, 422, "ends"),
        ("/api/topology", {"depth": "99"}, 422, "depth: Input should be less than or equal to 10"),
        ("/api/where", {"what": "x\x00y"}, 422, "NUL"),
        ("/api/where", {"what": "web-1", "at": "-9999999999d"}, 422, "out of range"),
        ("/api/path", {"a": "web-1"}, 422, "b: Field required"),
        ("/api/path", {"a": "net:10.0.1.0/24", "b": "web-1"}, 422, "is a net"),
    ],
)
def test_bad_input_gets_a_one_line_4xx(
    client: TestClient, url: str, params: dict[str, str], status: int, detail: str
) -> None:
    r = client.get(url, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str)
    assert detail in body["detail"] and "\n" not in body["detail"]


# -- writes and tokens ----------------------------------------------------------------


@pytest.fixture
def fresh(db_location: str) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    db = db_location
    settings = Settings(db=Path(db), max_body=64 * 1024)
    with TestClient(create_app(settings)) as c:
        store = open_store(db)
        _, writer = token_store.create(store, "writer", "ci")
        _, reader = token_store.create(store, "reader", "grafana")
        store.close()
        yield c, db, {"writer": writer, "reader": reader}


def journal_size(db: str) -> int:
    store = open_store(db, readonly=True)
    try:
        return StatsReader(store).counts()["journal"]
    finally:
        store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_post_records_jsonl_all_or_nothing(fresh: tuple[TestClient, str, dict[str, str]]) -> None:
    c, db, tok = fresh
    lines = story_lines()[:6]
    bad = [*lines[:4], '{"source": "x", "kind": "snapshot"}', *lines[4:]]
    r = c.post("/api/observations", content="\n".join(bad), headers=bearer(tok["writer"]))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("line 5: observed_at")
    assert journal_size(db) == 0
    r = c.post("/api/observations", content="\n".join(lines), headers=bearer(tok["writer"]))
    assert r.status_code == 200, r.text
    assert r.json()["observations"] == 6 and r.json()["rows_written"] > 0
    again = c.post(
        "/api/observations", content=json.dumps([json.loads(x) for x in lines]),
        headers=bearer(tok["writer"]) | {"Content-Type": "application/json"},
    )  # fmt: skip
    assert again.json()["duplicates"] == 6 and journal_size(db) == 6
    assert c.get("/api/where", params={"what": "web-1", "at": T2}).json()["host"] == "host:hv-a"
    metrics = c.get("/metrics").text
    assert "vtrail_observations_total 6.0" in metrics
    assert "vtrail_observations_duplicate_total 6.0" in metrics
    assert 'vtrail_observations_received_total{source="story@hv-a"} 6.0' in metrics
    assert 'vtrail_source_connected{source="story@hv-b"} 1.0' in metrics
    assert "vtrail_ingest_seconds_count 2.0" in metrics
    assert "vtrail_rows_written_total" in metrics


def test_an_oversized_body_is_refused_and_writes_nothing(
    fresh: tuple[TestClient, str, dict[str, str]],
) -> None:
    c, db, tok = fresh
    body = "\n".join(story_lines()) * 3
    assert len(body) > 64 * 1024
    r = c.post("/api/observations", content=body, headers=bearer(tok["writer"]))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert journal_size(db) == 0


def test_writes_need_a_writer_token(
    fresh: tuple[TestClient, str, dict[str, str]], store_kind: str
) -> None:
    c, db, tok = fresh
    line = story_lines()[0]
    assert c.post("/api/observations", content=line).status_code == 401
    assert c.post("/api/observations", content=line, headers=bearer("vt_guess")).status_code == 401
    r = c.post("/api/observations", content=line, headers=bearer(tok["reader"]))
    assert r.status_code == 403 and "reader" in r.json()["detail"]
    store = open_store(db)
    (info,) = [t for t in token_store.listing(store) if t.role == "writer"]
    assert token_store.revoke(store, info.id)
    # Only the hash is kept: the secret is nowhere in the store.
    assert tok["writer"] not in str(store.conn.execute("SELECT * FROM token").fetchall())
    if store_kind == "sqlite":
        assert tok["writer"].encode() not in Path(db).read_bytes()
    store.close()
    assert (
        c.post("/api/observations", content=line, headers=bearer(tok["writer"])).status_code == 401
    )
    assert journal_size(db) == 0
    # Reads stay open on loopback.
    assert c.get("/api/stats").status_code == 200


def test_reads_need_a_token_beyond_loopback(db_location: str) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    with TestClient(create_app(Settings(db=Path(db_location), read_token=True))) as c:
        store = open_store(db_location)
        _, reader = token_store.create(store, "reader", "")
        store.close()
        r = c.get("/api/stats")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/metrics").status_code == 401
        assert c.get("/api/stats", headers=bearer(reader)).status_code == 200
        assert c.get("/").status_code == 200  # the page itself is public, its data is not


def test_token_cli_prints_the_secret_once(db_location: str) -> None:
    db = db_location
    runner = CliRunner()
    done = runner.invoke(cli, ["token", "create", "--role", "writer", "--name", "ci", "--db", db])
    assert done.exit_code == 0, done.output
    secret = done.stdout.strip()
    assert secret.startswith("vt_")
    listed = runner.invoke(cli, ["token", "list", "--db", db, "-o", "json"])
    assert json.loads(listed.stdout)[0]["role"] == "writer" and secret not in listed.stdout
    bad = runner.invoke(cli, ["token", "create", "--role", "admin", "--db", db])
    assert bad.exit_code == 2
