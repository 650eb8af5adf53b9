"""`plan review` on a window recorded by hand, every figure computed from the story:

| s | what |
| --- | --- |
| 1 | a and b run on h1, c on h2, d on h4; h3 empty |
| 10 | a migrates live from h1 to h3 |
| 20 | b is shut off on h1 (h1 is empty from here) |
| 25 | b is undefined |
| 30 | b is defined and started on h2 |
| 40 | c is shut off on h2, and stays so |
| 50 | d migrates live from h4 to h3 (h4 is empty from here) |

The window is 5 s to 60 s; the plan said h4 and h2 first, then h1, a and b to h2, c
to h1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import at, ent, event, rel, snap
from maintenance.conftest import plan_cli
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.timeexpr import iso

SRC = "libvirt@hand"
PLAN = {
    "groups": [
        {"hosts": ["host:h4", "host:h2"], "moves": [
            {"vm": "vm:c", "host": "host:h2", "target": "host:h1"},
        ]},
        {"hosts": ["host:h1"], "moves": [
            {"vm": "vm:a", "host": "host:h1", "target": "host:h2"},
            {"vm": "vm:b", "host": "host:h1", "target": "host:h2"},
        ]},
    ]
}  # fmt: skip


def vm(name: str, state: str = "running") -> object:
    return ent(f"vm:{name}", name=name, state=state)


def on(name: str, host: str) -> object:
    return rel(f"vm:{name}", "runs_on", f"host:{host}")


def off(name: str, host: str) -> tuple[str, str, str]:
    return (f"vm:{name}", "runs_on", f"host:{host}")


@pytest.mark.both_stores
def test_a_window_reviewed_against_its_plan(tmp_path: Path, db_location: str) -> None:
    db = Path(db_location)
    store = open_store(db)
    hosts = [ent(f"host:{h}", hostname=h) for h in ("h1", "h2", "h3", "h4")]
    Recorder(store).record(
        [
            snap(SRC, 1, *hosts, vm("a"), vm("b"), vm("c"), vm("d"),
                 on("a", "h1"), on("b", "h1"), on("c", "h2"), on("d", "h4")),
            event(SRC, 10, on("a", "h3"), gone_relations=(off("a", "h1"),)),
            event(SRC, 20, vm("b", "shutoff"), gone_relations=(off("b", "h1"),)),
            event(SRC, 25, gone=("vm:b",)),
            event(SRC, 30, vm("b"), on("b", "h2")),
            event(SRC, 40, vm("c", "shutoff"), gone_relations=(off("c", "h2"),)),
            event(SRC, 50, on("d", "h3"), gone_relations=(off("d", "h4"),)),
        ]
    )  # fmt: skip
    store.close()
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    code, out, err = plan_cli(
        db, "review", "--from", iso(at(5)), "--to", iso(at(60)), "--plan", str(plan), "-o", "json"
    )
    assert code == 0, err
    a = json.loads(out)
    assert a["hosts"] == ["host:h1", "host:h2", "host:h3", "host:h4"]
    assert [
        (m["vm"], m["source"], m["target"], m["at"], m["ended"], m["gap_seconds"])
        for m in a["migrations"]
    ] == [
        ("vm:a", "host:h1", "host:h3", iso(at(10)), iso(at(10)), 0),
        ("vm:b", "host:h1", "host:h2", iso(at(30)), iso(at(20)), 10),
        ("vm:d", "host:h4", "host:h3", iso(at(50)), iso(at(50)), 0),
    ]
    assert [(d["vm"], d["kind"], d["from"], d["to"], d["seconds"]) for d in a["downtime"]] == [
        ("vm:b", "stopped", iso(at(20)), iso(at(25)), 5),
        ("vm:b", "absent", iso(at(25)), iso(at(30)), 5),
        # Still down when the window ends.
        ("vm:c", "stopped", iso(at(40)), None, 20),
    ]
    assert a["violations"] == []  # no policy was ever applied
    assert [(d["host"], d["at"], d["vms"], d["since"]) for d in a["drained"]] == [
        ("host:h1", iso(at(20)), ["vm:a", "vm:b"], None),
        ("host:h4", iso(at(50)), ["vm:d"], None),
    ]
    p = a["plan"]
    assert [(m["vm"], m["planned"], m["actual"], m["status"]) for m in p["moves"]] == [
        ("vm:c", "host:h1", [], "not moved"),
        ("vm:a", "host:h2", ["host:h3"], "elsewhere"),
        ("vm:b", "host:h2", ["host:h2"], "as planned"),
    ]
    assert p["out_of_order"] == ["host:h1 (group 2) was drained before host:h4 (group 1)"]
    assert (p["not_drained"], p["unplanned"], p["as_planned"]) == (["host:h2"], [], False)

    code, out, _ = plan_cli(db, "review", "--from", iso(at(5)), "--to", iso(at(60)), width=120)
    assert code == 0
    assert "Hosts drained, in order" in out and "still down" in out
