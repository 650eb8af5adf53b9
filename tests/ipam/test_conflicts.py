"""Every conflict kind, with its interval, at an instant and over a window."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ipam.fabric import NOW, ago, allocated, apply_pools, holds, plugged
from vtrail.cli.main import app
from vtrail.ipam.conflicts import Conflict, conflicts
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

pytestmark = pytest.mark.both_stores

A = "nic:aaaaaaaa-0000-4000-8000-000000000001/52:54:00:aa:00:01"
B = "nic:bbbbbbbb-0000-4000-8000-000000000002/52:54:00:aa:00:01"
GOOD = "nic:cccccccc-0000-4000-8000-000000000003/02:00:00:00:00:07"


def story(recorder: Recorder) -> None:
    apply_pools(recorder)
    # Two interfaces of one namespace hold 10.0.3.20 for two hours at once.
    holds(recorder, "netlink:blue", "port:blue/eth0", "10.0.3.20", "blue", ago(3), ago(2))
    holds(recorder, "netlink:blue", "port:blue/eth1", "10.0.3.20", "blue", ago(3, -1), ago(2, 2))
    # The same MAC on two running VMs' NICs for a day; a third NIC's MAC is in a pool.
    plugged(recorder, A, "bridge:hv-a/br0", ago(5), None)
    plugged(recorder, B, "bridge:hv-b/br0", ago(4), ago(3))
    plugged(recorder, GOOD, "bridge:hv-b/br0", ago(4), None)
    # Allocated 15 days ago and never used since: stale after the pool's 7 days.
    allocated(recorder, "lab", "10.0.3.30", "lab", "vm:idle", ago(15))
    # Allocated and in use: no conflict.
    allocated(recorder, "lab", "10.0.3.40", "lab", "vm:busy", ago(15))
    holds(recorder, "netlink:red", "port:red/eth0", "10.0.3.40", "red", ago(14), None)
    # An allocation the pool does not hold (its prefix is 10.0.3.0/24).
    allocated(recorder, "lab", "10.0.4.5", "lab", "vm:far", ago(1))


def kinds(found: list[Conflict], kind: str) -> list[Conflict]:
    return [c for c in found if c.kind == kind]


def test_every_kind_over_a_window(store: SqliteStore, recorder: Recorder) -> None:
    story(recorder)
    found = conflicts(store, t_from=ago(20), t_to=NOW).conflicts
    (dup,) = kinds(found, "duplicate-address")
    assert (dup.address, dup.space, dup.entities) == (
        "10.0.3.20",
        "blue",
        ["port:blue/eth0", "port:blue/eth1"],
    )
    assert (dup.t_from, dup.t_to) == (ago(3, -1), ago(2, 2))
    (mac,) = kinds(found, "duplicate-mac")
    assert (mac.address, mac.entities, mac.t_from, mac.t_to) == (
        "52:54:00:aa:00:01",
        [A, B],
        ago(4),
        ago(3),
    )
    # 10.0.3.20 was used, never allocated, from the first holder's start to the last's end.
    (unalloc,) = kinds(found, "unallocated")
    assert (unalloc.address, unalloc.pool, unalloc.t_from, unalloc.t_to) == (
        "10.0.3.20",
        "lab",
        ago(3),
        ago(2),
    )
    (stale,) = kinds(found, "stale-allocation")
    assert (stale.address, stale.entities, stale.t_from, stale.t_to) == (
        "10.0.3.30",
        ["vm:idle"],
        ago(8),
        None,
    )
    outside = kinds(found, "mac-outside-pools")
    assert {(c.entities[0], c.t_from) for c in outside} == {(A, ago(5)), (B, ago(4))}
    (far,) = kinds(found, "outside-pool")
    assert (far.address, far.pool, far.entities, far.t_from) == (
        "10.0.4.5",
        "lab",
        ["vm:far"],
        ago(1),
    )


def test_at_an_instant_only_what_held_then(store: SqliteStore, recorder: Recorder) -> None:
    story(recorder)
    then = conflicts(store, at=ago(3, 0.5)).conflicts
    assert {c.kind for c in then} == {"duplicate-mac", "stale-allocation", "mac-outside-pools"}
    later = conflicts(store, at=ago(2, 3)).conflicts
    assert {c.kind for c in later} == {"duplicate-address", "unallocated", "stale-allocation",
                                       "mac-outside-pools"}  # fmt: skip
    # Nine days ago the idle allocation was not yet a week old, and no NIC was plugged.
    assert conflicts(store, at=ago(9)).conflicts == []


def test_the_cli_answers_the_issues_shape(
    store: SqliteStore, recorder: Recorder, db_location: str
) -> None:
    story(recorder)
    done = CliRunner().invoke(
        app,
        ["ipam", "conflicts", "--from", "-20d", "--to", "now", "--db", db_location, "-o", "json"],
    )
    assert done.exit_code == 0, done.output
    items = json.loads(done.stdout)["conflicts"]
    assert {i["kind"] for i in items} == {"duplicate-address", "duplicate-mac", "unallocated",
                                          "stale-allocation", "mac-outside-pools", "outside-pool"}  # fmt: skip
    assert all({"kind", "address", "entities", "from", "to"} <= i.keys() for i in items)
    bad = CliRunner().invoke(
        app, ["ipam", "conflicts", "--from", "now", "--to", "-1d", "--db", db_location]
    )
    assert bad.exit_code == 1 and "ends" in bad.output and len(bad.output.strip().splitlines()) == 1


NARROWED = """
pools:
  lab:  {prefix: 10.0.3.0/26, space: lab}
"""


def test_pools_are_judged_as_they_were_at_each_instant(
    store: SqliteStore, recorder: Recorder
) -> None:
    """The policy narrows `lab` to a /26 two days ago: what it no longer holds stops
    being unallocated and its allocation falls outside from then on; a conflict it
    holds all along stays one."""
    apply_pools(recorder)
    allocated(recorder, "lab", "10.0.3.100", "lab", "vm:kept", ago(10))
    holds(recorder, "netlink:lab", "port:lab/eth0", "10.0.3.100", "lab", ago(10), None)
    holds(recorder, "netlink:lab", "port:lab/eth1", "10.0.3.200", "lab", ago(5), None)
    holds(recorder, "netlink:lab", "port:lab/eth2", "10.0.3.10", "lab", ago(5), None)
    apply_pools(recorder, NARROWED, at=ago(2))
    found = conflicts(store, t_from=ago(8), t_to=NOW).conflicts
    got = {(c.kind, c.address, c.t_from, c.t_to) for c in found}
    assert got == {
        ("unallocated", "10.0.3.200", ago(5), ago(2)),
        ("unallocated", "10.0.3.10", ago(5), None),
        ("outside-pool", "10.0.3.100", ago(2), None),
    }
    # At an instant, the pools of that instant.
    before = conflicts(store, at=ago(3)).conflicts
    assert {(c.kind, c.address) for c in before} == {
        ("unallocated", "10.0.3.200"),
        ("unallocated", "10.0.3.10"),
    }


def test_an_allocation_of_something_not_an_address_is_named_as_written(
    store: SqliteStore, recorder: Recorder
) -> None:
    """Anyone with a writer token can post an `allocated_to` edge from any entity (the
    API's generated tests did, from an `id:` entity). The question still answers: the
    member is outside every pool, named by its id, where it once refused with a 422."""
    apply_pools(recorder)
    recorder.record(
        [
            Observation(
                "someone",
                ago(2),
                "event",
                (EntityObs("id:odd", "id", {"pool": "lab"}),),
                (RelationObs(RelKey("id:odd", "allocated_to", "vm:x"), {"pool": "lab"}),),
            )
        ]
    )
    (odd,) = kinds(conflicts(store, t_from=ago(3), t_to=NOW).conflicts, "outside-pool")
    assert (odd.address, odd.entities, odd.t_from) == ("id:odd", ["vm:x"], ago(2))
