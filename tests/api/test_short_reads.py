"""`where` and `show` answered ahead of the app (api/short_reads.py) say byte for byte what
their routes say, and refuse what they refuse with the routes' own refusals.

Each request goes to two apps on the same store: one as served, one with its short
reads off (`short_reads = None`), whose routes answer everything; their statuses,
headers and bodies must be equal. A spy on `ShortReads.body` tells which requests
were answered ahead of the app, so that a short read that quietly declined
everything would fail here too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Scope

from api.story import GHOST, WEB, WEB_NIC, at, record_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.api.short_reads import ShortReads
from vtrail.store import open_store
from vtrail.store import tokens as token_store
from vtrail.timeexpr import iso

T12 = iso(at(12))


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story on a SQLite file, then on a real PostgreSQL server."""
    return recorded(request, tmp_path_factory, "short", record_story)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each request the short reads looked at: answered (True) or declined."""
    seen: list[bool] = []
    body = ShortReads.body

    def spy(self: ShortReads, route: str, scope: Scope) -> bytes | None:
        got = body(self, route, scope)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(ShortReads, "body", spy)
    return seen


def clients(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    short, routed = create_app(settings), create_app(settings)
    routed.short_reads = None
    with TestClient(short) as a, TestClient(routed) as b:
        yield a, b


@pytest.fixture
def pair(db: Path) -> Iterator[tuple[TestClient, TestClient]]:
    yield from clients(Settings(db=db, workers=1))


@pytest.fixture
def guarded(db: Path) -> Iterator[tuple[TestClient, TestClient]]:
    yield from clients(Settings(db=db, workers=1, read_token=True))


def same(pair: tuple[TestClient, TestClient], method: str, url: str, **kw: Any) -> int:
    """The request's answer from both apps, checked equal; its status."""
    a, b = (c.request(method, url, **kw) for c in pair)
    assert (a.status_code, a.headers.raw, a.content) == (b.status_code, b.headers.raw, b.content)
    return a.status_code


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/where", {"what": "web-1", "at": T12}),
        ("/api/where", {"what": WEB, "at": iso(at(5))}),
        ("/api/where", {"what": "52:54:00:00:01:10", "at": T12}),
        ("/api/where", {"what": "10.0.1.10", "at": iso(at(25))}),
        ("/api/where", {"what": WEB_NIC, "at": "1795150000"}),
        ("/api/where", {"what": "web-1", "at": T12, "unknown": "ignored"}),
        ("/api/where", {"what": "10.0.2.20", "at": T12, "space": "db-1"}),
        ("/api/where", {"what": "10.0.2.20@db-1", "at": T12}),
        (f"/api/show/{WEB}", {"at": T12}),
        (f"/api/show/{GHOST}", {"at": iso(at(6))}),
        ("/api/show/host:hv-a", {"at": "2026-11-20 03:30"}),
        ("/api/show/web-1", {"at": T12}),
    ],
)
def test_a_short_read_is_answered_with_the_routes_bytes(
    pair: tuple[TestClient, TestClient], answered: list[bool], url: str, params: dict[str, str]
) -> None:
    assert same(pair, "GET", url, params=params) == 200
    assert answered == [True]


@pytest.mark.parametrize(
    ("method", "url", "params"),
    [
        ("GET", "/api/where", {}),
        ("GET", "/api/where", {"what": ""}),
        ("GET", "/api/where", {"what": "x\x00y"}),
        ("GET", "/api/where", {"what": "nope", "at": T12}),
        ("GET", "/api/where", {"what": "web-1", "at": "half past"}),
        ("GET", "/api/where", {"what": "web-1", "at": "-9999999999d"}),
        ("GET", "/api/where", {"what": "web-1", "space": ""}),
        ("GET", "/api/where", {"what": "10.0.2.20", "at": T12, "space": "hv-a"}),
        ("GET", "/api/where", {"what": "1.2.3.4@x@y"}),
        ("GET", "/api/show/", {}),
        ("GET", "/api/show/vm:0000", {}),
        ("GET", "/api/show/vm:é", {"at": T12}),
        ("POST", "/api/where", {"what": "web-1"}),
        ("DELETE", f"/api/show/{WEB}", {}),
    ],
)
def test_a_refused_short_read_gets_the_routes_refusal(
    pair: tuple[TestClient, TestClient],
    answered: list[bool],
    method: str,
    url: str,
    params: dict[str, str],
) -> None:
    assert same(pair, method, url, params=params) >= 400
    assert True not in answered


def test_reads_need_the_same_token_as_through_the_routes(
    db: Path, guarded: tuple[TestClient, TestClient], answered: list[bool]
) -> None:
    store = open_store(db)
    try:
        _, reader = token_store.create(store, "reader", "short")
        info, revoked = token_store.create(store, "reader", "gone")
        token_store.revoke(store, info.id)
    finally:
        store.close()
    ask = {"params": {"what": "web-1", "at": T12}}
    for refused in ({}, {"Authorization": f"Basic {reader}"}, {"Authorization": "Bearer nope"}):
        assert same(guarded, "GET", "/api/where", headers=refused, **ask) == 401
    assert same(guarded, "GET", "/api/where", headers={"Authorization": f"Bearer {revoked}"}) == 401
    assert answered == [False] * 4
    for token in (f"Bearer {reader}", f"bearer  {reader} "):
        assert same(guarded, "GET", "/api/where", headers={"Authorization": token}, **ask) == 200
        assert (
            same(guarded, "GET", f"/api/show/{WEB}", headers={"Authorization": token}, **ask) == 200
        )
    assert answered == [False] * 4 + [True] * 4


def test_a_short_read_is_timed_under_its_route(pair: tuple[TestClient, TestClient]) -> None:
    short, _ = pair
    assert short.get("/api/where", params={"what": "web-1"}).status_code == 200
    assert short.get(f"/api/show/{WEB}").status_code == 200
    assert short.get("/api/show/nope").status_code == 404
    metrics = short.get("/metrics").text
    for route, status in (
        ("/api/where", 200),
        ("/api/show/{id:path}", 200),
        ("/api/show/{id:path}", 404),
    ):
        line = f'vtrail_http_request_seconds_count{{route="{route}",status="{status}"}} 1.0'
        assert line in metrics, route


def test_the_short_reads_threads_stop_with_the_server(db: Path) -> None:
    """Their reads run in threads of their own, never on the loop; a server shut down
    leaves none of them behind, and the same app started again answers again."""
    app = create_app(Settings(db=db, workers=1))
    assert app.short_reads is not None
    for _ in range(2):
        with TestClient(app) as c:
            assert c.get("/api/where", params={"what": "web-1", "at": T12}).status_code == 200
            assert [t for t in threading.enumerate() if t.name.startswith("vtrail-short-read")]
        assert not [t for t in threading.enumerate() if t.name.startswith("vtrail-short-read")]
