"""The runner with scripted collectors: batching, flush, gaps, reconnects, groups."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vtrail.collectors.base import Emit, SourceError
from vtrail.model import EntityObs, Observation
from vtrail.query import state
from vtrail.recording.runner import (
    AddMember,
    RemoveMember,
    Report,
    Runner,
    SourceGroup,
    SourceSpec,
)
from vtrail.store import SqliteStore

FAST = {"interval": 0.3, "backoff_initial": 0.05, "backoff_cap": 0.4}


def now() -> datetime:
    return datetime.now(UTC)


def wait_for(pred: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class World:
    """A fake source: what it holds, and whether it answers."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.things: dict[str, str] = {}
        self.events: queue.Queue[Observation] = queue.Queue()
        self.down = threading.Event()
        self.opens = 0

    def ent(self, eid: str) -> EntityObs:
        return EntityObs(eid, eid.split(":", maxsplit=1)[0], {"name": self.things[eid]})

    def add(self, eid: str, name: str) -> datetime:
        """Create `eid` and announce it as an event; return the instant."""
        self.things[eid] = name
        t = now()
        self.events.put(Observation(self.source, t, "event", entities=(self.ent(eid),)))
        return t

    def remove(self, eid: str, *, announce: bool = True) -> datetime:
        del self.things[eid]
        t = now()
        if announce:
            self.events.put(Observation(self.source, t, "event", gone=(eid,)))
        return t

    def open(self, _report: Report) -> FakeCollector:
        if self.down.is_set():
            raise SourceError(f"{self.source}: connection refused")
        self.opens += 1
        return FakeCollector(self)

    def spec(self) -> SourceSpec:
        return SourceSpec(f"fake:{self.source}", self.open)


class FakeCollector:
    def __init__(self, world: World) -> None:
        self.world = world
        self.source = world.source
        self.closed = threading.Event()

    def snapshot(self) -> Observation:
        if self.world.down.is_set():
            raise SourceError(f"{self.source}: connection lost")
        ents = tuple(self.world.ent(e) for e in sorted(self.world.things))
        return Observation(self.source, now(), "snapshot", entities=ents)

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set() and not self.closed.is_set():
            if self.world.down.is_set():
                raise SourceError(f"{self.source}: connection lost")
            with contextlib.suppress(queue.Empty):
                emit(self.world.events.get(timeout=0.02))

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def runner_for(store: SqliteStore) -> Iterator[Callable[..., Runner]]:
    made: list[Runner] = []

    def make(*sources: SourceSpec | SourceGroup, **kw: float) -> Runner:
        r = Runner(store, list(sources), **{**FAST, **kw})
        made.append(r)
        r.start()
        return r

    yield make
    for r in made:
        r.stop()


def versions(store: SqliteStore, eid: str) -> list[tuple[datetime, datetime | None, object]]:
    h = state.history(store, eid)
    return [(v.valid_from, v.valid_to, v.vanished_after) for v in h.versions]


def journal_kinds(store: SqliteStore, source: str) -> list[str]:
    rows = store.conn.execute(
        "SELECT j.kind FROM journal j JOIN source s ON s.id = j.source WHERE s.name = ? "
        "ORDER BY j.observed_at, j.seq",
        (source,),
    )
    return [r[0] for r in rows]


def test_events_and_snapshots_are_recorded_and_stop_flushes(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-a")
    w.things["vm:1"] = "web"
    r = runner_for(w.spec())
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected, what="connect")
    t_add = w.add("vm:2", "db")
    wait_for(lambda: r.stats().sources[0].snapshots >= 2, what="an interval snapshot")
    t_gone = w.remove("vm:1")
    # Emitted right before stop: stop() must still record it.
    wait_for(w.events.empty)
    st = r.stop()
    assert st.writer.queued == 0 and st.writer.dropped == 0
    assert st.writer.recorded == sum(s.observations for s in st.sources)
    assert versions(store, "vm:2")[0][0] == t_add
    assert versions(store, "vm:1") == [(versions(store, "vm:1")[0][0], t_gone, None)]
    # Marked at start (nobody watched before) and at stop (nobody watches after).
    kinds = journal_kinds(store, "fake-a")
    assert kinds[0] == "disconnect" and kinds[1] == "snapshot" and kinds[-1] == "disconnect"
    assert kinds.count("disconnect") == 2


def test_connection_loss_marks_a_gap_and_reconciles_without_false_vanishings(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-b")
    w.things.update({"vm:stay": "stay", "vm:doomed": "doomed"})
    r = runner_for(w.spec())
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected, what="connect")
    r.flush()
    last_seen_before_loss = now()
    w.down.set()
    wait_for(lambda: not r.stats().sources[0].connected, what="the loss to be noticed")
    # While the source is unreachable, a thing vanishes without anyone hearing of it.
    w.remove("vm:doomed", announce=False)
    time.sleep(0.3)
    opens_while_down = w.opens
    w.down.clear()
    wait_for(lambda: r.stats().sources[0].connected, what="the reconnect")
    r.flush()
    back = now()
    st = r.stats().sources[0]
    assert st.disconnects >= 2 and st.connects == 2 and opens_while_down == 1
    assert st.last_error and "connection" in st.last_error

    stay = versions(store, "vm:stay")
    assert len(stay) == 1 and stay[0][1] is None, "a thing present throughout never vanishes"
    [(_, ended, vanished_after)] = versions(store, "vm:doomed")
    assert ended is not None and vanished_after is not None
    # The end is only known to lie in the gap: after the last look, before the reconnect.
    assert vanished_after <= last_seen_before_loss + (back - last_seen_before_loss)
    assert vanished_after < ended <= back


def test_a_source_down_at_start_is_retried_with_its_error_shown(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-c")
    w.down.set()
    r = runner_for(w.spec())
    wait_for(lambda: r.stats().sources and r.stats().sources[0].last_error, what="an error")
    st = r.stats().sources[0]
    assert not st.connected and "refused" in (st.last_error or "")
    assert st.source is None
    w.down.clear()
    w.things["vm:1"] = "late"
    wait_for(lambda: r.stats().sources[0].connected, what="connect after retries")
    r.flush()
    assert state.where(store, "late", now()).alive


def test_backoff_doubles_up_to_the_cap(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-d")
    w.down.set()
    attempts: list[float] = []

    def opener(report: Report) -> FakeCollector:
        attempts.append(time.monotonic())
        return w.open(report)

    runner_for(SourceSpec("fake:d", opener), backoff_initial=0.05, backoff_cap=0.2)
    wait_for(lambda: len(attempts) >= 6, what="six attempts")
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] < 0.12
    assert gaps[1] > gaps[0] * 1.5
    assert all(g < 0.35 for g in gaps), f"capped near 0.2 s: {gaps}"


def test_restart_does_not_vanish_things_at_the_restart_instant(db_path: Path) -> None:
    w = World("fake-e")
    w.things.update({"vm:a": "a", "vm:b": "b"})
    s1 = SqliteStore(db_path)
    r1 = Runner(s1, [w.spec()], **FAST)
    r1.start()
    wait_for(lambda: r1.stats().sources and r1.stats().sources[0].connected)
    r1.stop()
    s1.close()
    stopped = now()
    w.remove("vm:b", announce=False)  # while vtrail was not running
    time.sleep(0.05)
    s2 = SqliteStore(db_path)
    r2 = Runner(s2, [w.spec()], **FAST)
    r2.start()
    wait_for(lambda: r2.stats().sources and r2.stats().sources[0].connected)
    r2.stop()
    [(_, ended, vanished_after)] = versions(s2, "vm:b")
    assert vanished_after is not None and vanished_after <= stopped < ended
    assert versions(s2, "vm:a")[0][1] is None
    s2.close()


def test_a_refused_observation_is_dropped_and_the_rest_recorded(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-f")
    r = runner_for(w.spec())
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected)
    bad = Observation("fake-f", now(), "event", entities=(EntityObs("NOT AN ID", "vm", {}),))
    w.events.put(bad)
    w.add("vm:ok", "fine")
    wait_for(w.events.empty)
    r.flush()
    st = r.stats()
    assert st.writer.dropped == 1 and "fake-f" in (st.writer.error or "")
    assert state.where(store, "fine", now()).alive


def test_poke_takes_a_snapshot_at_once(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    w = World("fake-g")
    r = runner_for(w.spec(), interval=60)
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected)
    w.things["vm:quiet"] = "quiet"  # no event: only a snapshot can tell
    r.reconcile_now()
    wait_for(lambda: r.stats().sources[0].snapshots >= 2, what="the poked snapshot")
    r.flush()
    assert state.where(store, "quiet", now()).alive


def test_group_members_come_and_go_with_their_final_observation(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    members = {"ns-1": World("grp:ns-1"), "ns-2": World("grp:ns-2")}
    members["ns-1"].things["bridge:ns-1/br0"] = "br0"
    members["ns-2"].things["bridge:ns-2/br1"] = "br1"
    removals: list[str] = []
    ended = threading.Event()

    def follow(stop: threading.Event, add: AddMember, remove: RemoveMember) -> None:
        for w in members.values():
            add(SourceSpec(w.source, w.open, exists=lambda: True))
        ended.wait()
        w = members["ns-2"]
        final = Observation(w.source, now(), "event", gone=("bridge:ns-2/br1",))
        remove(w.source, final)
        removals.append(w.source)
        stop.wait()

    r = runner_for(SourceGroup("grp", follow, lambda: None))
    wait_for(lambda: len(r.stats().sources) == 2 and all(s.connected for s in r.stats().sources))
    ended.set()
    wait_for(lambda: removals and len(r.stats().sources) == 1, what="the member's removal")
    r.stop()
    [(_, t_end, vanished_after)] = versions(store, "bridge:ns-2/br1")
    assert t_end is not None and vanished_after is None, "a true end, not a gap"
    assert journal_kinds(store, "grp:ns-2").count("disconnect") == 1  # only the start mark
    assert versions(store, "bridge:ns-1/br0")[0][1] is None


def test_after_a_crash_things_missing_at_restart_vanished_in_the_gap(db_path: Path) -> None:
    """A previous run that died without its stop mark: the start mark covers it."""
    from vtrail.recording.recorder import Recorder

    w = World("fake-h")
    w.things.update({"vm:a": "a", "vm:b": "b"})
    s = SqliteStore(db_path)
    crashed_run_saw = FakeCollector(w).snapshot()
    Recorder(s).record([crashed_run_saw])  # ... and then the process was killed
    w.remove("vm:b", announce=False)
    r = Runner(s, [w.spec()], **FAST)
    r.start()
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected)
    r.stop()
    [(_, ended, vanished_after)] = versions(s, "vm:b")
    assert vanished_after == crashed_run_saw.observed_at and ended is not None
    s.close()


def test_events_sharing_an_instant_keep_their_emission_order(
    store: SqliteStore, runner_for: Callable[..., Runner]
) -> None:
    """A collector that stamps one read's events alike: update-then-gone must end the thing.

    The recorder breaks ties by content hash, so among several pairs some would
    apply "gone" first and revive the thing with the update.
    """
    w = World("fake-i")
    ids = [f"port:ns/p{i}" for i in range(8)]
    for eid in ids:
        w.things[eid] = eid
    r = runner_for(w.spec())
    wait_for(lambda: r.stats().sources and r.stats().sources[0].connected)
    t = now()
    for eid in ids:
        upd = EntityObs(eid, "port", {"name": eid, "master": None})
        w.events.put(Observation(w.source, t, "event", entities=(upd,)))
        w.events.put(Observation(w.source, t, "event", gone=(eid,)))
        del w.things[eid]
    wait_for(w.events.empty)
    r.flush()
    alive = [eid for eid in ids if versions(store, eid)[-1][1] is None]
    assert alive == []
