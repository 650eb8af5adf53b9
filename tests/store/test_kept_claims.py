"""What the claim table keeps between batches (`ClaimTable.keep`) is what the store says.

A recorder keeps, for a lone source's entity, the rows and latest version its own
write left, and answers the next statement of that entity from them instead of
asking the store. These tests ask the store as well on every such answer, and
write beside the recorder in each way a store can be written to meanwhile.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import T0, ent, event, snap
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.claims import Claim, ClaimKey, ClaimTable, Latest

_db = itertools.count()
_asked = ClaimTable.with_latest


def _store_says(table: ClaimTable, key: ClaimKey, t: int) -> tuple[list[Claim], Latest | None]:
    kept, ahead = table._kept, table._ahead
    table._kept, table._ahead = {}, {}
    try:
        return _asked(table, key, t)
    finally:
        table._kept, table._ahead = kept, ahead


@pytest.fixture
def answered_from_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every `with_latest` answered from what was kept is checked against the store;
    yields a one-item list counting them (a test that never met one proves nothing)."""
    hits = [0]

    def checked(self: ClaimTable, key: ClaimKey, t: int) -> tuple[list[Claim], Latest | None]:
        from_kept = key in self._kept and key not in self._ahead and t >= self._kept[key][0]
        rows, latest = _asked(self, key, t)
        if from_kept:
            hits[0] += 1
            truth_rows, truth_latest = _store_says(self, key, t)
            order = lambda r: (r.source, r.since)  # noqa: E731
            assert sorted(rows, key=order) == sorted(truth_rows, key=order), key
            assert latest == truth_latest, key
        return rows, latest

    monkeypatch.setattr(ClaimTable, "with_latest", checked)
    yield hits


def versions(store: SqliteStore, eid: str = "vm:1") -> list[tuple[int, int | None, Any]]:
    """The entity's versions: seconds from factory's T0 to seconds, and the state."""
    t0 = int(T0.timestamp())
    rows = store.conn.execute(
        "SELECT valid_from, valid_to, attrs FROM version v JOIN entity e ON e.id = v.entity "
        "WHERE e.eid = ? ORDER BY valid_from",
        (eid,),
    )
    return [
        (
            vf // 1_000_000 - t0,
            None if vt is None else vt // 1_000_000 - t0,
            store.attrs.decode(a).get("state"),
        )
        for vf, vt, a in rows
    ]


CHAIN = [
    (10, 20, "running"),
    (20, 30, "paused"),
    (30, 40, "shutoff"),
    (40, 50, "running"),
    (50, None, "paused"),
]


def said(rec: Recorder, *seconds: int) -> None:
    """`rec` records the state CHAIN gives at each of `seconds`, a batch each."""
    states = {since: state for since, _, state in CHAIN}
    for t in seconds:
        rec.record([event("libvirt", t, ent("vm:1", state=states[t]))])


def test_a_second_connection_writing_between_batches_is_seen(
    tmp_path: Path, answered_from_kept: list[int]
) -> None:
    path = tmp_path / "h.db"
    store = SqliteStore(path)
    mine = Recorder(store)
    said(mine, 10, 20)
    other = SqliteStore(path)
    said(Recorder(other), 30)
    other.close()
    said(mine, 40, 50)
    # The keeping was at work: the statement at 20 was answered from it.
    assert answered_from_kept[0] >= 1
    assert versions(store) == CHAIN
    store.close()


def test_another_recorder_of_the_same_store_writing_between_batches_is_seen(
    tmp_path: Path, answered_from_kept: list[int]
) -> None:
    store = SqliteStore(tmp_path / "h.db")
    mine = Recorder(store)
    said(mine, 10, 20)
    said(Recorder(store), 30)
    said(mine, 40, 50)
    assert answered_from_kept[0] >= 1
    assert versions(store) == CHAIN
    store.close()


class Refuses:
    """A deriver that fails its batch, so that the batch's write is rolled back."""

    def __call__(self, store: Any, since: int) -> int:
        raise RuntimeError("refused")

    def forget(self) -> None:
        pass

    def idle(self, store: Any) -> bool:
        return False


def test_a_batch_rolled_back_leaves_nothing_kept(
    tmp_path: Path, answered_from_kept: list[int]
) -> None:
    store = SqliteStore(tmp_path / "h.db")
    rec = Recorder(store)
    said(rec, 10, 20)
    store.derivers.append(Refuses())
    with pytest.raises(RuntimeError, match="refused"):
        rec.record([event("libvirt", 25, ent("vm:1", state="crashed"))])
    store.derivers.clear()
    said(rec, 30, 40, 50)
    assert answered_from_kept[0] >= 1
    assert versions(store) == CHAIN
    store.close()


STATES = ["running", "paused", "shutoff"]


@st.composite
def stream(draw: Any) -> list[Observation]:
    """Mostly one source's events about a few VMs, now and then a second source's
    word or a VM gone, and arrivals out of order."""
    times = draw(st.lists(st.integers(0, 200), min_size=2, max_size=24, unique=True))
    out = []
    for t in times:
        source = draw(st.sampled_from(["libvirt", "libvirt", "libvirt", "netlink"]))
        vm = draw(st.sampled_from(["vm:1", "vm:2"]))
        if draw(st.integers(0, 9)) == 0:
            out.append(event(source, t, gone=(vm,)))
        elif draw(st.integers(0, 5)) == 0:
            out.append(snap(source, t, ent(vm, state=draw(st.sampled_from(STATES)))))
        else:
            out.append(event(source, t, ent(vm, state=draw(st.sampled_from(STATES)))))
    return out


def recorded(tmp: Path, observations: list[Observation], batch: int) -> tuple[Any, ...]:
    store = SqliteStore(tmp / f"h{next(_db)}.db")
    rec = Recorder(store)
    for i in range(0, len(observations), batch):
        rec.record(observations[i : i + batch])
    out = (versions(store, "vm:1"), versions(store, "vm:2"))
    store.close()
    return out


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream(), st.sampled_from([1, 2]), st.booleans())
def test_kept_answers_are_the_stores_and_the_history_is_the_same(
    tmp_path: Path,
    answered_from_kept: list[int],
    observations: list[Observation],
    batch: int,
    shuffled: bool,
) -> None:
    arrivals = observations[::-1] if shuffled else observations
    with_keeping = recorded(tmp_path, arrivals, batch)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ClaimTable, "keep", lambda *a: None)
        without = recorded(tmp_path, arrivals, batch)
    assert with_keeping == without


def test_the_property_meets_kept_answers(tmp_path: Path, answered_from_kept: list[int]) -> None:
    """The stream above does meet the keeping: one source's VM changing again."""
    arrivals = [event("libvirt", t, ent("vm:1", state=STATES[t % 3])) for t in range(1, 6)]
    recorded(tmp_path, arrivals, 1)
    assert answered_from_kept[0] == 4


def test_what_is_kept_is_left_out_of_the_collectors_passes(tmp_path: Path) -> None:
    """A hundred thousand kept keys must not make every pass of the cyclic collector
    walk them: in a process that also answers questions, each pass pauses them."""
    store = SqliteStore(tmp_path / "h.db")
    rec = Recorder(store)
    for t in (10, 20):
        rec.record([event("libvirt", t, *(ent(f"vm:{n}", state=STATES[t % 3]) for n in range(50)))])
    kept = rec.claims._kept
    assert len(kept) == 50
    for _ in range(3):  # a tuple is left out once what it holds was, a pass later
        gc.collect()
    assert not any(gc.is_tracked(k) or gc.is_tracked(v) for k, v in kept.items())
    store.close()
