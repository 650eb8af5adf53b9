"""Who is in each service and each domain at the instant a check is about: the answer's
`services` and `domains`, which the page colours the drawing by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.story import APP, DB, STORY_POLICY, WEB, record_story
from api.story import at as minute
from factory import at, ent, event, rel, snap
from vtrail.cli.main import app
from vtrail.policy.model import Domain, Policy, Rule, Selector, Service
from vtrail.query.jsonable import to_jsonable
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.timeexpr import iso
from vtrail.triage import check
from vtrail.triage.answer import Group

pytestmark = pytest.mark.both_stores

SRC = "libvirt@fabric"

SERVICES = {
    "web": Service("web", Selector(kind="vm", name="web-*")),
    "db": Service("db", Selector(kind="vm", name="db-*")),
}
DOMAINS = {
    "rack-1": Domain("rack-1", hosts=("hv-a", "hv-b")),
    "rack-2": Domain("rack-2", hosts=("hv-c", "hv-gone")),
    "row": Domain("row", hosts=("hv-b", "hv-c")),
}
POLICY = Policy(SERVICES, DOMAINS, {"apart": Rule("apart", "anti-affinity", ("db",))})


def vm(name: str, state: str = "running") -> object:
    return ent(f"vm:{name}", name=name, state=state)


def runs(name: str, host: str) -> object:
    return rel(f"vm:{name}", "runs_on", f"host:{host}")


def groups(found: list[Group] | None) -> dict[str, list[str]]:
    assert found is not None
    return {g.name: g.members for g in found}


def test_an_instant_says_who_is_in_each_service_and_domain(store: SqliteStore) -> None:
    hosts = [ent(f"host:{h}", hostname=h) for h in ("hv-a", "hv-b", "hv-c")]
    Recorder(store).record(
        [
            snap(
                SRC,
                0,
                *hosts,
                vm("web-1"),
                runs("web-1", "hv-a"),
                vm("db-1"),
                runs("db-1", "hv-b"),
                # In a service, but running nowhere: in no domain.
                vm("db-2", state="shutoff"),
                # In no service, but running on a host a domain names.
                vm("batch-1"),
                runs("batch-1", "hv-c"),
            ),
            event(
                SRC,
                60,
                runs("web-1", "hv-c"),
                gone_relations=(("vm:web-1", "runs_on", "host:hv-a"),),
            ),
        ]
    )
    before = check(store, POLICY, "t", at=at(30))
    # The policy's order, each member list sorted.
    assert groups(before.services) == {"web": ["vm:web-1"], "db": ["vm:db-1", "vm:db-2"]}
    assert [g.name for g in before.services or []] == ["web", "db"]
    # A domain holds the hosts it names that are live then (hv-gone never was), and what
    # runs on them; overlapping domains both hold what is in both.
    assert groups(before.domains) == {
        "rack-1": ["host:hv-a", "host:hv-b", "vm:db-1", "vm:web-1"],
        "rack-2": ["host:hv-c", "vm:batch-1"],
        "row": ["host:hv-b", "host:hv-c", "vm:batch-1", "vm:db-1"],
    }
    # The migration moves web-1 from one domain to the other at its instant.
    after = groups(check(store, POLICY, "t", at=at(60)).domains)
    assert "vm:web-1" not in after["rack-1"]
    assert "vm:web-1" in after["rack-2"] and "vm:web-1" in after["row"]


def test_a_domain_of_bridges_holds_what_is_plugged_into_them(tmp_path: Path) -> None:
    """No rule needs the plugs here (no same-domain rule), yet the instant's domains do:
    web-1's NIC sits on the isolated br-iso from minute 20 to minute 30."""
    store = SqliteStore(record_story(tmp_path / "story.db"))
    p = Policy(
        {"web": SERVICES["web"]},
        {"lan": Domain("lan", bridges=("br-web", "hv-a/br-db"))},
        {"apart": Rule("apart", "anti-affinity", ("web",))},
    )
    bridges = ["bridge:hv-a/br-db", "bridge:hv-a/br-web", "bridge:hv-b/br-web"]
    lan = groups(check(store, p, "t", at=minute(12)).domains)["lan"]
    assert lan == sorted([*bridges, WEB, DB, APP])
    cut = groups(check(store, p, "t", at=minute(25)).domains)["lan"]
    assert cut == sorted([*bridges, DB, APP])
    store.close()


def test_a_window_leaves_them_out_and_the_json_names_them(store: SqliteStore) -> None:
    Recorder(store).record(
        [snap(SRC, 0, ent("host:hv-a", hostname="hv-a"), vm("db-1"), runs("db-1", "hv-a"))]
    )
    window = check(store, POLICY, "t", t_from=at(0), t_to=at(60))
    assert window.services is None and window.domains is None
    answer = to_jsonable(check(store, POLICY, "t", at=at(30)))
    assert answer["services"] == [
        {"name": "web", "members": []},
        {"name": "db", "members": ["vm:db-1"]},
    ]
    assert answer["domains"][0] == {"name": "rack-1", "members": ["host:hv-a", "vm:db-1"]}
    # The contract's keys are all still there.
    assert {"at", "from", "to", "policy", "rules"} <= set(answer)
    assert set(answer["rules"][0]) >= {"name", "holds", "violations", "members"}
    assert to_jsonable(window)["services"] is None


def test_the_cli_shows_them_in_json_only(tmp_path: Path) -> None:
    db = record_story(tmp_path / "story.db")
    argv = ["check", "--at", iso(minute(12)), "--policy", str(STORY_POLICY), "--db", str(db)]
    done = CliRunner().invoke(app, [*argv, "-o", "json"])
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    assert {g["name"]: g["members"] for g in answer["domains"]} == {
        "rack-a": ["host:hv-a", DB],
        "rack-b": sorted(["host:hv-b", WEB, APP]),
    }
    table = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "Rules at" in table.stdout
    assert "host:hv-a" not in table.stdout and APP not in table.stdout
