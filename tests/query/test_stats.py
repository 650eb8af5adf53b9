"""`stats` says of each source whether it still reports, has disconnected, or has ended."""

from __future__ import annotations

import pytest

from factory import disconnect, ent, event, snap
from vtrail.query.state import stats
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

pytestmark = pytest.mark.both_stores


def test_each_source_says_how_it_stands(store: SqliteStore, recorder: Recorder) -> None:
    batch = [
        snap("libvirt@hv-a", 0, ent("vm:1", name="web")),
        snap("netlink:ns1@hv-a", 0, ent("port:ns1/veth0", ifname="veth0")),
        snap("netlink:gone@hv-a", 0, ent("port:gone/veth0", ifname="veth0")),
        snap("libvirt@hv-b", 0, ent("vm:2", name="db")),
        # An event that changes something: the source still reports it.
        event("netlink:ns1@hv-a", 5, ent("port:ns1/veth0", ifname="veth0", mtu=9000)),
        # The namespace was deleted: its last word ended all it reported.
        event("netlink:gone@hv-a", 5, gone=("port:gone/veth0",)),
        disconnect("libvirt@hv-b", 6),
    ]
    recorder.record(batch)
    recorder.record(batch[:3])  # known already: counted once
    by_name = {s.name: s for s in stats(store).sources}
    assert {n: s.state for n, s in by_name.items()} == {
        "libvirt@hv-a": "connected",
        "netlink:ns1@hv-a": "connected",
        "netlink:gone@hv-a": "ended",
        "libvirt@hv-b": "disconnected",
    }
    assert [n for n, s in by_name.items() if s.connected] == ["libvirt@hv-a", "netlink:ns1@hv-a"]
    assert {n: s.observations for n, s in by_name.items()} == {
        "libvirt@hv-a": 1,
        "netlink:ns1@hv-a": 2,
        "netlink:gone@hv-a": 2,
        "libvirt@hv-b": 2,
    }
