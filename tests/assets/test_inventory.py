"""Inventory files (YAML, CSV) recorded as the source `inventory:<path>`: a bad row is
refused in one line and nothing is recorded; a changed file is history."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assets.fleet import LONER, NEW, OLD, TWIN, record_fleet
from vtrail.cli.main import app
from vtrail.collectors.base import SourceError
from vtrail.collectors.inventory import InventoryCollector
from vtrail.recording.sources import BadSource, parse_source
from vtrail.store import open_store
from vtrail.store.reads.stats import StatsReader

GOOD_YAML = f"""
assets:
  - id: {NEW}
    owner: carol
    cost-centre: 4711
    purpose: web frontend
    support-end: 2031-06-30
  - id: host:hv-a
    owner: infra
    support_end: 2020-01-31
"""


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def journal_rows(db: Path) -> int:
    with closing(open_store(db, readonly=True)) as store:
        return StatsReader(store).counts()["journal"]


pytestmark = pytest.mark.both_stores


@pytest.fixture
def db(db_location: str) -> Path:
    return record_fleet(Path(db_location))


def test_an_inventory_gives_owner_cost_centre_purpose_and_support(db: Path, tmp_path: Path) -> None:
    inv = tmp_path / "assets.yaml"
    inv.write_text(GOOD_YAML)
    done = run("inventory", str(inv), "--db", str(db))
    assert done.exit_code == 0, done.output
    assert "recorded 2 assets" in done.stderr
    listed = json.loads(
        run("assets", "--at", "2026-11-20T03:05:00Z", "--db", str(db), "-o", "json").stdout
    )
    # The inventory is read now; at 03:05 nothing of it was said yet.
    assert all(a["owner"] != "carol" for a in listed["assets"])
    c = json.loads(run("asset", NEW, "--db", str(db), "-o", "json").stdout)
    # web-1's own metadata says bob; the register says carol: the VM's own word wins, flagged.
    assert c["facts"]["owner"] == {
        "value": "bob",
        "source": "libvirt+test:///default@hv-b",
        "disputed_by": f"inventory:{inv}",
        "disputed_value": "carol",
    }
    assert c["facts"]["cost_centre"]["value"] == "4711"
    assert c["facts"]["purpose"]["source"] == f"inventory:{inv}"
    assert c["support"] == {
        "status": "in-support",
        "end": "2031-06-30",
        "days_left": c["support"]["days_left"],
    }
    assert "disagreement" in c["flags"]
    host = json.loads(run("asset", "host:hv-a", "--db", str(db), "-o", "json").stdout)
    assert host["facts"]["owner"]["value"] == "infra"
    assert host["support"]["status"] == "ended" and "support-ended" in host["flags"]


def test_a_row_dropped_from_the_file_ends_its_facts(db: Path, tmp_path: Path) -> None:
    inv = tmp_path / "assets.csv"
    inv.write_text(f"id,owner\n{LONER},dave\n{TWIN},erin\n")
    assert run("inventory", str(inv), "--db", str(db)).exit_code == 0
    inv.write_text(f"id,owner\n{LONER},frank\n")
    assert run("inventory", str(inv), "--db", str(db)).exit_code == 0
    loner = json.loads(run("asset", LONER, "--db", str(db), "-o", "json").stdout)
    assert [(c["before"], c["after"]) for c in loner["owner_changes"]] == [
        (None, "dave"),
        ("dave", "frank"),
    ]
    twin = json.loads(run("asset", TWIN, "--db", str(db), "-o", "json").stdout)
    assert [(c["before"], c["after"]) for c in twin["owner_changes"]] == [
        (None, "erin"),
        ("erin", None),
    ]
    assert "unowned" in twin["flags"]


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("a.csv", f"id,owner,support-end\n{NEW},x,2027-13-01\n",
         "a.csv: line 2: support-end '2027-13-01' is not a date (YYYY-MM-DD)"),
        ("a.csv", f"id,ownr\n{NEW},x\n", "a.csv: unknown column 'ownr'; the columns are id, owner"),
        ("a.csv", f"id,owner\n{NEW},x\nport:hv-a/vnet0,y\n",
         "a.csv: line 3: 'port:hv-a/vnet0' is a port; an inventory row is a vm or a host"),
        ("a.csv", f"id,owner\n{NEW},x\n{NEW.upper().replace('VM:', 'vm:')},y\n",
         f"a.csv: line 3: {NEW} is listed twice (line 2)"),
        ("a.csv", f"id,owner\n{NEW},x,extra\n", "a.csv: line 2: 3 cells under 2 columns"),
        ("a.yaml", "- owner: x\n", "a.yaml: asset 1: no id: name the VM (vm:<uuid>) or host"),
        ("a.yaml", f"- id: {NEW}\n  owner: [a, b]\n", "a.yaml: asset 1: owner is text, not list"),
        ("a.yaml", "assets: {", "a.yaml: line 1: expected the node content"),
    ],
)  # fmt: skip
def test_a_bad_row_is_refused_in_one_line_and_nothing_is_recorded(
    db: Path, tmp_path: Path, name: str, text: str, error: str
) -> None:
    before = journal_rows(db)
    inv = tmp_path / name
    inv.write_text(text)
    done = run("inventory", str(inv), "--db", str(db))
    assert done.exit_code == 1
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith("error: ")
    assert error in line
    assert journal_rows(db) == before


def test_the_record_source_reads_the_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    inv = tmp_path / "assets.yaml"
    inv.write_text(f"- id: {OLD}\n  owner: gina\n  image: debian@12\n")
    spec = parse_source(f"inventory:{inv}")
    assert spec.uri == f"inventory:{inv}"
    obs = InventoryCollector(inv).snapshot()
    assert obs.source == f"inventory:{inv}" and obs.kind == "snapshot"
    (e,) = obs.entities
    assert (e.id, e.kind, e.attrs) == (
        f"asset:{OLD}",
        "asset",
        {"asset.owner": "gina", "asset.image": "debian@12"},
    )
    inv.write_text(f"- id: {OLD}\n  support-end: soon\n")
    with pytest.raises(SourceError, match="asset 1: support-end 'soon' is not a date"):
        InventoryCollector(inv).snapshot()
    with pytest.raises(BadSource, match="inventory:PATH"):
        parse_source("inventory:")


def test_vtrail_record_follows_an_inventory_and_a_dmi_table(
    tmp_path: Path, db_location: str
) -> None:
    inv = tmp_path / "assets.yaml"
    inv.write_text("- id: host:hv-z\n  owner: infra\n  support-end: 2030-01-01\n")
    dmi = tmp_path / "dmi-id"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Supermicro\n")
    db = db_location
    done = run("record", "--source", f"inventory:{inv}", "--source", f"dmi:{dmi}@hv-z",
               "--for", "1s", "--quiet", "--db", str(db))  # fmt: skip
    assert done.exit_code == 0, done.output
    card = json.loads(run("asset", "host:hv-z", "--db", str(db), "-o", "json").stdout)
    assert card["facts"]["owner"]["source"] == f"inventory:{inv}"
    assert card["hardware"] == {"vendor": "Supermicro"} and card["alive"]
    assert card["support"]["status"] == "in-support" and card["flags"] == []
