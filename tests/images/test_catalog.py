"""The image catalog: facts from the policy's `images:` section and from `vtrail image
set` / `POST /api/image/set`, with their history; a bad request changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at
from images.story import BASE, DECLARED, HEX, OTHER, record_story
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.images.facts import image_facts
from vtrail.policy.load import parse_policy
from vtrail.policy.record import from_attrs, to_observation
from vtrail.store import open_store
from vtrail.store import tokens as token_store
from vtrail.triage.policy_at import policy_at

POLICY = f"""
services:
  web: {{members: {{kind: vm, name: web}}}}
images:
  debian@12.5:
    image: sha256:{HEX}
    creator: team-images
    certified-by: security-team
    certified-at: 2026-01-10
    security: ok
    support-end: 2028-06-30
    location: s3://images/debian-12.5.qcow2
  alpine@3.20:
    image: image:sha256:{"b" * 64}
    support-end: 2025-01-31
"""


pytestmark = pytest.mark.both_stores


@pytest.fixture
def db(db_location: str) -> Path:
    return record_story(Path(db_location))


def run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--db", str(db)])


def show(db: Path, image: str, *more: str) -> Any:
    """The image's facts, but the instant they were asked at."""
    done = run(db, "image", "show", image, *more, "-o", "json")
    assert done.exit_code == 0, done.output
    return {k: v for k, v in json.loads(done.stdout).items() if k != "at"}


def rows(db: Path) -> tuple[int, int]:
    store = open_store(db, readonly=True)
    try:
        return (
            store.conn.execute("SELECT count(*) FROM version").fetchone()[0],
            store.conn.execute("SELECT count(*) FROM claim").fetchone()[0],
        )
    finally:
        store.close()


def applied(db: Path, tmp_path: Path, text: str = POLICY) -> None:
    (tmp_path / "policy.yaml").write_text(text)
    done = run(db, "policy", "apply", str(tmp_path / "policy.yaml"))
    assert done.exit_code == 0, done.output


def test_the_policy_catalogues_images_and_flags_them(db: Path, tmp_path: Path) -> None:
    applied(db, tmp_path)
    debian = show(db, "debian@12.5")
    assert debian["id"] == BASE and debian["identity"] == "checksum"
    assert (debian["name"], debian["version"]) == ("debian", "12.5")
    assert debian["creator"] == "team-images" and debian["certified_by"] == "security-team"
    assert debian["certified_at"] == "2026-01-10T00:00:00.000Z"
    assert debian["location"] == "s3://images/debian-12.5.qcow2"
    assert debian["flags"] == [] and debian["paths"] == ["/golden/debian-12.qcow2"]
    assert show(db, "alpine@3.20")["flags"] == ["uncertified", "out-of-support"]
    # Named today, the image is found by its name over a window of last month.
    window = ["--from", at(-10).isoformat(), "--to", at(7200).isoformat(), "-o", "json"]
    exposed = json.loads(run(db, "image", "exposure", "debian@12.5", *window).stdout)
    assert exposed["image"] == BASE and exposed["vm_count"] == 2
    listed = json.loads(run(db, "images", "--at", at(10).isoformat(), "-o", "json").stdout)
    # The catalog was told later: at 10 s, nothing was certified yet.
    assert {x["facts"]["id"]: x["facts"]["flags"] for x in listed["images"]}[BASE] == [
        "uncertified"
    ]
    now = json.loads(run(db, "images", "-o", "json").stdout)
    assert {x["facts"]["id"]: x["facts"]["flags"] for x in now["images"]} == {
        BASE: [],
        OTHER: ["uncertified", "out-of-support"],
        # What DB's metadata declares has the facts of the image catalogued so.
        DECLARED: [],
    }
    declared = next(x["facts"] for x in now["images"] if x["facts"]["id"] == DECLARED)
    assert declared["identity"] == "name" and declared["checksum"] == HEX


def test_the_section_round_trips_through_the_record(db: Path, tmp_path: Path) -> None:
    policy = parse_policy(POLICY)
    obs = to_observation(policy, datetime.now(UTC))
    assert from_attrs((e.id, e.attrs) for e in obs.entities) == policy
    applied(db, tmp_path)
    store = open_store(db, readonly=True)
    try:
        assert policy_at(store, datetime.now(UTC)).images == policy.images
    finally:
        store.close()
    yaml_out = run(db, "policy", "show", "-o", "yaml").stdout
    assert "debian@12.5:" in yaml_out and "certified-by: security-team" in yaml_out


def test_set_keeps_history_and_answers_at_any_instant(db: Path, tmp_path: Path) -> None:
    applied(db, tmp_path)
    before = datetime.now(UTC)
    done = run(db, "image", "set", "debian@12.5", "--security", "vulnerable",
               "--advisory", "DSA-5999-1", "--advisory", "CVE-2026-0001", "-o", "json")  # fmt: skip
    assert done.exit_code == 0, done.output
    now = json.loads(done.stdout)
    assert now["security"] == "vulnerable" and now["flags"] == ["insecure"]
    assert now["advisories"] == ["DSA-5999-1", "CVE-2026-0001"]
    assert now["security_at"] >= before.isoformat()[:19]
    assert now["certified_by"] == "security-team"  # what was not given stays
    then = show(db, "debian@12.5", "--at", before.isoformat())
    assert then["security"] == "ok" and then["advisories"] == []
    # Was it certified when WEB started? The catalog was told after: no.
    store = open_store(db, readonly=True)
    try:
        assert not image_facts(store, BASE, at(0)).certified
        assert image_facts(store, BASE, datetime.now(UTC)).certified
    finally:
        store.close()
    uncertified = run(db, "image", "set", BASE, "--certified-by", "", "-o", "json")
    assert json.loads(uncertified.stdout)["flags"] == ["uncertified", "insecure"]


def test_an_image_gets_a_name_and_a_name_is_one_images(db: Path) -> None:
    done = run(db, "image", "set", "/golden/alpine.qcow2", "--name", "alpine@3.21", "-o", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["id"] == OTHER
    taken = run(db, "image", "set", BASE, "--name", "alpine@3.21")
    assert taken.exit_code == 1
    assert taken.output.strip() == f"error: alpine@3.21 is already the catalog name of {OTHER}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["debian@12.5", "--security", "maybe"],
         "security 'maybe' is not one of ok, vulnerable, unknown"),
        (["debian@12.5", "--support-end", "2028-13-01"], "'2028-13-01' is not a date (YYYY-MM-DD)"),
        (["debian@12.5", "--certified-at", "yesterday-ish"],
         "'yesterday-ish' is not an ISO 8601 date or instant"),
        (["debian@12.5"], "nothing to set: give at least one catalog fact (see --help)"),
        (["nothing@1", "--security", "ok"], "nothing@1 names no catalogued or recorded image"),
        (["sha256:12", "--security", "ok"],
         "'12' is not a sha256 digest (64 hexadecimal digits)"),
        ([BASE, "--name", "no version"],
         "'no version' is not NAME@VERSION (letters, digits, '.', '_', '+', '-')"),
    ],
)  # fmt: skip
def test_a_bad_set_is_refused_in_one_line_and_changes_nothing(
    db: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    applied(db, tmp_path)
    before, facts = rows(db), show(db, "debian@12.5")
    done = run(db, "image", "set", *args)
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == [f"error: {message}"]
    assert rows(db) == before and show(db, "debian@12.5") == facts


def test_a_bad_images_section_is_refused_in_one_line(db: Path, tmp_path: Path) -> None:
    before = rows(db)
    bad = POLICY.replace("security: ok", "security: fine")
    (tmp_path / "policy.yaml").write_text(bad)
    done = run(db, "policy", "apply", str(tmp_path / "policy.yaml"))
    assert done.exit_code != 0
    assert done.output.strip().splitlines() == [
        f"error: {tmp_path / 'policy.yaml'}:10: images.debian@12.5: security: "
        "security 'fine' is not one of ok, vulnerable, unknown"
    ]
    twice = POLICY.replace("image: image:sha256:" + "b" * 64, f"image: {HEX}")
    (tmp_path / "policy.yaml").write_text(twice)
    done = run(db, "policy", "apply", str(tmp_path / "policy.yaml"))
    assert done.output.strip().endswith(f"{BASE} is already catalogued as debian@12.5")
    assert rows(db) == before


@pytest.fixture
def served(db: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = open_store(db)
    _, reader = token_store.create(store, "reader", "r")
    _, writer = token_store.create(store, "writer", "w")
    store.close()
    with TestClient(create_app(Settings(db=db))) as c:
        yield c, {"reader": reader, "writer": writer}


def test_the_api_sets_for_writers_and_shows_as_the_cli(
    db: Path, served: tuple[TestClient, dict[str, str]]
) -> None:
    c, tok = served
    params = {"image": BASE, "name": "debian@12.5", "security": "ok", "advisory": ["X-1"]}
    as_reader = {"Authorization": f"Bearer {tok['reader']}"}
    as_writer = {"Authorization": f"Bearer {tok['writer']}"}
    assert c.post("/api/image/set", params=params, headers=as_reader).status_code == 403
    bad = c.post("/api/image/set", params={**params, "security": "meh"}, headers=as_writer)
    assert bad.status_code == 422
    done = c.post("/api/image/set", params=params, headers=as_writer)
    assert done.status_code == 200, done.text
    assert done.json()["advisories"] == ["X-1"]
    shown = c.get("/api/image", params={"image": "debian@12.5"}, headers=as_reader)
    assert {k: v for k, v in shown.json().items() if k != "at"} == show(db, "debian@12.5")
    missing = c.get("/api/image", params={"image": "/nowhere"}, headers=as_reader)
    assert missing.status_code == 404
