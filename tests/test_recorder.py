"""The recorder's rules, each against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import gc

import pytest

from collector import garbage, passes
from factory import at, disconnect, ent, event, rel, sample, snap
from vtrail.query import names, state
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.reads.stats import StatsReader

pytestmark = pytest.mark.both_stores


def rows(store: SqliteStore) -> dict[str, int]:
    return StatsReader(store).counts()


def test_snapshot_opens_changes_and_closes(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record(
        [
            snap(
                "a",
                0,
                ent("vm:1", name="web", state="running"),
                ent("host:a"),
                rel("vm:1", "runs_on", "host:a"),
            )
        ]
    )
    recorder.record(
        [
            snap(
                "a",
                10,
                ent("vm:1", name="web", state="paused"),
                ent("host:a"),
                rel("vm:1", "runs_on", "host:a"),
            )
        ]
    )
    recorder.record([snap("a", 20, ent("host:a"))])
    h = state.history(store, "vm:1")
    assert [(v.valid_from, v.valid_to, v.attrs["state"]) for v in h.versions] == [
        (at(0), at(10), "running"),
        (at(10), at(20), "paused"),
    ]
    assert [(r.key.rel, r.valid_from, r.valid_to) for r in h.relations] == [
        ("runs_on", at(0), at(20))
    ]
    assert all(v.source == "a" for v in h.versions)


def test_unchanged_snapshot_of_10k_entities_adds_only_its_journal_row(
    store: SqliteStore, recorder: Recorder
) -> None:
    items = [ent(f"vm:{i}", name=f"vm-{i}", state="running") for i in range(10_000)]
    recorder.record([snap("a", 0, *items)])
    before = rows(store)
    stats = recorder.record([snap("a", 10, *items)])
    after = rows(store)
    assert stats.rows_written == 0
    assert after["journal"] == before["journal"] + 1
    assert {k: v for k, v in after.items() if k != "journal"} == {
        k: v for k, v in before.items() if k != "journal"
    }


def test_same_observation_twice_changes_nothing(store: SqliteStore, recorder: Recorder) -> None:
    o = snap("a", 0, ent("vm:1", name="web"), sample("vm:1", "cpu_time_ns", 5))
    recorder.record([o])
    before = rows(store)
    stats = recorder.record([o, o])
    assert stats.duplicates == 2 and stats.observations == 0
    assert rows(store) == before


def test_events_open_and_close_one_thing(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([event("a", 0, ent("vm:1", name="web"), rel("vm:1", "runs_on", "host:a"))])
    recorder.record([event("a", 5, ent("vm:2", name="db"))])
    recorder.record([event("a", 9, gone=("vm:1",))])
    h = state.history(store, "vm:1")
    assert [(v.valid_from, v.valid_to) for v in h.versions] == [(at(0), at(9))]
    # A gone entity's edges from the same source end with it.
    assert [(r.valid_from, r.valid_to) for r in h.relations] == [(at(0), at(9))]
    assert state.show(store, "vm:2", at(9)).version is not None


def test_gone_relation_event(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([event("a", 0, rel("vm:1", "runs_on", "host:a"))])
    recorder.record([event("a", 3, gone_relations=(("vm:1", "runs_on", "host:a"),))])
    assert [(r.valid_from, r.valid_to) for r in state.history(store, "vm:1").relations] == [
        (at(0), at(3))
    ]


def test_a_source_only_closes_what_it_reported(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record(
        [snap("libvirt", 0, ent("vm:1", name="web"), ent("port:h/vnet0", ifname="vnet0"))]
    )
    recorder.record([snap("netlink", 1, ent("port:h/vnet0", ifname="vnet0"))])
    # libvirt stops reporting the port; netlink still sees it: it stays alive.
    recorder.record([snap("libvirt", 10, ent("vm:1", name="web"))])
    assert state.show(store, "port:h/vnet0", at(11)).version is not None
    recorder.record([snap("netlink", 12)])
    v = state.history(store, "port:h/vnet0").versions
    assert v[-1].valid_to == at(12)


def test_gap_closes_with_vanished_between(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("vm:1", name="web"), ent("vm:2", name="db"))])
    recorder.record([snap("a", 10, ent("vm:1", name="web"), ent("vm:2", name="db"))])
    recorder.record([disconnect("a", 15)])
    # Unreachable: nothing vanishes yet.
    assert state.show(store, "vm:2", at(40)).version is not None
    recorder.record([snap("a", 60, ent("vm:1", name="web"))])
    (v,) = state.history(store, "vm:2").versions
    assert v.valid_to == at(60)
    assert v.vanished_after == at(10)
    life = state.lifetime(store, "vm:2")
    assert life.vanished_between == [at(10), at(60)]
    # vm:1 was seen again: it never ended.
    assert state.history(store, "vm:1").versions[-1].valid_to is None


def test_tombstone_keeps_final_counters_and_totals_across_resets(
    store: SqliteStore, recorder: Recorder
) -> None:
    b = "bridge:sw/br-ghost"
    recorder.record([event("n", 0, ent(b, ifname="br-ghost"), sample(b, "tx_bytes", 0))])
    recorder.record([event("n", 10, sample(b, "tx_bytes", 900_000_000))])
    recorder.record([event("n", 20, sample(b, "tx_bytes", 100_000_000))])  # counter reset
    recorder.record([event("n", 30, sample(b, "tx_bytes", 700_000_000))])
    recorder.record([event("n", 40, sample(b, "tx_bytes", 700_000_000), gone=(b,))])
    life = state.lifetime(store, b)
    assert life.first_seen == at(0) and life.ended == at(40) and life.lifetime_s == 40.0
    (c,) = life.counters
    assert c.metric == "tx_bytes"
    assert c.last_value == 700_000_000
    assert c.total == 900_000_000 + 100_000_000 + 600_000_000


def test_late_observation_is_put_in_its_place(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("vm:1", state="running"))])
    recorder.record([snap("a", 20, ent("vm:1", state="running"))])
    stats = recorder.record([snap("a", 10, ent("vm:1", state="paused"))])
    assert stats.replays == 1
    assert [
        (v.valid_from, v.valid_to, v.attrs["state"]) for v in state.history(store, "vm:1").versions
    ] == [
        (at(0), at(10), "running"),
        (at(10), at(20), "paused"),
        (at(20), None, "running"),
    ]


def test_a_failed_batch_writes_nothing(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("vm:1"))])
    before = rows(store)

    def boom():  # type: ignore[no-untyped-def]
        yield snap("a", 5, ent("vm:2"))
        raise RuntimeError("source broke mid-batch")

    with contextlib.suppress(RuntimeError):
        recorder.record(boom())
    assert rows(store) == before
    # The store still works, and interned ids of the failed batch were forgotten.
    recorder.record([snap("a", 6, ent("vm:3"))])
    assert state.show(store, "vm:3", at(6)).version is not None


def test_snapshot_uses_checkpoints_and_agrees_without_them(db_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = SqliteStore(db_path), SqliteStore(tmp_path / "nocp.db")
    with_cp, without = Recorder(a, checkpoint_min=50), Recorder(b, checkpoint_min=10**9)
    for i in range(60):
        items = [ent(f"vm:{j}", n=i if j % 3 == 0 else 0) for j in range(i % 7, 40)]
        for r in (with_cp, without):
            r.record([snap("a", i, *items, rel(f"vm:{i % 40}", "runs_on", "host:x"))])
    assert StatsReader(a).counts()["checkpoint"] > 0
    for t in (0.5, 13, 29.5, 44, 59, 100):
        sa, sb = state.snapshot(a, at(t)), state.snapshot(b, at(t))
        assert sa == sb
    a.close()
    b.close()


def test_diff_names_each_changed_attribute(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("vm:1", name="web", state="running", vcpus=2))])
    recorder.record([snap("a", 10, ent("vm:1", name="web", state="paused", vcpus=4))])
    recorder.record([snap("a", 20, ent("vm:1", name="web", state="paused", mem=1024))])
    d = state.diff(store, at(5), at(15))
    assert [(c.entity, c.changes) for c in d.changed] == [
        ("vm:1", {"state": ["running", "paused"], "vcpus": [2, 4]})
    ]
    d = state.diff(store, at(5), at(25))  # the key set changed too
    assert d.changed[0].changes == {
        "mem": [None, 1024],
        "state": ["running", "paused"],
        "vcpus": [2, None],
    }


def test_an_ambiguous_name_lists_its_candidates(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("vm:1", name="web"), ent("vm:2", name="web"))])
    with pytest.raises(names.Ambiguous) as err:
        state.where(store, "web", at(1))
    assert err.value.candidates == ["vm:1", "vm:2"]
    assert "'web' is ambiguous: vm:1, vm:2" in str(err.value)


def test_a_checkpoint_due_in_a_write_the_caller_holds_waits_for_the_next_batch(
    store: SqliteStore,
) -> None:
    """An allocator records inside a write it holds while others queue for their turn:
    the live-set checkpoint that falls due there is taken by the next batch recorded
    alone, and the snapshot agrees either way."""
    recorder = Recorder(store, checkpoint_min=5)

    def checkpoints() -> int:
        return StatsReader(store).counts()["checkpoint"]

    with store.write():
        recorder.record([snap("a", 0, *(ent(f"vm:{j}") for j in range(10)))])
    assert checkpoints() == 0
    recorder.record([snap("a", 100, *(ent(f"vm:{j}") for j in range(10)))])
    assert checkpoints() == 1
    assert [e.entity for e in state.snapshot(store, at(150)).entities] == [
        f"vm:{j}" for j in sorted(range(10), key=str)
    ]


def test_no_pass_of_the_collector_runs_inside_a_batch(
    store: SqliteStore, recorder: Recorder
) -> None:
    """A batch's objects live until it is written; a pass in its write promoted them and
    walked them (at 10M versions, one of about 30 ms a batch: docs/performance.md). The
    pass that falls due runs once the write is over."""
    batch = [snap("a", 0, *(ent(f"vm:{j}", n=j) for j in range(3 * gc.get_threshold()[0])))]
    gc.collect()  # the garbage made so far is not the batch's
    with passes(lambda: store.in_write) as in_write:
        recorder.record(batch)
        garbage()
    assert in_write and not any(in_write)
    assert gc.isenabled()
