"""The OpenAPI document says what the server does (issue 16, item 6).

The schemathesis run (test_schemathesis.py) tries the document against the
server at random; these say its parts directly: the refusals and their one
shape, the Graphviz answer, who needs a token, and that each pattern the
document publishes admits exactly what the server reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.story import at, record_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.api.patterns import ENTITY_ID, TEXT, TIME, compile_pattern, is_text, is_time
from vtrail.ids import KINDS
from vtrail.model import InvalidId, split_id
from vtrail.timeexpr import iso, parse_time, to_us

QUICK = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file, or a PostgreSQL database for a test parametrised over STORES."""
    return recorded(request, tmp_path_factory, "openapi", record_story)


def document(db: Path, **kw: Any) -> dict[str, Any]:
    with TestClient(create_app(Settings(db=db, **kw))) as client:
        doc: dict[str, Any] = client.get("/api/openapi.json").json()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, op) for path, item in doc["paths"].items() for op in item.values()]


def test_every_refusal_is_documented_as_the_one_line_it_is(db: Path) -> None:
    doc = document(db)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    error = doc["components"]["schemas"]["Error"]
    assert error["properties"]["detail"]["type"] == "string"
    for path, op in operations(doc):
        for status, response in op["responses"].items():
            if status != "200":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }, (path, status)
        assert {"422", "503"} <= set(op["responses"]), path


@pytest.mark.parametrize(
    "path", ["/api/where", "/api/show/{id}", "/api/history/{id}", "/api/path", "/api/topology"]
)
def test_a_lookup_documents_404_and_409(db: Path, path: str) -> None:
    responses = document(db)["paths"][path]["get"]["responses"]
    assert {"404", "409"} <= set(responses)


def by_route(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`METHOD /path` -> operation: a path may hold a read and a write (`/api/policy`)."""
    return {f"{m.upper()} {p}": op for p, item in doc["paths"].items() for m, op in item.items()}


def test_who_needs_a_token_is_said_as_the_server_is_set(db: Path) -> None:
    open_reads = by_route(document(db))
    guarded = by_route(document(db, read_token=True))
    writes = {"POST /api/observations", "PUT /api/policy", "POST /api/ipam/allocate",
              "POST /api/ipam/release", "POST /api/image/set"}  # fmt: skip
    assert writes <= set(open_reads)
    for route, op in open_reads.items():
        if route in writes:
            assert op["security"] == [{"token": []}] and "401" in op["responses"], route
            assert "403" in op["responses"], route
        else:
            assert "security" not in op and "401" not in op["responses"], route
            assert guarded[route]["security"] == [{"token": []}], route
            assert "401" in guarded[route]["responses"], route


@pytest.mark.parametrize("db", STORES, indirect=True)
def test_graphviz_is_documented_and_answered(db: Path) -> None:
    ok = document(db)["paths"]["/api/topology"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/vnd.graphviz"}
    with TestClient(create_app(Settings(db=db))) as client:
        r = client.get("/api/topology", params={"at": iso(at(12)), "output": "dot"})
    assert r.headers["content-type"].startswith("text/vnd.graphviz")


def test_parameters_carry_the_constraints_the_server_applies(db: Path) -> None:
    params = {
        (path, p["name"]): p["schema"]
        for path, op in operations(document(db))
        for p in op.get("parameters", [])
    }
    for (path, name), schema in params.items():
        assert "anyOf" not in schema, (path, name)  # never `null`
        if name in ("at", "from", "to", "compare"):
            assert schema["pattern"] == TIME, (path, name)
        if name in ("what", "id", "a", "b", "around", "space", "q"):
            # A name given once or more (triage's `what`) holds the constraints per item.
            one = schema["items"] if schema.get("type") == "array" else schema
            assert one["pattern"] == TEXT and one["maxLength"] == 1024, (path, name)
        if name == "kind":
            assert set(schema["enum"]) >= KINDS, path
    body = document(db)["components"]["schemas"]
    assert body["EntityId"]["pattern"] == ENTITY_ID
    assert body["SampleIn"]["properties"]["metric"]["pattern"] == "^[a-z][a-z0-9_.]*$"


@pytest.mark.parametrize("db", STORES, indirect=True)
def test_a_kind_the_store_holds_is_in_the_document(db: Path) -> None:
    from vtrail.recording.ingest import ingest_lines
    from vtrail.store import open_store

    store = open_store(db)
    ingest_lines(store, ['{"source": "x", "observed_at": "2026-11-20T03:41:00Z", '
                         '"kind": "snapshot", "entities": [{"id": "widget:w1"}]}'])  # fmt: skip
    store.close()
    kinds = [
        p["schema"]["enum"]
        for _, op in operations(document(db))
        for p in op.get("parameters", [])
        if p["name"] == "kind"
    ]
    assert kinds and all("widget" in k for k in kinds)


# -- the patterns admit what the server reads, and only that --------------------------------


@QUICK
@given(st.from_regex(compile_pattern(TIME)))
def test_every_time_the_pattern_admits_is_read(value: str) -> None:
    t = parse_time(value)
    to_us(t)
    t.timestamp()


@QUICK
@given(st.text(alphabet=st.sampled_from("0123456789-+:TZ .wdhmsuagoyetrnz"), max_size=30))
def test_the_time_pattern_never_admits_what_the_cli_cannot_read(value: str) -> None:
    if is_time(value):
        parse_time(value).timestamp()


@pytest.mark.parametrize(
    "value",
    ["now", "-6h", "-1h30m", "+2d", "6 hours ago", "90 seconds ago", "1h ago",
     "yesterday 03:00", "today", "2026-11-20", "2026-11-20T03:12:00Z",
     "2026-11-20 03:12:00.123456+05:30", "2024-02-29", "1795662720", "1795662720.5"],
)  # fmt: skip
def test_the_documented_time_forms_are_admitted(value: str) -> None:
    assert is_time(value)


@pytest.mark.parametrize(
    "value",
    ["", " now", "now\n", "NOW", "2025-02-29", "1900-02-29", "2026-13-01", "2026-11-20T24:00",
     "-9999999999d", "-", "6 hours", "half past"],
)  # fmt: skip
def test_what_the_server_refuses_the_pattern_refuses(value: str) -> None:
    assert not is_time(value)


@QUICK
@given(st.text(max_size=20))
def test_the_text_pattern_is_the_servers_rule(value: str) -> None:
    blank = not value.strip() or not value.replace("\ufeff", "").strip()
    assert is_text(value) == (not blank and "\x00" not in value)


_ID = compile_pattern(ENTITY_ID)


def _parses(value: str) -> bool:
    try:
        split_id(value)
    except InvalidId:
        return False
    return True


@QUICK
@given(st.from_regex(_ID))
def test_every_id_the_pattern_admits_is_an_id(value: str) -> None:
    assert _parses(value)


@QUICK
@given(st.from_regex(re.compile(r"[a-z]{1,3}:.{0,6}", re.DOTALL)) | st.text(max_size=12))
def test_an_id_the_pattern_refuses_is_refused(value: str) -> None:
    assert (_ID.search(value) is not None) == _parses(value)
