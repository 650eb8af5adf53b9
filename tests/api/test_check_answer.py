"""`/api/check`'s answer as the OpenAPI document says it, with who is in each service and
each domain at an instant (what the page colours by); the contract's keys kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from api.story import APP, DB, STORY_POLICY, WEB, apply_story_policy, at, record_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.timeexpr import iso


@pytest.fixture(scope="module", params=STORES)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Served from a SQLite file, then from a real PostgreSQL server."""
    db = recorded(request, tmp_path_factory, "check-answer", record_story)
    apply_story_policy(db)
    with TestClient(create_app(Settings(db=Path(db), workers=1))) as c:
        yield c


def documented(client: TestClient, method: str) -> Any:
    """A validator of the 200 answer the document gives for `method /api/check`."""
    doc = client.get("/api/openapi.json").json()
    schema = doc["paths"]["/api/check"][method]["responses"]["200"]["content"]
    return jsonschema_rs.validator_for(
        {**schema["application/json"]["schema"], "components": doc["components"]}
    )


def test_an_instant_says_who_is_in_each_service_and_domain(client: TestClient) -> None:
    got = client.get("/api/check", params={"at": iso(at(12))})
    assert got.status_code == 200, got.text
    answer = got.json()
    documented(client, "get").validate(answer)
    assert answer["services"] == [
        {"name": "app", "members": [APP]},
        {"name": "db", "members": [DB]},
        {"name": "web", "members": [WEB]},
    ]
    assert answer["domains"] == [
        {"name": "rack-a", "members": ["host:hv-a", DB]},
        {"name": "rack-b", "members": sorted(["host:hv-b", WEB, APP])},
    ]
    # The keys the issue makes a contract are all there, as they were.
    assert {"rules", "at", "from", "to", "policy"} <= set(answer)
    for rule in answer["rules"]:
        assert {"name", "holds", "violations", "members"} <= set(rule)


def test_a_window_answers_its_violations_and_no_groups(client: TestClient) -> None:
    got = client.get("/api/check", params={"from": iso(at(2)), "to": iso(at(40))})
    assert got.status_code == 200, got.text
    answer = got.json()
    documented(client, "get").validate(answer)
    assert answer["services"] is None and answer["domains"] is None
    near = {r["name"]: r for r in answer["rules"]}["web-near-db"]
    assert [(v["from"], v["to"]) for v in near["violations"]] == [(iso(at(20)), iso(at(30)))]


def test_a_draft_answers_the_same_shape(client: TestClient) -> None:
    got = client.post("/api/check", params={"at": iso(at(25))}, content=STORY_POLICY.read_bytes())
    assert got.status_code == 200, got.text
    documented(client, "post").validate(got.json())
    recorded = client.get("/api/check", params={"at": iso(at(25))}).json()
    # The file lists its services in its own order; the recorded policy, by name.
    for key in ("services", "domains"):
        assert sorted(got.json()[key], key=str) == sorted(recorded[key], key=str)


def test_the_document_refuses_an_answer_without_the_groups(client: TestClient) -> None:
    """The schema is a real constraint: an answer missing the new keys, or with a member
    that is not an id, does not pass it."""
    answer = client.get("/api/check", params={"at": iso(at(12))}).json()
    check = documented(client, "get")
    assert not check.is_valid({k: v for k, v in answer.items() if k != "domains"})
    bad = {**answer, "services": [{"name": "web", "members": ["not an id"]}]}
    assert not check.is_valid(bad)


def test_before_any_policy_the_answer_is_one_line(client: TestClient) -> None:
    got = client.get("/api/check", params={"at": iso(at(0))})
    assert got.status_code == 404
    detail = got.json()["detail"]
    assert detail.startswith(f"no policy was in force at {iso(at(0))}: ") and "\n" not in detail
