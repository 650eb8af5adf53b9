"""What the API and the CLI refuse, alike, and with which status: windows that end before
they start, unknown kinds (on both stores), and a broken store, which is not a bad token
(a SQLite file broken on disk, or interrupted by SQLite itself)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.story import WEB, at, record_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.recording.ingest import ingest_lines
from vtrail.store import SqliteStore, StoreError, open_store
from vtrail.store import tokens as token_store
from vtrail.timeexpr import iso


def _break_the_token_table(db: Path) -> None:
    """Overwrite the token table's pages (and its index's) on disk, as a bad disk would."""
    c = sqlite3.connect(db)
    pages = [r[0] for r in c.execute("SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'token'")]
    size = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    with db.open("r+b") as f:
        for n in pages:
            f.seek((n - 1) * size)
            f.write(b"\xa5" * size)


def test_a_database_error_while_checking_a_token_is_a_503_not_a_401(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    _, secret = token_store.create(store, "writer", "ci")
    store.close()
    _break_the_token_table(db)
    with TestClient(create_app(Settings(db=db, read_token=True))) as c:
        for r in (
            c.get("/api/stats", headers={"Authorization": f"Bearer {secret}"}),
            c.post("/api/observations", content="", headers={"Authorization": f"Bearer {secret}"}),
        ):
            assert r.status_code == 503, r.text
            detail = r.json()["detail"]
            assert detail.startswith(f"cannot read the tokens in {db}: "), detail
            assert "malformed" in detail and "\n" not in detail


def test_the_token_list_says_the_store_is_broken(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    token_store.create(store, "reader", "grafana")
    store.close()
    _break_the_token_table(db)
    done = CliRunner().invoke(cli, ["token", "list", "--db", str(db), "-o", "json"])
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: cannot read the tokens in {db}: ")
    assert done.stdout == ""


def test_a_store_from_before_tokens_has_none(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    SqliteStore(db).close()
    c = sqlite3.connect(db)
    c.execute("DROP TABLE token")
    c.close()
    store = SqliteStore(db, readonly=True)
    try:
        assert token_store.lookup(store, "vt_anything") is None
        assert token_store.listing(store) == []
    finally:
        store.close()


def test_an_operational_error_is_not_an_unknown_token(tmp_path: Path) -> None:
    # The error a busy or failing disk gives (OperationalError) used to read as "no such
    # token". Here SQLite itself interrupts every statement of the connection.
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    _, secret = token_store.create(store, "writer", "ci")
    store.conn.set_progress_handler(lambda: 1, 1)
    try:
        with pytest.raises(StoreError, match=r"cannot read the tokens in .*: interrupted"):
            token_store.lookup(store, secret)
        with pytest.raises(StoreError, match="interrupted"):
            token_store.listing(store)
    finally:
        store.conn.set_progress_handler(None, 1)
        store.close()


# -- windows and kinds: refused alike by every question, CLI and API, on both stores ------

EARLY, LATE = at(2), at(12)
BACKWARDS = f"the window ends ({iso(EARLY)}) before it starts ({iso(LATE)})"  # the …Z form


@pytest.fixture(scope="module", params=STORES)
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story on a SQLite file, then on a real PostgreSQL server."""
    db = recorded(request, tmp_path_factory, "story", record_story)
    # A kind vtrail does not name itself, from an outside producer: a kind all the same.
    line = {
        "source": "inventory",
        "observed_at": iso(at(1)),
        "kind": "snapshot",
        "entities": [{"id": "switch:tor-1", "attrs": {"name": "tor-1"}}],
    }
    store = open_store(db)
    ingest_lines(store, [json.dumps(line)])
    store.close()
    return db


@pytest.fixture(scope="module")
def api(story: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=story))) as c:
        yield c


def cli_refuses(db: Path, *argv: str) -> str:
    done = CliRunner().invoke(cli, [*argv, "--db", str(db)])
    assert done.exit_code == 1, done.output
    assert done.stdout == ""
    return done.stderr.removeprefix("error: ").removesuffix("\n")


def api_refuses(client: TestClient, url: str, params: dict[str, str]) -> str:
    r = client.get(url, params=params)
    assert r.status_code == 422, r.text
    return str(r.json()["detail"])


BACKWARDS_WINDOWS = [
    ("history", [WEB], f"/api/history/{WEB}"),
    ("diff", [], "/api/diff"),
    ("ghosts", [], "/api/ghosts"),
    ("timeline", [], "/api/timeline"),
    ("counters", [WEB], f"/api/counters/{WEB}"),
]


@pytest.mark.parametrize(
    ("cmd", "args", "url"), BACKWARDS_WINDOWS, ids=[w[0] for w in BACKWARDS_WINDOWS]
)
def test_a_window_that_ends_before_it_starts_is_refused_alike(
    story: Path, api: TestClient, cmd: str, args: list[str], url: str
) -> None:
    window = ["--from", iso(LATE), "--to", iso(EARLY)]
    assert cli_refuses(story, cmd, *args, *window) == BACKWARDS
    assert api_refuses(api, url, {"from": iso(LATE), "to": iso(EARLY)}) == BACKWARDS
    same = api_refuses(api, url, {"from": iso(LATE), "to": iso(LATE)})
    assert same == f"the window ends when it starts ({iso(LATE)}): it holds no time"


def test_a_timeline_from_past_the_record_is_refused_alike(story: Path, api: TestClient) -> None:
    # One end given, past the other end of the record: still a window that ends first.
    late = "2030-01-01T00:00Z"
    assert "before it starts" in api_refuses(api, "/api/timeline", {"from": late})
    assert "before it starts" in cli_refuses(story, "timeline", "--from", late)


def test_a_forward_window_still_answers(story: Path, api: TestClient) -> None:
    forward = {"from": iso(EARLY), "to": iso(LATE)}
    assert api.get(f"/api/history/{WEB}", params=forward).json()["versions"]
    done = CliRunner().invoke(
        cli, ["history", WEB, "--from", iso(EARLY), "--to", iso(LATE), "--db", str(story)]
    )
    assert done.exit_code == 0, done.output


KIND_FILTERS = [
    (["snapshot"], "/api/snapshot"),
    (["diff", "--from", iso(EARLY), "--to", iso(LATE)], "/api/diff"),
    (["topology"], "/api/topology"),
]


@pytest.mark.parametrize(("argv", "url"), KIND_FILTERS, ids=[k[1] for k in KIND_FILTERS])
@pytest.mark.parametrize("kind", ["nonsense", "VM", ""])
def test_an_unknown_kind_is_refused_naming_the_known_ones(
    story: Path, api: TestClient, argv: list[str], url: str, kind: str
) -> None:
    known = (
        "asset, bridge, catalog, domain, host, image, ip, mac, net, netns, nic, pool, port, probe, "
        "router, rule, service, switch, vm"
    )
    expected = f"unknown kind {kind!r}: the kinds are {known}"
    assert cli_refuses(story, *argv, "--kind", kind) == expected
    params = {"from": iso(EARLY), "to": iso(LATE)} if argv[0] == "diff" else {}
    assert api_refuses(api, url, params | {"kind": kind}) == expected


def test_a_recorded_or_documented_kind_is_a_filter(story: Path, api: TestClient) -> None:
    def kinds(k: str) -> set[str]:
        r = api.get("/api/snapshot", params={"at": iso(LATE), "kind": k})
        assert r.status_code == 200, r.text
        return {e["entity"].split(":", 1)[0] for e in r.json()["entities"]}

    assert kinds("vm") == {"vm"}
    assert kinds("switch") == {"switch"}
    assert kinds("service") == set()  # documented, none recorded: an empty answer, not an error
    topo = api.get("/api/topology", params={"at": iso(LATE), "kind": "switch"})
    assert topo.status_code == 200 and [n["id"] for n in topo.json()["nodes"]] == ["switch:tor-1"]
