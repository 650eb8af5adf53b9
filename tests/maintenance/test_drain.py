"""`vtrail plan drain` and `/api/plan/drain` on the drain story (story.py has the fleet
and the arithmetic): capacity under the overcommit ratio, every rule kind a move is
checked against, placement largest first, the past, the owners' notice, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factory import at, snap
from maintenance.conftest import plan_cli
from maintenance.story import SRC, host, on, record, vm
from stores import contents, location
from vtrail.timeexpr import iso

STUCK = (
    "db-1 has nowhere to go: 1 host with 4 vCPUs and 8,192 MiB free, each breaks a rule "
    "(hv-d: db-off-d: db-1 on hv-d, which the rule excludes)"
)


def _moves(answer: dict[str, object]) -> list[tuple[object, ...]]:
    vms = answer["vms"]
    assert isinstance(vms, list)
    return [
        (
            m["name"], m["owner"], m["services"], m["rules"], m["target"],
            [(c["host"], c["free_vcpus"], c["free_memory_mib"]) for c in m["candidates"]],
        )
        for m in vms
    ]  # fmt: skip


def test_drain_places_largest_first_within_capacity_and_rules(drain_db: Path) -> None:
    code, out, err = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(120)), "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["at"], answer["host"]) == (iso(at(120)), "host:hv-a")
    assert answer["capacity"] == {"cpu_overcommit": 2.0, "memory_overcommit": 1.0}
    # stopped-1 is defined on hv-a but runs nowhere; app-2 left for hv-d at 60 s.
    assert _moves(answer) == [
        # hv-b has 4,096 MiB free, hv-c 7,168: neither holds 8,192; hv-d is excluded.
        ("db-1", "team-db", ["db"], ["db-apart", "db-off-d", "web-near-db"], None, []),
        # hv-d and hv-c have more room, but are in rack-2, away from web-2 in rack-1.
        ("web-1", None, ["web"], ["web-near-db", "web-together"], "host:hv-b",
         [("host:hv-b", 10.0, 4096.0)]),
        # Its owner is the register's; no rules bind it: the most free memory first.
        ("batch-1", "team-batch", ["batch"], [], "host:hv-d",
         [("host:hv-d", 23.0, 48128.0), ("host:hv-c", 7.0, 7168.0)]),
    ]  # fmt: skip
    assert answer["stuck"] == [STUCK]
    assert [(r["name"], r["kind"], r["checked"]) for r in answer["rules"]] == [
        ("db-apart", "anti-affinity", True),
        ("db-off-d", "host-anti-affinity", True),
        ("web-near-db", "max-hops", False),
        ("web-together", "same-domain", True),
    ]


def test_drain_in_the_past_sees_what_ran_then_and_the_room_each_move_took(
    drain_db: Path,
) -> None:
    code, out, err = plan_cli(drain_db, "drain", "host:hv-a", "--at", iso(at(30)), "-o", "json")
    assert code == 0, err
    moves = _moves(json.loads(out))
    assert [m[0] for m in moves] == ["db-1", "web-1", "batch-1", "app-2"]
    # hv-d had 24 vCPUs and 49,152 MiB free before batch-1 took 2 and 2,048 of them.
    assert moves[2][4:] == ("host:hv-d", [("host:hv-d", 24.0, 49152.0), ("host:hv-c", 7.0, 7168.0)])
    assert moves[3][4:] == ("host:hv-d", [("host:hv-d", 22.0, 47104.0), ("host:hv-c", 7.0, 7168.0)])


def test_the_table_says_the_vm_with_nowhere_to_go_in_one_line(drain_db: Path) -> None:
    code, out, _ = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(120)))
    assert code == 0
    assert "Draining hv-a" in out and "3 VMs, 1 with nowhere to go" in out
    assert STUCK in out.splitlines()
    assert "not checked" in out  # web-near-db


def test_the_owners_notice(drain_db: Path) -> None:
    code, out, _ = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(120)), "-o", "md")
    assert code == 0
    sections = {s.split("\n", 1)[0]: s for s in out.split("\n## ")[1:]}
    assert list(sections) == ["team-batch", "team-db", "team-web", "Not placed"]
    assert "| batch-1 | batch | 2 vCPU, 2,048 MiB | to hv-d |" in sections["team-batch"]
    assert "| db-1 | db | 4 vCPU, 8,192 MiB | **nowhere to go** |" in sections["team-db"]
    # web-1 records no owner of its own: its service's owner is told.
    assert "| web-1 | web | 2 vCPU, 4,096 MiB | to hv-b |" in sections["team-web"]
    assert out.startswith("# Maintenance of hv-a\n")


def test_the_api_answers_the_same(drain_db: Path, drain_client: TestClient) -> None:
    _, out, _ = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(120)), "-o", "json")
    got = drain_client.get("/api/plan/drain", params={"host": "hv-a", "at": iso(at(120))})
    assert got.status_code == 200 and got.json() == json.loads(out)
    md = drain_client.get(
        "/api/plan/drain", params={"host": "hv-a", "at": iso(at(120)), "output": "md"}
    )
    _, text, _ = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(120)), "-o", "md")
    assert md.status_code == 200 and md.text == text


def test_bad_input_is_one_line_and_changes_nothing(
    drain_db: Path, drain_client: TestClient
) -> None:
    before = contents(drain_db)
    code, out, err = plan_cli(drain_db, "drain", "hv-x", "--at", iso(at(120)))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: no host 'hv-x' at ") and "hosts: hv-a, hv-b, hv-c, hv-d" in err
    got = drain_client.get("/api/plan/drain", params={"host": "hv-x", "at": iso(at(120))})
    assert got.status_code == 404 and got.json()["detail"] == err.removeprefix("error: ").strip()
    code, _, err = plan_cli(drain_db, "drain", "hv-a", "--at", "2026-13-45")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    got = drain_client.get("/api/plan/drain", params={"host": "hv-a", "at": "2026-13-45"})
    assert got.status_code == 422
    # Before the host was ever recorded, it is no host.
    code, _, err = plan_cli(drain_db, "drain", "hv-a", "--at", iso(at(-60)))
    assert code == 1 and err.startswith("error: no host 'hv-a' at ")
    assert contents(drain_db) == before


@pytest.mark.both_stores
def test_vms_an_affinity_rule_binds_move_together(
    request: pytest.FixtureRequest, store_kind: str, db_location: str, tmp_path: Path
) -> None:
    # x2 has 8,192 MiB free and x3 6,144: either holds app-1 or app-2 alone, but moved one
    # at a time each would leave the other behind on x1 and break app-together. As one
    # (4 vCPUs, 8,192 MiB) they fit x2 only.
    policy = (
        "services: {app: {members: {kind: vm, name: 'app-*'}}}\n"
        "rules: [{name: app-together, affinity: [app]}]\n"
    )
    items = [
        host("x1", 8, 16384), host("x2", 8, 8192), host("x3", 8, 6144),
        vm("app-1", 2, 4096), on("app-1", "x1"), vm("app-2", 2, 4096), on("app-2", "x1"),
    ]  # fmt: skip
    db = record(Path(db_location), policy, snap(SRC, 1, *items))
    code, out, err = plan_cli(db, "drain", "x1", "--at", iso(at(10)), "-o", "json")
    assert code == 0, err
    assert _moves(json.loads(out)) == [
        ("app-1", None, ["app"], ["app-together"], "host:x2", [("host:x2", 8.0, 8192.0)]),
        ("app-2", None, ["app"], ["app-together"], "host:x2", [("host:x2", 8.0, 8192.0)]),
    ]
    # With x2 gone from the record, nowhere holds them both: one line for the two.
    gone = snap(SRC, 20, *[i for i in items if i not in (items[1],)])
    again = location(request, store_kind, tmp_path / "again.db")
    db = record(Path(again), policy, snap(SRC, 1, *items), gone)
    code, out, _ = plan_cli(db, "drain", "x1", "--at", iso(at(30)), "-o", "json")
    assert json.loads(out)["stuck"] == [
        "app-1 and app-2 (bound together) have nowhere to go: "
        "no other host has 4 vCPUs and 8,192 MiB free"
    ]
