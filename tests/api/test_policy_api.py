"""The policy over HTTP: `PUT /api/policy` for writers only, all or nothing, and
`GET /api/policy` and `/api/policy/diff` answering what the CLI answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policy.files import CHANGED, ISSUE
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.store import open_store
from vtrail.store import tokens as token_store

pytestmark = pytest.mark.both_stores

EMPTY = {"services": {}, "domains": {}, "rules": []}


@pytest.fixture
def served(db_location: str) -> Iterator[tuple[TestClient, Path, dict[str, str]]]:
    db = Path(db_location)
    store = open_store(db)
    _, reader = token_store.create(store, "reader", "r")
    _, writer = token_store.create(store, "writer", "w")
    store.close()
    with TestClient(create_app(Settings(db=db))) as c:
        yield c, db, {"reader": reader, "writer": writer}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put(c: TestClient, text: str | bytes, token: str | None) -> Any:
    headers = {"Content-Type": "application/yaml", **(bearer(token) if token else {})}
    return c.put("/api/policy", content=text, headers=headers)


def cli_json(db: Path, *args: str) -> Any:
    done = CliRunner().invoke(cli, [*args, "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_put_needs_a_writer_token(served: tuple[TestClient, Path, dict[str, str]]) -> None:
    c, _, tok = served
    assert put(c, ISSUE, None).status_code == 401
    assert put(c, ISSUE, "vt_guess").status_code == 401
    refused = put(c, ISSUE, tok["reader"])
    assert refused.status_code == 403 and "reader token" in refused.json()["detail"]
    assert c.get("/api/policy").json()["policy"] == EMPTY
    done = put(c, ISSUE, tok["writer"])
    assert done.status_code == 200, done.text
    assert (done.json()["services"], done.json()["domains"], done.json()["rules"]) == (3, 2, 5)


def test_the_api_answers_what_the_cli_answers(
    served: tuple[TestClient, Path, dict[str, str]],
) -> None:
    c, db, tok = served
    t1 = put(c, ISSUE, tok["writer"]).json()["at"]
    second = put(c, CHANGED, tok["writer"]).json()
    t2 = second["at"]
    for at in (t1, t2):
        over_http = c.get("/api/policy", params={"at": at}).json()
        assert over_http == cli_json(db, "policy", "show", "--at", at)
        assert over_http["at"] == at and over_http["policy"] != EMPTY
    diff = c.get("/api/policy/diff", params={"from": t1, "to": t2}).json()
    assert diff == cli_json(db, "policy", "diff", "--from", t1, "--to", t2)
    assert diff["changes"] == second["changes"] != []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (ISSUE.replace("to: db,", "to: dbx,"), "body:11: rules[2] (web-near-db): max-hops.to: "
         "unknown service 'dbx' (did you mean 'db'? services: cache, db, web)"),
        ("services: [", "body:1: not YAML: expected the node content, but found '<stream end>'"),
        (b"rules: []\n# \xff\n", "body:2: not UTF-8 text (byte 13)"),
        ("", "body: the file is empty: a policy has services, domains and rules"),
    ],
)  # fmt: skip
def test_a_bad_file_is_a_422_in_one_line_and_records_nothing(
    served: tuple[TestClient, Path, dict[str, str]], body: str | bytes, detail: str
) -> None:
    c, _, tok = served
    put(c, ISSUE, tok["writer"])
    before = c.get("/api/policy").json()["policy"]
    r = put(c, body, tok["writer"])
    assert r.status_code == 422
    assert r.json() == {"detail": detail}
    assert c.get("/api/policy").json()["policy"] == before


def test_reads_refuse_a_bad_time_and_a_backward_window(
    served: tuple[TestClient, Path, dict[str, str]],
) -> None:
    c, _, _ = served
    assert c.get("/api/policy", params={"at": "soon"}).status_code == 422
    r = c.get("/api/policy/diff", params={"from": "-1h", "to": "-2h"})
    assert r.status_code == 422 and "before it starts" in r.json()["detail"]
    assert c.get("/api/policy/diff").status_code == 422  # `from` is required
