"""Membership recorded as relations over time (`member_of`, `in_domain`, source
`membership`), on real stores through the recorder, exact to the recorded instant."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory import at, ent, event, rel, snap
from vtrail.cli.main import app
from vtrail.model import Observation, RelKey
from vtrail.policy.model import Domain, Policy, Selector, Service
from vtrail.policy.record import to_observation
from vtrail.query import state
from vtrail.query.graph import topology
from vtrail.recording.ingest import rebuild
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.triage.derive import MembershipDeriver, derivers

SRC = "libvirt@fabric"
HOSTS = ("hv-a", "hv-b", "hv-c")
Span = tuple[str, datetime, datetime | None]


def fleet(seconds: float, placement: dict[str, str]) -> Observation:
    items: list[object] = [ent(f"host:{h}", hostname=h) for h in HOSTS]
    for name, host in placement.items():
        items += [ent(f"vm:{name}", name=name), rel(f"vm:{name}", "runs_on", f"host:{host}")]
    return snap(SRC, seconds, *items)


def move(seconds: float, name: str, old: str, new: str) -> Observation:
    return event(
        SRC,
        seconds,
        rel(f"vm:{name}", "runs_on", f"host:{new}"),
        gone_relations=((f"vm:{name}", "runs_on", f"host:{old}"),),
    )


def policy(web: str = "web-*") -> Policy:
    services = {
        "web": Service("web", Selector(kind="vm", name=web)),
        "db": Service("db", Selector(kind="vm", name="db-*")),
    }
    domains = {
        "rack-1": Domain("rack-1", hosts=("hv-a", "hv-b")),
        "rack-2": Domain("rack-2", hosts=("hv-c",)),
    }
    return Policy(services, domains, {})


def store_at(tmp_path: Path, name: str = "m.db") -> SqliteStore:
    s = SqliteStore(tmp_path / name)
    s.derivers = derivers()
    return s


def spans(store: SqliteStore, eid: str) -> list[Span]:
    """`eid`'s membership relations over all time: (target, from, to)."""
    found = state.history(store, eid).relations
    return sorted(
        (f"{r.key.rel} {r.key.dst}", r.valid_from, r.valid_to)
        for r in found
        if r.key.rel in ("member_of", "in_domain") and r.key.src == eid
    )


def story() -> list[Observation]:
    """web-1 on hv-a; the policy at 10 s; web-2 appears on hv-c at 20 s; web-1 moves to
    hv-c at 30 s; web-tmp lives on hv-b from 40 s to 60 s."""
    return [
        fleet(0, {"web-1": "hv-a", "db-1": "hv-b"}),
        to_observation(policy(), at(10)),
        fleet(20, {"web-1": "hv-a", "db-1": "hv-b", "web-2": "hv-c"}),
        move(30, "web-1", "hv-a", "hv-c"),
        fleet(40, {"web-1": "hv-c", "db-1": "hv-b", "web-2": "hv-c", "web-tmp": "hv-b"}),
        fleet(60, {"web-1": "hv-c", "db-1": "hv-b", "web-2": "hv-c"}),
    ]


EXPECTED = {
    "vm:web-1": [
        ("in_domain domain:rack-1", at(10), at(30)),
        ("in_domain domain:rack-2", at(30), None),
        ("member_of service:web", at(10), None),
    ],
    "vm:web-2": [
        ("in_domain domain:rack-2", at(20), None),
        ("member_of service:web", at(20), None),
    ],
    "vm:web-tmp": [
        ("in_domain domain:rack-1", at(40), at(60)),
        ("member_of service:web", at(40), at(60)),
    ],
    "vm:db-1": [
        ("in_domain domain:rack-1", at(10), None),
        ("member_of service:db", at(10), None),
    ],
}


def test_membership_is_recorded_from_the_policy_on_to_the_instant(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    rec = Recorder(store)
    for o in story():  # one batch each, as a collector hands them over
        rec.record([o])
    for eid, want in EXPECTED.items():
        assert spans(store, eid) == want, eid
    # A host is in the domains that name it, from the policy on, and in no service.
    assert spans(store, "host:hv-a") == [("in_domain domain:rack-1", at(10), None)]
    assert spans(store, "host:hv-c") == [("in_domain domain:rack-2", at(10), None)]
    shown = state.show(store, "vm:web-1", at(35))
    assert {(r.key.rel, r.key.dst, r.source) for r in shown.relations} >= {
        ("member_of", "service:web", "membership"),
        ("in_domain", "domain:rack-2", "membership"),
    }


def test_one_batch_a_late_batch_and_a_rebuild_give_the_same_membership(tmp_path: Path) -> None:
    whole = store_at(tmp_path, "whole.db")
    Recorder(whole).record(story())
    late = store_at(tmp_path, "late.db")
    rec = Recorder(late)
    obs = story()
    # The policy and the move arrive after what followed them.
    for o in [obs[0], obs[2], obs[4], obs[5], obs[1], obs[3]]:
        rec.record([o])
    rebuilt = tmp_path / "rebuilt.db"
    rebuild(whole, rebuilt, derivers=derivers())
    again = SqliteStore(rebuilt)
    for s in (whole, late, again):
        for eid, want in EXPECTED.items():
            assert spans(s, eid) == want, (s.path.name, eid)


def test_a_new_policy_ends_and_begins_membership_at_its_instant(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    rec = Recorder(store)
    for o in story():
        rec.record([o])
    # From 70 s only web-1 is web; replacing the policy again at the same glob changes nothing.
    rec.record([to_observation(policy("web-1"), at(70))])
    rec.record([to_observation(policy("web-1"), at(80))])
    assert spans(store, "vm:web-2") == [
        ("in_domain domain:rack-2", at(20), None),
        ("member_of service:web", at(20), at(70)),
    ]
    assert ("member_of service:web", at(10), None) in spans(store, "vm:web-1")
    # The diff over the new policy's instant names the membership that ended.
    changed = state.diff(store, at(65), at(75))
    assert RelKey("vm:web-2", "member_of", "service:web") in {
        r.key for r in changed.relations_removed
    }


def test_membership_is_an_edge_of_the_topology(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    Recorder(store).record(story())
    t = topology(store, at(50))
    edges = {(e.src, e.rel, e.dst) for e in t.edges}
    assert ("vm:web-tmp", "member_of", "service:web") in edges
    assert ("vm:web-tmp", "in_domain", "domain:rack-1") in edges
    assert ("vm:web-tmp", "member_of", "service:web") not in {
        (e.src, e.rel, e.dst) for e in topology(store, at(61)).edges
    }


def test_without_a_policy_nothing_is_derived(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    Recorder(store).record(story()[:1] + story()[2:])
    assert all(spans(store, eid) == [] for eid in EXPECTED)


def test_a_failed_batch_leaves_the_deriver_in_step(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    rec = Recorder(store)
    obs = story()
    rec.record(obs[:3])
    bad = Observation(SRC, at(35), "snapshot", (ent("vm:x", name=float("nan")),))
    with pytest.raises(ValueError):
        rec.record([obs[3], bad])
    for o in obs[3:]:
        rec.record([o])
    for eid, want in EXPECTED.items():
        assert spans(store, eid) == want, eid
    assert isinstance(store.derivers[0], MembershipDeriver)


def test_policy_apply_records_membership_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    store = SqliteStore(db)
    Recorder(store).record([fleet(0, {"web-1": "hv-a"})])
    store.close()
    file = tmp_path / "policy.yaml"
    file.write_text(
        "services:\n  web: {members: {kind: vm, name: 'web-*'}}\n"
        "domains:\n  rack-1: {hosts: [hv-a]}\n"
    )
    out = CliRunner().invoke(app, ["policy", "apply", str(file), "--db", str(db)])
    assert out.exit_code == 0, out.output
    shown = CliRunner().invoke(app, ["show", "vm:web-1", "--db", str(db), "-o", "json"])
    assert '"member_of"' in shown.output and "service:web" in shown.output
    assert "domain:rack-1" in shown.output
