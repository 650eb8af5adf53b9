"""`vtrail quota` and `GET /api/quota` on a real store: each owner's usage at the window's
start and at every change, the peak of each count and the first instant it was reached,
beside the quota in force at the window's end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at
from provisioning.story import record_story
from provisioning.test_admit import POLICY, record_policy
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli_app
from vtrail.provisioning.quota import Peak, quota
from vtrail.query.state import BadWindow
from vtrail.store import open_store


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = recorded(request, tmp_path_factory, "quota", record_story)
    record_policy(path, POLICY)
    return path


def test_usage_steps_and_peaks_per_owner(db: Path) -> None:
    store = open_store(db, readonly=True)
    a = quota(store, at(0), at(500))
    store.close()
    by = {o.owner: o for o in a.owners}
    assert set(by) == {"team-web", "team-batch"}
    web = by["team-web"]
    assert [(s.at, s.vms, s.vcpus, s.memory, s.addresses) for s in web.steps] == [
        (at(0), 2, 4, 4096, 2),
        (at(100), 3, 6, 6144, 3),  # ghost-1, for 20 seconds
        (at(120), 2, 4, 4096, 2),
        (at(200), 3, 6, 6144, 3),  # web-3
        (at(400), 2, 4, 4096, 2),
    ]
    # The first instant the peak was reached: the ghost's, not web-3's.
    assert web.peak["vms"] == Peak(3, at(100))
    assert web.peak["memory"] == Peak(6144, at(100))
    assert web.quota == {"vms": 3, "vcpus": 8, "memory": 8192, "addresses": 3}
    batch = by["team-batch"]
    assert batch.quota is None and len(batch.steps) == 1
    assert batch.peak["vcpus"] == Peak(2, at(0))


def test_one_owner_and_a_window_after_the_changes(db: Path) -> None:
    store = open_store(db, readonly=True)
    a = quota(store, at(130), at(150), owner="team-web")
    with pytest.raises(BadWindow):
        quota(store, at(150), at(130))
    store.close()
    assert [o.owner for o in a.owners] == ["team-web"]
    assert [(s.at, s.vms) for s in a.owners[0].steps] == [(at(130), 2)]


def test_the_cli_and_the_api_answer_the_same(db: Path) -> None:
    args = ["--from", at(0).isoformat(), "--to", at(500).isoformat()]
    done = CliRunner().invoke(cli_app, ["quota", *args, "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
    cli = json.loads(done.stdout)
    with TestClient(create_app(Settings(db=db))) as c:
        r = c.get("/api/quota", params={"from": args[1], "to": args[3]})
        assert r.status_code == 200, r.text
        assert r.json() == cli
        assert c.get("/api/quota", params={"from": args[3], "to": args[1]}).status_code == 422
    web = next(o for o in cli["owners"] if o["owner"] == "team-web")
    assert web["peak"]["vms"] == {"value": 3, "at": "2026-11-20T03:01:40.000Z"}
    table = CliRunner().invoke(cli_app, ["quota", *args, "--db", str(db)])
    assert table.exit_code == 0 and "team-web" in table.stdout
