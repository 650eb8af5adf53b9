"""A VM re-created under a new uuid is linked to the one it replaced, with the evidence;
a VM alive beside it, or one that shares nothing, is not (docs/assets.md, "Continuity")."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assets.fleet import DISK, LONER, MAC_OLD, NEW, OLD, TWIN, record_fleet
from factory import at
from stores import STORES, recorded
from vtrail.assets.continuity import links
from vtrail.cli.main import app
from vtrail.store import open_store
from vtrail.timeexpr import iso


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "fleet", record_fleet)


def card(db: Path, what: str, *more: str) -> Any:
    done = CliRunner().invoke(app, ["asset", what, *more, "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_the_re_created_vm_is_linked_to_the_one_it_replaced_by_its_disk(db: Path) -> None:
    lineage = card(db, NEW)["lineage"]
    replaces = lineage["replaces"]
    assert replaces["earlier"] == OLD and replaces["later"] == NEW
    assert replaces["verdict"] == "likely the same asset"
    assert replaces["ended"] == iso(at(100)) and replaces["first_seen"] == iso(at(110))
    # The installer ISO both mounted is no evidence: only the disk is.
    assert replaces["evidence"] == [
        {"kind": "disk", "value": DISK, "last_seen": iso(at(100)), "first_seen": iso(at(110))}
    ]
    assert card(db, OLD)["lineage"]["replaced_by"]["later"] == NEW


def test_a_vm_alive_beside_it_or_sharing_nothing_is_not_linked(db: Path) -> None:
    # TWIN had OLD's MAC while OLD was alive: two machines, not one re-created.
    for eid in (TWIN, LONER):
        lineage = card(db, eid)["lineage"]
        assert lineage["replaces"] is None and lineage["replaced_by"] is None, eid
    with closing(open_store(db, readonly=True)) as store:
        assert [(x.earlier, x.later) for x in links(store)] == [(OLD, NEW)]


@pytest.mark.both_stores
def test_a_shared_mac_is_evidence_too(db_location: str) -> None:
    from assets.fleet import SRC, has_nic, nic, vm
    from factory import snap
    from vtrail.recording.recorder import Recorder

    a, b = "vm:bbbbbbbb-0000-4000-8000-000000000001", "vm:bbbbbbbb-0000-4000-8000-000000000002"
    with closing(open_store(db_location)) as store:
        Recorder(store).record(
            [
                snap(SRC, 0, vm(a, "db"), nic(a, MAC_OLD), has_nic(a, MAC_OLD)),
                snap(SRC, 50, vm(b, "db"), nic(b, MAC_OLD), has_nic(b, MAC_OLD)),
            ]
        )
        (link,) = links(store)
    assert (link.earlier, link.later) == (a, b)
    assert [(e.kind, e.value) for e in link.evidence] == [("mac", MAC_OLD)]


def test_the_card_says_where_it_ran_its_renames_and_owner_changes(db: Path) -> None:
    c = card(db, NEW, "--at", iso(at(300)) or "")
    assert c["alive"] and c["identity"]["name"] == "web-one"
    assert [(p["host"], p["from"], p["to"]) for p in c["placements"]] == [
        ("host:hv-a", iso(at(110)), iso(at(200))),
        ("host:hv-b", iso(at(200)), None),
    ]
    assert [(r["before"], r["after"]) for r in c["renames"]] == [
        (None, "web-1"),
        ("web-1", "web-one"),
    ]
    assert [(o["before"], o["after"], o["at"]) for o in c["owner_changes"]] == [
        (None, "alice", iso(at(110))),
        ("alice", "bob", iso(at(200))),
    ]
    # The rename and the new owner came with the move: hv-b's libvirt said them.
    assert {r["source"] for r in c["renames"][1:] + c["owner_changes"][1:]} == {
        "libvirt+test:///default@hv-b"
    }
    assert c["facts"]["owner"] == {
        "value": "bob",
        "source": "libvirt+test:///default@hv-b",
        "disputed_by": None,
        "disputed_value": None,
    }
    before = card(db, NEW, "--at", iso(at(150)) or "")
    assert before["identity"]["name"] == "web-1" and before["facts"]["owner"]["value"] == "alice"
    assert c["identity"]["disks"] == [DISK]
    assert c["first_seen"] == iso(at(110)) and c["ended"] is None


def test_the_card_of_an_ended_vm_says_how_long_it_lived(db: Path) -> None:
    c = card(db, OLD)
    assert not c["alive"] and c["ended"] == iso(at(100)) and c["lifetime_s"] == 100
    assert c["identity"]["macs"] == [MAC_OLD]


def test_only_vms_and_hosts_have_asset_records(db: Path) -> None:
    done = CliRunner().invoke(app, ["asset", f"nic:{OLD[3:]}/{MAC_OLD}", "--db", str(db)])
    assert done.exit_code == 1
    assert "is a nic: asset records are of VMs and hosts" in done.stderr
