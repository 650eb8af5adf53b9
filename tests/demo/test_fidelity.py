"""Fidelity: a scripted story with known ground truth, recorded, then held against the truth.

Real network namespaces, bridges and veths (root), the libvirt test driver,
and Open vSwitch when installed. Run with `-s` to see the figures.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from demo.fidelity import final_reading, findings, table
from vtrail.demo.session import DemoSession
from vtrail.store import SqliteStore
from vtrail.store.reads.samples import series
from vtrail.store.reads.stats import StatsReader

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: builds network namespaces, bridges and veth pairs",
    ),
]

INTERVAL = 2.0
#: Event-driven facts must land within this of the truth.
EVENT_SLACK_S = 1.0


def test_every_change_is_recorded_on_time_and_the_ghost_counted(tmp_path: Path) -> None:
    db = tmp_path / "fidelity.db"
    with DemoSession(db, interval=INTERVAL) as session:
        assert session.fabric is not None and session.fabric.network
        story = session.play(24.0, lambda _c: None)
        stats = session.finish()
    assert not session.problems, session.problems
    assert stats.writer.dropped == 0 and stats.writer.error is None

    store = SqliteStore(db, readonly=True)
    try:
        found = findings(store, story)
        print("\n" + table(found))
        errors = [f.error_s for f in found if f.error_s is not None]
        print(
            f"{len(found)} facts, {len(errors)} recorded; error mean "
            f"{sum(errors) / len(errors) * 1000:+.0f} ms, worst {max(errors, key=abs) * 1000:+.0f} ms"
        )
        missing = [f"{f.change.describe()}: {f.what}" for f in found if f.recorded is None]
        assert not missing, f"not in the record: {missing}"
        late = [
            f"{f.change.describe()}: {f.what} off by {f.error_s:.3f} s"
            for f in found
            if f.error_s is not None and abs(f.error_s) > EVENT_SLACK_S
        ]
        assert not late, late
        actions = {c.action for c in story.changes}
        assert {"create", "destroy", "migrate", "replug", "appear", "vanish"} <= actions

        # The ghost bridge: what entered it through its ports is at least what was sent.
        g = story.ghost
        assert g is not None
        carried = sum(final_reading(store, p, "rx_bytes") for p in g.ports)
        print(f"ghost bridge: {g.bytes:,} bytes sent through it, {carried:,.0f} counted")
        assert carried >= g.bytes > 0

        # Polled facts: a long-lived port's counters were read at least once an interval.
        leg = f"port:{session.names.sw}/vtp-r0" if session.names else ""
        points = series(store, store.entity_id(leg), "tx_bytes")
        inside = [t for t, _ in points if story.started.timestamp() * 1e6 <= t]
        gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(inside)]
        print(f"counter readings of {leg}: {len(inside)}, widest gap {max(gaps):.2f} s")
        assert max(gaps) <= INTERVAL + EVENT_SLACK_S
        assert StatsReader(store).counts()["journal"] > 0
    finally:
        store.close()
