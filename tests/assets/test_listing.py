"""`vtrail assets` and `GET /api/assets`: filters, flags, CSV; `GET /api/asset/{id}`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assets.fleet import LONER, NEW, TWIN, record_fleet
from factory import at
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.assets.listing import CSV_COLUMNS
from vtrail.cli.main import app
from vtrail.timeexpr import iso

T = iso(at(150)) or ""


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = recorded(request, tmp_path_factory, "listing", record_fleet)
    inv = tmp_path_factory.mktemp("inventory") / "assets.csv"
    inv.write_text(f"id,owner,support-end\n{LONER},dave,2001-01-01\nhost:hv-gone,infra,\n")
    assert CliRunner().invoke(app, ["inventory", str(inv), "--db", str(path)]).exit_code == 0
    return path


def cli(db: Path, *args: str) -> Any:
    done = CliRunner().invoke(app, ["assets", *args, "--db", str(db)])
    assert done.exit_code == 0, done.output
    return done.stdout


def by_id(listed: dict[str, Any]) -> dict[str, Any]:
    return {a["entity"]: a for a in listed["assets"]}


def test_every_vm_and_host_alive_at_the_instant_is_listed(db: Path) -> None:
    rows = by_id(json.loads(cli(db, "--at", T, "-o", "json")))
    assert set(rows) == {NEW, TWIN, LONER, "host:hv-a"}
    assert rows[NEW]["owner"] == "alice" and rows[NEW]["host"] == "host:hv-a"
    assert rows[NEW]["first_seen"] == iso(at(110)) and rows[NEW]["flags"] == []
    assert rows[TWIN]["flags"] == ["unowned"]


def test_the_owner_filter_and_flagged(db: Path) -> None:
    owned = by_id(json.loads(cli(db, "--at", T, "--owner", "ALICE", "-o", "json")))
    assert set(owned) == {NEW}
    # The inventory was recorded now: at now, LONER is dave's, past support; the host
    # it lists that nothing recorded is listed too, flagged.
    flagged = by_id(json.loads(cli(db, "--flagged", "-o", "json")))
    assert flagged[LONER]["flags"] == ["support-ended"]
    assert flagged["host:hv-gone"]["flags"] == ["unrecorded"]
    assert flagged[TWIN]["flags"] == ["unowned"]
    assert NEW not in flagged  # bob's, and no support date is no flag


def test_csv_has_a_header_and_one_row_each(db: Path) -> None:
    rows = list(csv.reader(io.StringIO(cli(db, "-o", "csv"))))
    assert rows[0] == CSV_COLUMNS
    loner = next(r for r in rows if r[0] == LONER)
    assert dict(zip(rows[0], loner, strict=True)) | {"first_seen": ""} == {
        "entity": LONER, "kind": "vm", "name": "batch", "owner": "dave", "cost_centre": "",
        "purpose": "", "support_end": "2001-01-01", "support": "ended", "host": "host:hv-a",
        "first_seen": "", "flags": "support-ended", "vendor": "", "model": "", "serial": "",
        "bios_date": "", "bios_vendor": "", "bios_version": "",
    }  # fmt: skip


def test_the_api_answers_the_same(db: Path) -> None:
    with TestClient(create_app(Settings(db=db))) as client:
        listed = client.get("/api/assets", params={"at": T, "owner": "alice"}).json()
        assert listed == json.loads(cli(db, "--at", T, "--owner", "alice", "-o", "json"))
        got = client.get("/api/assets", params={"output": "csv"})
        assert got.headers["content-type"].startswith("text/csv")
        assert got.text == cli(db, "-o", "csv")
        card = client.get(f"/api/asset/{NEW}").json()
        assert card["lineage"]["replaces"]["evidence"][0]["kind"] == "disk"
        by_name = client.get("/api/asset/batch").json()
        assert by_name["entity"] == LONER
        missing = client.get("/api/asset/vm:nope")
        assert missing.status_code == 404 and "\n" not in missing.json()["detail"]
        assert client.get("/api/asset/host:hv-gone").json()["flags"] == ["unrecorded"]
