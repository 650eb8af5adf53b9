"""Probing as a source of `vtrail record`, on real namespaces and a real store: the
targets are the policy's service members where the store says they are at each round,
a member that migrates is measured at its new address from the next round, and a
vantage namespace that disappears disconnects the source (its status says why) without
one false loss, and is probed again once it is back."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collectors.netlink.netlink_lab import Lab
from collectors.probe.probe_lab import TARGET_IP, join
from vtrail.cli.main import app
from vtrail.cli.record import PolicyProbes
from vtrail.collectors.base import Emit
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.recording.runner import Runner, SourceSpec
from vtrail.recording.sources import probe_source
from vtrail.store import SqliteStore, UnknownEntity
from vtrail.store.reads.samples import series
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.derive import derivers
from vtrail.triage.probe_targets import probe_targets

pytestmark = pytest.mark.root

VM, NIC = "vm:db-1", "nic:db-1/52:54:00:00:00:01"
SPACE = "db-1"


def ip(address: str) -> str:
    return f"ip:{address}@{SPACE}"


class Feed:
    """What the libvirt and netlink sources would report of the VM, handed in by the
    test (neither runs a real guest here): a collector fed from a queue."""

    source = "feed"

    def __init__(self, q: queue.Queue[Observation]) -> None:
        self.q = q

    def snapshot(self) -> Observation:
        raise AssertionError("a feed without reconcile takes no snapshot")

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                emit(self.q.get(timeout=0.05))

    def close(self) -> None:
        """Nothing to close."""


def placed(address: str, host: str, gone: str | None = None) -> Observation:
    relations = (
        RelationObs(RelKey(VM, "runs_on", f"host:{host}")),
        RelationObs(RelKey(VM, "has_nic", NIC)),
        RelationObs(RelKey(NIC, "has_address", ip(address))),
    )
    gone_relations = () if gone is None else (RelKey(NIC, "has_address", ip(gone)),)
    entities = (
        EntityObs(VM, "vm", {"name": "db-1"}),
        EntityObs(NIC, "nic", {"mac": "52:54:00:00:00:01"}),
        EntityObs(ip(address), "ip", {"address": address}),
    )
    return Observation(
        "feed", datetime.now(UTC), "event", entities, relations, (), (), gone_relations
    )


def policy(vantage: str) -> Observation:
    text = (
        "services: {db: {members: {kind: vm, name: 'db-*'}}}\n"
        f"probes:\n  - {{name: p, from: {{netns: {vantage}}}, to: db, every: 1s, count: 3, "
        "timeout: 300ms}\n"
    )
    return to_observation(parse_policy(text), datetime.now(UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "p.db")
    s.derivers = derivers()
    try:
        yield s
    finally:
        s.close()


def readings(store: SqliteStore, eid: str, metric: str) -> list[tuple[datetime, float]]:
    """What is committed, read as another reader would (the writer's connection is busy)."""
    reader = SqliteStore(store.path, readonly=True)
    try:
        n = reader.entity_id(eid)
        return [(from_us(t), float(v)) for t, v in series(reader, n, metric)]
    except UnknownEntity:
        return []
    finally:
        reader.close()


def until(what: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def journal(store: SqliteStore, source: str) -> list[str]:
    rows = store.conn.execute(
        "SELECT j.kind FROM journal j JOIN source s ON s.id = j.source WHERE s.name = ? "
        "ORDER BY j.seq",
        (source,),
    )
    return [r[0] for r in rows]


@pytest.fixture
def recording(
    store: SqliteStore, lab: Lab
) -> Iterator[tuple[Runner, queue.Queue[Observation], str, str]]:
    vantage, target = lab.ns("v"), lab.ns("t")
    join(lab, vantage, target)
    feed: queue.Queue[Observation] = queue.Queue()
    feed.put(placed(TARGET_IP, "hv-a"))
    feed.put(policy(vantage))
    probes = PolicyProbes(store.path, hostname="hv-a")
    runner = Runner(
        store,
        [
            SourceSpec("feed", lambda _r: Feed(feed), reconcile=False),
            probe_source(probes, every=0.3, hostname="hv-a"),
        ],
        interval=0.5,
        backoff_initial=0.2,
        backoff_cap=0.5,
    )
    runner.start()
    try:
        yield runner, feed, vantage, target
    finally:
        runner.stop()
        probes.close()


def test_a_member_that_migrates_is_probed_at_its_new_address(
    store: SqliteStore, lab: Lab, recording: tuple[Runner, queue.Queue[Observation], str, str]
) -> None:
    runner, feed, vantage, target = recording
    source = f"probe:p@netns:{vantage}"
    until(lambda: len(readings(store, VM, "probe.loss")) >= 2)
    assert {v for _t, v in readings(store, VM, "probe.loss")} == {0.0}
    # db-1 moves: its old address is gone, it answers at a new one, and the record says so.
    lab.ip(target, f"addr del {TARGET_IP}/24 dev pt")
    lab.ip(target, "addr add 10.77.0.3/24 dev pt")
    moved = placed("10.77.0.3", "hv-b", gone=TARGET_IP)
    feed.put(moved)
    runner.flush()
    before = len(readings(store, VM, "probe.loss"))
    until(lambda: len(readings(store, VM, "probe.loss")) >= before + 3)
    after = [v for t, v in readings(store, VM, "probe.loss") if t > moved.observed_at]
    # The round under way when it moved may have lost it; every one after found it.
    assert after[1:] and set(after[1:]) == {0.0}
    assert journal(store, source)[:1] == ["disconnect"], "recording began: nobody watched before"
    later = datetime.now(UTC)
    probes = PolicyProbes(store.path, hostname="hv-a")
    (probe,) = probes.in_force().values()
    probes.close()
    assert probe_targets(store, probe, later, vantage) == [(VM, "10.77.0.3")]
    assert probe_targets(store, probe, from_us(to_us(moved.observed_at) - 1), vantage) == [
        (VM, TARGET_IP)
    ]


def test_a_vantage_that_disappears_disconnects_without_false_loss_and_comes_back(
    store: SqliteStore, lab: Lab, recording: tuple[Runner, queue.Queue[Observation], str, str]
) -> None:
    runner, _feed, vantage, target = recording
    source = f"probe:p@netns:{vantage}"
    until(lambda: len(readings(store, VM, "probe.loss")) >= 2)
    lab.remove(vantage)
    gone_at = datetime.now(UTC)

    def status() -> object:
        return next((s for s in runner.stats().sources if s.uri == source), None)

    until(lambda: getattr(status(), "connected", True) is False)
    time.sleep(2.5)  # rounds it would have measured, had it gone on
    st = status()
    assert st is not None and not st.connected
    assert st.last_error is not None and "is gone" in st.last_error
    runner.flush()
    assert "disconnect" in journal(store, source)[1:], "the loss of the vantage is recorded"
    assert {v for _t, v in readings(store, VM, "probe.loss")} == {0.0}, "no false loss"
    during = [t for t, _v in readings(store, VM, "probe.loss") if t > gone_at]
    assert len(during) <= 1, "at most the round already measured when it went"
    # Back under the same name (its veth went with it): probed again. The source may
    # connect as soon as the namespace is back, and a round begun before its veth is
    # loses pings for real; every round begun once the veth is up finds the target.
    assert lab.ns("v") == vantage
    join(lab, vantage, target)
    back = datetime.now(UTC)
    until(lambda: any(t > back for t, _v in readings(store, VM, "probe.loss")))
    assert {v for t, v in readings(store, VM, "probe.loss") if t > back} == {0.0}
    until(lambda: getattr(status(), "connected", False) is True)


def test_vtrail_record_runs_the_policys_probes_by_default(tmp_path: Path, lab: Lab) -> None:
    vantage, target = lab.ns("v"), lab.ns("t")
    join(lab, vantage, target)
    db = tmp_path / "cli.db"
    store = SqliteStore(db)
    store.derivers = derivers()
    Recorder(store).record([placed(TARGET_IP, "hv-a"), policy(vantage)])
    store.close()
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    base = ["record", "-q", "--source", f"file:{empty}", "--db", str(db)]
    done = CliRunner().invoke(app, [*base, "--for", "3s", "--no-probes"])
    assert done.exit_code == 0, done.output
    assert readings(store, VM, "probe.loss") == []  # (it reads its own way: store.path)
    done = CliRunner().invoke(app, [*base, "--for", "3s"])
    assert done.exit_code == 0, done.output
    s = SqliteStore(db, readonly=True)
    found = readings(s, VM, "probe.loss")
    assert found and {v for _t, v in found} == {0.0}
    assert journal(s, f"probe:p@netns:{vantage}")[0] == "disconnect"
    s.close()


def test_record_help_says_probes_run() -> None:
    shown = CliRunner().invoke(app, ["record", "--help"], env={"COLUMNS": "200"})
    assert "--no-probes" in shown.output and "probes of the policy in force" in shown.output
