"""`vtrail plan rolling` and `/api/plan/rolling`: groups by graph colouring on the rolling
story, each with its drain plan; a plan refused with its reason on the drain story."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from factory import at
from maintenance.conftest import plan_cli
from maintenance.test_drain import STUCK
from vtrail.api import Settings, create_app
from vtrail.timeexpr import iso


def _groups(answer: dict[str, object]) -> list[tuple[list[str], list[tuple[str, str, str]]]]:
    groups = answer["groups"]
    assert isinstance(groups, list)
    return [(g["hosts"], [(m["name"], m["host"], m["target"]) for m in g["moves"]]) for g in groups]


def test_hosts_in_groups_drained_together(rolling_db: Path) -> None:
    code, out, err = plan_cli(rolling_db, "rolling", "--at", iso(at(120)), "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    # h1 holds db-1 beside db-2's h2 (db-apart), and web's only other host is h3: those two
    # pairs conflict, which two colours separate; h4 joins h1.
    assert [(c["a"], c["b"], c["reason"]) for c in answer["conflicts"]] == [
        ("host:h1", "host:h2", "db-apart: both hold members of db"),
        ("host:h1", "host:h3", "service web runs on these two only"),
    ]
    assert (answer["strategy"], answer["colours"]) == ("largest_first", 2)
    assert _groups(answer) == [
        # db-1 may not join db-2 on h2: h3; web-1 then to the most free memory left, h2.
        (["host:h1", "host:h4"], [("db-1", "host:h1", "host:h3"), ("web-1", "host:h1", "host:h2")]),
        # From the fleet as it stood: h1 has 2,048 MiB free, too little for db-2.
        (["host:h2", "host:h3"], [("db-2", "host:h2", "host:h4"), ("web-2", "host:h3", "host:h4")]),
    ]  # fmt: skip
    with TestClient(create_app(Settings(db=rolling_db, workers=1))) as client:
        got = client.get("/api/plan/rolling", params={"at": iso(at(120))})
    assert got.status_code == 200 and got.json() == answer


def test_a_selection_of_hosts(rolling_db: Path) -> None:
    code, out, err = plan_cli(
        rolling_db, "rolling", "--hosts", "h2,h[34]", "--at", iso(at(120)), "-o", "json"
    )
    assert code == 0, err
    answer = json.loads(out)
    # No pair among them conflicts: one colour. Drained together they would go to h1 alone,
    # whose 2,048 MiB free cannot hold db-2's 4,096: the group is split in two halves.
    assert (answer["colours"], answer["conflicts"]) == (1, [])
    assert _groups(answer) == [
        # h4 is empty, the most free memory: both go there.
        (["host:h2", "host:h3"], [("db-2", "host:h2", "host:h4"), ("web-2", "host:h3", "host:h4")]),
        (["host:h4"], []),
    ]  # fmt: skip


def test_a_plan_that_cannot_be_done_safely_is_refused(drain_db: Path) -> None:
    code, out, err = plan_cli(drain_db, "rolling", "--at", iso(at(120)))
    assert code == 1 and out == ""
    assert err == f"error: refused: cannot drain hv-a safely: {STUCK}\n"
    with TestClient(create_app(Settings(db=drain_db, workers=1))) as client:
        got = client.get("/api/plan/rolling", params={"at": iso(at(120))})
    assert got.status_code == 409
    assert got.json()["detail"] == f"cannot drain hv-a safely: {STUCK}"


def test_an_unknown_selection_is_one_line(rolling_db: Path) -> None:
    code, _, err = plan_cli(rolling_db, "rolling", "--hosts", "h9*", "--at", iso(at(120)))
    assert code == 1 and err == "error: 'h9*' names no host at the instant asked\n"
    code, _, err = plan_cli(rolling_db, "rolling", "--hosts", "domain:nope")
    assert code == 1 and err.startswith("error: the policy has no domain 'nope'")
