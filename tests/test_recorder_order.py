"""Any order of arrival yields the history of sorted arrival (hypothesis)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import disconnect, ent, event, rel, sample, snap
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

ENTITIES = ["vm:1", "vm:2", "vm:3", "port:h/vnet0"]
RELS = [
    ("vm:1", "runs_on", "host:a"),
    ("vm:1", "runs_on", "host:b"),
    ("vm:2", "has_nic", "nic:2/m"),
]
_db = itertools.count()


@st.composite
def observation(draw: Any, t: int) -> Observation:
    source = draw(st.sampled_from(["libvirt-a", "libvirt-b", "netlink"]))
    kind = draw(st.sampled_from(["snapshot", "snapshot", "event", "event", "disconnect"]))
    if kind == "disconnect":
        return disconnect(source, t)
    ents = draw(st.lists(st.sampled_from(ENTITIES), unique=True, max_size=4))
    # Attribute sets of different shapes, so that key sets are interned in any order.
    items: list[Any] = [
        ent(e, **{draw(st.sampled_from(["state", "mtu"])): draw(st.sampled_from(["a", "b"]))})
        for e in ents
    ]
    items += [rel(*r) for r in draw(st.lists(st.sampled_from(RELS), unique=True, max_size=3))]
    if draw(st.booleans()):
        items.append(sample(ents[0] if ents else "vm:1", "tx_bytes", draw(st.integers(0, 10**9))))
    if kind == "snapshot":
        return snap(source, t, *items)
    gone = tuple(draw(st.lists(st.sampled_from(ENTITIES), unique=True, max_size=2)))
    gone_r = tuple(draw(st.lists(st.sampled_from(RELS), unique=True, max_size=1)))
    return event(source, t, *items, gone=gone, gone_relations=gone_r)


@st.composite
def scenario(draw: Any) -> tuple[list[Observation], list[int]]:
    times = draw(st.lists(st.integers(0, 300), min_size=1, max_size=14, unique=True))
    obs = [draw(observation(t)) for t in sorted(times)]
    order = draw(st.permutations(range(len(obs))))
    return obs, list(order)


def history(store: SqliteStore) -> tuple[list[Any], ...]:
    c = store.conn
    return (
        [
            (eid, vf, vt, store.attrs.decode(attrs), src, va)
            for eid, vf, vt, attrs, src, va in c.execute(
                "SELECT e.eid, valid_from, valid_to, attrs, s.name, vanished_after FROM version v "
                "JOIN entity e ON e.id = v.entity JOIN source s ON s.id = v.source ORDER BY 1, 2"
            )
        ],
        c.execute(
            "SELECT a.eid, rel, b.eid, valid_from, valid_to, s.name, vanished_after FROM relation r "
            "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            "JOIN source s ON s.id = r.source ORDER BY 1, 2, 3, 4"
        ).fetchall(),
        c.execute(
            "SELECT e.eid, metric, t0, t1, n, v_first, v_last, increase, data FROM sample x "
            "JOIN entity e ON e.id = x.entity ORDER BY 1, 2, 3"
        ).fetchall(),
    )


def record(tmp: Path, observations: list[Observation], batch: int) -> tuple[list[Any], ...]:
    store = SqliteStore(tmp / f"h{next(_db)}.db")
    r = Recorder(store, checkpoint_min=3)
    for i in range(0, len(observations), batch):
        r.record(observations[i : i + batch])
    out = history(store)
    store.close()
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario(), st.sampled_from([1, 3]))
def test_any_arrival_order_gives_the_sorted_history(
    tmp_path: Path, case: tuple[list[Observation], list[int]], batch: int
) -> None:
    observations, order = case
    expected = record(tmp_path, observations, 1)
    shuffled = [observations[i] for i in order]
    assert record(tmp_path, shuffled, batch) == expected
    # And arriving twice changes nothing.
    assert record(tmp_path, shuffled + observations, batch) == expected
