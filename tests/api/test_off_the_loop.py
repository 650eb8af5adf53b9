"""No SQL runs on the event loop (issue 9, "the API does not block or scan").

A route that reads or writes the store is plain `def`, so that it runs in the
read threads (api/deps.py), or hands its work on: to a worker process
(api/heavy.py), to the write thread, to the thread pool (the token checks).
Every statement SQLite runs in the server is traced here with the thread it
ran on, for a request to every route the app has: a route added without a
request here fails, and so does one that runs a statement on the loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.story import WEB, WEB_NIC, at, record_story
from vtrail.api import Settings, create_app
from vtrail.api.deps import answer, reader
from vtrail.query import state
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.timeexpr import iso

T12 = iso(at(12))
LATE = {
    "source": "story@hv-c",
    "observed_at": iso(at(11)),
    "kind": "snapshot",
    "entities": [{"id": "host:hv-c", "attrs": {"hostname": "hv-c"}}],
}
#: A draft policy (JSON is YAML) for POST /api/check, which reads and records nothing.
DRAFT = {
    "services": {"web": {"members": {"kind": "vm", "name": "web-*"}}},
    "rules": [{"name": "apart", "anti-affinity": "web"}],
}

#: A libvirt domain for POST /api/admission, which reads and records nothing.
DOMAIN = (
    "<domain type='kvm'><name>new-1</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
    "<memory unit='MiB'>512</memory><vcpu>1</vcpu><devices/></domain>"
)

#: One request per route of the app, by its path template: (method, url, params or body).
IMG = "sha256:" + "a" * 64
REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "/api/where": ("GET", "/api/where", {"what": "web-1", "at": T12}),
    "/api/show/{id:path}": ("GET", f"/api/show/{WEB}", {"at": T12}),
    "/api/history/{id:path}": ("GET", f"/api/history/{WEB}", {}),
    "/api/lifetime/{id:path}": ("GET", f"/api/lifetime/{WEB}", {}),
    "/api/diff": ("GET", "/api/diff", {"from": iso(at(2)), "to": T12}),
    "/api/ghosts": ("GET", "/api/ghosts", {"from": iso(at(2)), "to": T12}),
    "/api/snapshot": ("GET", "/api/snapshot", {"at": T12}),
    "/api/stats": ("GET", "/api/stats", {}),
    "/api/topology": ("GET", "/api/topology", {"at": T12}),
    "/api/path": ("GET", "/api/path", {"a": "web-1", "b": "db-1", "at": T12}),
    "/api/timeline": ("GET", "/api/timeline", {}),
    "/api/counters/{id:path}": ("GET", f"/api/counters/{WEB_NIC}", {}),
    "/api/search": ("GET", "/api/search", {"q": "web"}),
    "/api/assets": ("GET", "/api/assets", {"at": T12}),
    "/api/asset/{id:path}": ("GET", f"/api/asset/{WEB}", {"at": T12}),
    "/api/observations": ("POST", "/api/observations", LATE),
    # The write; its read (GET /api/policy) is asked below, as the route's second method.
    "/api/policy": (
        "PUT",
        "/api/policy",
        {"text": "services: {web: {members: {kind: vm}}}\npools: {lab: {prefix: 10.9.0.0/24}}"},
    ),
    "/api/policy/diff": ("GET", "/api/policy/diff", {"from": iso(at(2)), "to": T12}),
    # Allocated from the pool the PUT above applied, then released.
    "/api/ipam/allocate": ("POST", "/api/ipam/allocate?pool=lab&for=vm:x", {}),
    "/api/ipam/release": ("POST", "/api/ipam/release?address=10.9.0.1", {}),
    "/api/ipam/pools": ("GET", "/api/ipam/pools", {}),
    "/api/ipam/who/{address}": ("GET", "/api/ipam/who/10.9.0.1", {}),
    "/api/ipam/conflicts": ("GET", "/api/ipam/conflicts", {}),
    "/api/ipam/usage": ("GET", "/api/ipam/usage", {"from": iso(at(2))}),
    "/api/account": ("GET", "/api/account", {"from": iso(at(2)), "by": "owner"}),
    "/api/ipam/export": ("GET", "/api/ipam/export", {"format": "hosts"}),
    # Catalog facts of an image no VM ran yet: an image may be catalogued first.
    "/api/image/set": ("POST", f"/api/image/set?image={IMG}&security=ok", {}),
    "/api/image": ("GET", "/api/image", {"image": IMG}),
    "/api/images": ("GET", "/api/images", {}),
    "/api/image/exposure": ("GET", "/api/image/exposure", {"image": IMG, "from": iso(at(2))}),
    "/api/check": ("POST", "/api/check", DRAFT),
    # A body of text, not JSON: a domain's XML.
    "/api/admission": ("POST", "/api/admission", {"text": DOMAIN}),
    "/api/quota": ("GET", "/api/quota", {"from": iso(at(2))}),
    # After the PUT above: the service `web` is in force from now on.
    "/api/health": ("GET", "/api/health", {"what": "web"}),
    "/api/triage": ("GET", "/api/triage", {"what": ["web-1", "db-1"], "at": T12}),
    "/api/plan/drain": ("GET", "/api/plan/drain", {"host": "hv-a", "at": T12}),
    "/api/plan/rolling": ("GET", "/api/plan/rolling", {"hosts": "hv-a", "at": T12}),
    # The POST, whose body is a saved plan; its GET asks the same without one.
    "/api/plan/review": ("POST", f"/api/plan/review?from={iso(at(2))}&to={T12}", {"groups": []}),
    "/api/openapi.json": ("GET", "/api/openapi.json", {}),
    "/api/docs": ("GET", "/api/docs", {}),
    "/metrics": ("GET", "/metrics", {}),
    "/": ("GET", "/", {}),
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return record_story(tmp_path / "vtrail.db")


def _tokens(db: Path) -> tuple[str, str]:
    store = SqliteStore(db)
    try:
        _, reader = token_store.create(store, "reader", "test")
        _, writer = token_store.create(store, "writer", "test")
    finally:
        store.close()
    return reader, writer


def templates(routes: list[Any]) -> set[str]:
    """The path template of every route, in routers included whole or by reference."""
    out: set[str] = set()
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.16x keeps routers whole
        if inner is not None:
            out |= {r.include_context.prefix + p for p in templates(inner.routes)}
        elif not isinstance(r, Mount):
            out.add(r.path)
    return out


def _ask(app: FastAPI, db: Path, requests: dict[str, tuple[str, str, dict[str, Any]]]) -> set[int]:
    """Each request asked once, with a token (the app wants one for reads too); the
    statuses they got."""
    reader, writer = _tokens(db)
    status = set()
    with TestClient(app) as client:
        for method, url, args in requests.values():
            if method == "POST":
                headers = {"Authorization": f"Bearer {writer}"}
                body = args["text"] if "text" in args else json.dumps(args)
                got = client.post(url, content=body, headers=headers)
            elif method == "PUT":
                headers = {"Authorization": f"Bearer {writer}"}
                got = client.put(url, content=args["text"], headers=headers)
                status.add(got.status_code)
                got = client.get(url, headers={"Authorization": f"Bearer {reader}"})
            else:
                got = client.get(url, params=args, headers={"Authorization": f"Bearer {reader}"})
            status.add(got.status_code)
    return status


def test_no_statement_runs_on_the_event_loop(db: Path, statements: list[tuple[bool, str]]) -> None:
    app = create_app(Settings(db=db, read_token=True))
    assert templates(app.routes) == set(REQUESTS), "a route this test does not ask"
    assert _ask(app, db, REQUESTS) == {200}
    # The trace saw the server's work (a question, a token, a write), not nothing.
    off_loop = [sql for loop, sql in statements if not loop]
    assert any("FROM label" in s for s in off_loop)
    assert any("FROM token" in s for s in off_loop)
    assert any(s.startswith("INSERT OR IGNORE INTO journal") for s in off_loop)
    assert [sql for loop, sql in statements if loop] == []


def test_a_route_that_reads_on_the_loop_is_caught(
    db: Path, statements: list[tuple[bool, str]]
) -> None:
    app = create_app(Settings(db=db, read_token=True))

    @app.get("/api/where-on-the-loop")
    async def where_on_the_loop(request: Request) -> Response:
        return answer(state.where(reader(request), "web-1", at(12)))

    assert _ask(app, db, {"": ("GET", "/api/where-on-the-loop", {})}) == {200}
    assert any("FROM label" in sql for loop, sql in statements if loop)
