"""`vtrail image exposure`: every VM that ran an image or one backed by it, with its
hosts, owners and intervals, the VM that lived seconds included, and the VM-hours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at
from images.story import (
    BASE,
    BATCH,
    DB,
    DECLARED,
    GHOST,
    GHOST_DISK,
    HEX,
    OTHER,
    WEB,
    WEB_DISK,
    record_story,
)
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.images.exposure import exposure
from vtrail.store import open_store


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "exposure", record_story)


def cli(db: Path, *args: str) -> Any:
    done = CliRunner().invoke(app, [*args, "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_a_base_image_exposes_every_vm_on_an_overlay_the_ghost_too(db: Path) -> None:
    got = cli(db, "image", "exposure", f"sha256:{HEX}", "--from", at(-10).isoformat(),
              "--to", at(7200).isoformat())  # fmt: skip
    runs = [(x["entity"], x["host"], x["from"], x["to"], x["owner"]) for x in got["vms"]]
    assert runs == [
        (WEB, "host:hv-a", "2026-11-20T03:00:00.000Z", "2026-11-20T04:00:00.000Z", "alice"),
        (GHOST, "host:hv-b", "2026-11-20T03:01:40.000Z", "2026-11-20T03:01:45.000Z", "mallory"),
    ]
    assert [x["images"] for x in got["vms"]] == [[WEB_DISK], [GHOST_DISK]]
    assert got["vms"][1]["seconds"] == 5
    # DB is defined on the image itself but never ran: it was exposed to nothing.
    assert DB not in {x["entity"] for x in got["vms"]}
    assert got["vm_count"] == 2 and got["hosts"] == ["host:hv-a", "host:hv-b"]
    assert got["owners"] == ["alice", "mallory"]
    assert got["vm_hours"] == pytest.approx(3605 / 3600)
    assert set(got["images"]) == {BASE, WEB_DISK, GHOST_DISK}


def test_the_window_cuts_the_intervals(db: Path) -> None:
    store = open_store(db, readonly=True)
    try:
        a = exposure(store, BASE, at(102), at(1800))
        only_web = exposure(store, WEB_DISK, at(-10), at(7200))
        still = exposure(store, OTHER, at(3000), at(7200))
    finally:
        store.close()
    assert [(x.entity, x.t_from, x.t_to) for x in a.vms] == [
        (WEB, at(102), at(1800)),
        (GHOST, at(102), at(105)),
    ]
    assert [x.entity for x in only_web.vms] == [WEB]
    assert [(x.entity, x.t_to, x.ongoing) for x in still.vms] == [(BATCH, at(7200), True)]
    assert not a.vms[1].ongoing


def test_the_api_answers_as_the_cli(db: Path) -> None:
    params = {"image": BASE, "from": at(-10).isoformat(), "to": at(7200).isoformat()}
    with TestClient(create_app(Settings(db=db))) as c:
        r = c.get("/api/image/exposure", params=params)
        missing = c.get("/api/image/exposure", params={**params, "image": "nothing@1"})
        backwards = c.get("/api/image/exposure", params={**params, "from": params["to"]})
    assert r.status_code == 200
    assert r.json() == cli(db, "image", "exposure", BASE, "--from", params["from"],
                           "--to", params["to"])  # fmt: skip
    assert missing.status_code == 200 and missing.json()["vms"] == []
    assert backwards.status_code == 422


def test_a_bad_request_is_one_line(db: Path) -> None:
    done = CliRunner().invoke(
        app, ["image", "exposure", "nonsense", "--from", "-1h", "--db", str(db)]
    )
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == [
        "error: 'nonsense' names no image: give an image id, sha256:<hex>, NAME@VERSION or a path"
    ]


def test_the_images_in_use_count_their_vms(db: Path) -> None:
    got = cli(db, "images", "--at", at(102).isoformat())
    by_id = {x["facts"]["id"]: (x["vms"], x["running"]) for x in got["images"]}
    # BASE: DB on it, WEB and GHOST through their overlays; DB does not run.
    assert by_id[BASE] == (3, 2)
    assert by_id[WEB_DISK] == (1, 1) and by_id[GHOST_DISK] == (1, 1)
    assert by_id[OTHER] == (1, 1)
    later = {x["facts"]["id"] for x in cli(db, "images", "--at", at(7000).isoformat())["images"]}
    assert later == {BASE, OTHER, DECLARED}
