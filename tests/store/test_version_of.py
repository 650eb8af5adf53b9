"""An as-of lookup by the entity's id, in one statement, on both stores: the version
live at T, none before its birth or after it vanished, and an unknown id refused."""

from __future__ import annotations

import pytest

from factory import at, ent, event
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import to_us

pytestmark = pytest.mark.both_stores


def test_the_version_live_at_each_instant(store: Store, recorder: Recorder) -> None:
    recorder.record(
        [
            event("libvirt:h1", 10, ent("vm:web", name="web", state="running")),
            event("libvirt:h1", 20, ent("vm:web", name="web", state="paused")),
            event("libvirt:h1", 30, gone=("vm:web",)),
            event("libvirt:h1", 15, ent("vm:db", name="db", state="running")),
        ]
    )
    r = StateReader(store)
    seen = {s: r.version_of("vm:web", to_us(at(s))) for s in (5, 10, 19, 20, 29, 30, 40)}
    states = {s: v.attrs["state"] if v else None for s, v in seen.items()}
    assert states == {
        5: None,
        10: "running",
        19: "running",
        20: "paused",
        29: "paused",
        30: None,
        40: None,
    }
    live = seen[20]
    assert live is not None and live.entity == "vm:web" and live.source == "libvirt:h1"
    # The same answer as the lookup by the interned integer.
    n = store.entity_id("vm:web")
    assert [r.version_at(n, to_us(at(s))) for s in seen] == list(seen.values())


def test_an_unknown_id_is_refused(store: Store, recorder: Recorder) -> None:
    recorder.record([event("libvirt:h1", 10, ent("vm:web", name="web"))])
    with pytest.raises(UnknownEntity, match="vm:nope"):
        StateReader(store).version_of("vm:nope", to_us(at(20)))
