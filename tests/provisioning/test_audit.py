"""`vtrail check` audits provisioning rules and quotas on a real store: each rule kind at an
instant and over a window, the VM that ran an uncertified image for 20 s, an image whose
security status changed under a running VM, owners from the inventory, quota intervals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from factory import at, ent, rel, snap
from provisioning.story import BATCH, SCRATCH, record_story
from stores import STORES, recorded
from vtrail.model import Observation
from vtrail.policy.load import parse_policy
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store
from vtrail.triage import check
from vtrail.triage.answer import RuleCheck

POLICY = """
provisioning:
  rules:
    - {name: certified-only, certified: true}
    - {name: certified-by-audit, owners: "team-b*", certified: [audit-team]}
    - {name: no-vulnerable, security: ok}
    - {name: web-debian, owners: team-web, images: "debian*"}
    - {name: batch-on-a, owners: team-batch, hosts: hv-a}
  quotas:
    team-web: {vms: 2, vcpus: 5, memory: 5GiB, addresses: 2}
"""


@pytest.fixture(scope="module", params=STORES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = recorded(request, tmp_path_factory, "audit", record_story)
    return open_store(path)


def rules(store: Store, policy: str = POLICY, **when: datetime) -> dict[str, RuleCheck]:
    found = check(store, parse_policy(policy), "test", **when)
    return {r.name: r for r in found.rules}


def spans(r: RuleCheck) -> list[tuple[datetime, datetime | None, list[str]]]:
    return [(v.t_from, v.t_to, v.members) for v in r.violations]


def test_a_vm_that_ran_an_uncertified_image_for_20_seconds_is_found(store: Store) -> None:
    r = rules(store, t_from=at(0), t_to=at(500))["certified-only"]
    assert spans(r) == [(at(100), at(120), ["vm:ghost-1"])]
    assert r.violations[0].place == SCRATCH
    assert r.violations[0].reason == "ghost-1 runs scratch@0, which is not certified"
    assert r.holds and r.kind == "certified"


def test_certified_by_someone_else_breaks_a_rule_naming_its_certifiers(
    store: Store,
) -> None:
    r = rules(store, at=at(50))["certified-by-audit"]
    assert not r.holds and r.members == ["vm:batch-1"]
    assert r.reason == "batch-1 runs batch@1, certified by sec-team, not by audit-team"


def test_an_image_that_became_vulnerable_breaks_the_vms_running_it_from_then(
    store: Store,
) -> None:
    r = rules(store, t_from=at(0), t_to=at(500))["no-vulnerable"]
    assert spans(r) == [(at(100), at(120), ["vm:ghost-1"]), (at(300), None, ["vm:batch-1"])]
    assert r.violations[1].place == BATCH
    assert "security vulnerable (CVE-2026-0001), not ok" in r.violations[1].reason
    assert not r.holds


def test_an_images_rule_holds_owners_to_their_globs_only(store: Store) -> None:
    r = rules(store, t_from=at(0), t_to=at(500))["web-debian"]
    # batch-1 runs batch@1, but the rule is team-web's.
    assert spans(r) == [(at(100), at(120), ["vm:ghost-1"])]
    assert r.violations[0].reason == "ghost-1 runs scratch@0, which matches none of debian*"


def test_a_hosts_rule_is_broken_where_the_owners_vm_runs_elsewhere(store: Store) -> None:
    r = rules(store, t_from=at(0), t_to=at(500))["batch-on-a"]
    assert spans(r) == [(at(0), None, ["vm:batch-1"])]
    assert r.violations[0].in_force_at_start and r.violations[0].place == "host:hv-c"
    assert r.reason == "batch-1 on hv-c, not on hv-a"


def test_a_quota_is_broken_while_the_owner_runs_more_than_it_allows(store: Store) -> None:
    r = rules(store, t_from=at(0), t_to=at(500))["quota:team-web"]
    assert r.kind == "quota"
    three = ["vm:ghost-1", "vm:web-1", "vm:web-2"]
    also = ["vm:web-1", "vm:web-2", "vm:web-3"]
    found = {(v.t_from, v.t_to, v.reason.split(" runs ")[1]) for v in r.violations}
    assert found == {
        (at(100), at(120), "3 VMs, quota 2"),
        (at(100), at(120), "6 vCPUs, quota 5"),
        (at(100), at(120), "6144 MiB of memory, quota 5120"),
        (at(100), at(120), "3 addresses, quota 2"),
        (at(200), at(400), "3 VMs, quota 2"),
        (at(200), at(400), "6 vCPUs, quota 5"),
        (at(200), at(400), "6144 MiB of memory, quota 5120"),
        (at(200), at(400), "3 addresses, quota 2"),
    }
    assert {tuple(v.members) for v in r.violations} == {tuple(three), tuple(also)}
    assert r.holds


def test_at_an_instant_the_rules_say_what_is_broken_then(store: Store) -> None:
    found = rules(store, at=at(110))
    assert not found["certified-only"].holds
    assert found["certified-only"].members == ["vm:ghost-1"]
    assert not found["quota:team-web"].holds
    assert rules(store, at=at(130))["certified-only"].holds


@pytest.mark.both_stores
def test_an_owner_from_the_inventory_counts_when_the_vm_says_none(db_location: str) -> None:
    s = open_store(Path(db_location))
    items = [
        ent("host:hv-a", hostname="hv-a"),
        ent("vm:x", name="x", state="running", vcpus=1, memory_kib=1024),
        ent("vm:y", name="y", state="running", vcpus=1, memory_kib=1024),
    ]
    Recorder(s).record(
        [
            snap("libvirt@a", 0, *items, rel("vm:x", "runs_on", "host:hv-a"),
                 rel("vm:y", "runs_on", "host:hv-a")),
            snap("inventory:assets.yaml", 10, ent("asset:vm:x", **{"asset.owner": "team-z"}),
                 ent("asset:vm:y", **{"asset.owner": "team-z"})),
        ]
    )  # fmt: skip
    policy = "provisioning: {quotas: {team-z: {vms: 1}}}"
    r = rules(s, policy, t_from=at(0), t_to=at(20))["quota:team-z"]
    assert spans(r) == [(at(10), None, ["vm:x", "vm:y"])]


@pytest.mark.both_stores
def test_a_vm_with_no_recorded_image_breaks_an_image_rule(db_location: str) -> None:
    s = open_store(Path(db_location))
    Recorder(s).record(
        [snap("libvirt@a", 0, ent("host:hv-a", hostname="hv-a"),
              ent("vm:x", name="x", state="running"), rel("vm:x", "runs_on", "host:hv-a"))]
    )  # fmt: skip
    r = rules(s, "provisioning: {rules: [{name: c, certified: true}]}", at=at(5))["c"]
    assert r.reason == "x runs no image vtrail knows"


@pytest.mark.both_stores
def test_a_vm_that_changes_owner_leaves_its_old_owners_count(db_location: str) -> None:
    s = open_store(Path(db_location))

    def fleet(seconds: float, y_owner: str) -> Observation:
        return snap(
            "libvirt@a", seconds, ent("host:hv-a", hostname="hv-a"),
            ent("vm:x", name="x", state="running", **{"asset.owner": "team-z"}),
            ent("vm:y", name="y", state="running", **{"asset.owner": y_owner}),
            rel("vm:x", "runs_on", "host:hv-a"), rel("vm:y", "runs_on", "host:hv-a"),
        )  # fmt: skip

    Recorder(s).record([fleet(0, "team-z"), fleet(20, "team-y")])
    policy = "provisioning: {quotas: {team-z: {vms: 1}}}"
    r = rules(s, policy, t_from=at(0), t_to=at(30))["quota:team-z"]
    assert spans(r) == [(at(0), at(20), ["vm:x", "vm:y"])]
    assert r.holds
