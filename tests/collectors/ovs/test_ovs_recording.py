"""The recorded payload under tests/data/ovs/ matches what a live switch sends.

`reference-fabric.json` is the raw reply of one OVSDB `transact` selecting
Open_vSwitch, Bridge, Port and Interface (RFC 7047 wire format), taken from a
private ovsdb-server + ovs-vswitchd (userspace datapath: this host has no
openvswitch kernel module) configured by `build_reference_fabric`. Rebuild it
with `VTRAIL_RECORD_OVS=1 .venv/bin/pytest tests/collectors/ovs -k recording`;
without the variable this test rebuilds the fabric and checks that the
recording still says the same things, apart from what differs on every run
(uuids, MACs, datapath ids, ifindexes, counters).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from collectors.ovs.ovs_testbed import PrivateOvsdb, PrivateVswitchd, build_reference_fabric
from vtrail.collectors.ovs import get, rows, transform

RECORDING = Path(__file__).parents[2] / "data" / "ovs" / "reference-fabric.json"
HOST = "hv-rec"
VOLATILE = {"mac_in_use", "datapath_id", "ifindex"}


def _attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: a for k, a in attrs.items() if k not in VOLATILE}
    if isinstance(out.get("ofport"), int) and out["ofport"] > 0:
        out["ofport"] = "assigned"  # numbering follows hash order, not configuration
    return out


def _stable(v: transform.OvsView) -> dict[str, Any]:
    return {
        "entities": {i: _attrs(e.attrs) for i, e in v.entities.items()},
        "relations": sorted(v.relations),
        "metrics": {i: sorted(s.metric for s in ss) for i, ss in v.samples.items()},
    }


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = [f"relations: {sorted(set(a['relations']) ^ set(b['relations']))}"] * (
        a["relations"] != b["relations"]
    )
    for section in ("entities", "metrics"):
        for key in sorted(set(a[section]) | set(b[section])):
            x, y = a[section].get(key), b[section].get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                out += [f"{key}.{k}: {x.get(k)!r} != {y.get(k)!r}" for k in x if x[k] != y.get(k)]
            elif x != y:
                out.append(f"{key}: {x!r} != {y!r}")
    return out


def _traffic(vswitchd: PrivateVswitchd) -> None:
    # ARP for an absent neighbour floods br-int: counters move on every port.
    for dev in ("br-int", "tap5b4345ea-d5", "vnet0"):
        vswitchd.netns("ip", "link", "set", dev, "up")
    vswitchd.netns("ip", "addr", "add", "192.0.2.1/24", "dev", "br-int")
    vswitchd.netns("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.9", check=False)


@pytest.mark.root
def test_recording_matches_a_live_fabric(ovsdb: PrivateOvsdb, vswitchd: PrivateVswitchd) -> None:
    build_reference_fabric(ovsdb, vswitchd)
    _traffic(vswitchd)
    if os.environ.get("VTRAIL_RECORD_OVS"):
        deadline = time.monotonic() + 12  # ovs-vswitchd refreshes counters every 5 s
        while time.monotonic() < deadline:
            reply = get.call(str(ovsdb.sock), "transact", rows.select_ops(), 5)
            state = rows.state_from_select(reply)
            if any(i.statistics.get("tx_packets") for i in state.interfaces if i.type == "vxlan"):
                break
            time.sleep(0.5)
        RECORDING.write_text(json.dumps(reply, indent=1, sort_keys=True) + "\n")

    recorded = rows.state_from_select(json.loads(RECORDING.read_text()))
    expected = _stable(transform.view(recorded, HOST))
    # Link states follow the `ip link set up` above a moment later.
    deadline = time.monotonic() + 3
    while True:
        live = get.fetch_state(str(ovsdb.sock))
        diff = _differences(_stable(transform.view(live, HOST)), expected)
        if not diff or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert recorded.hostname == live.hostname == HOST
    assert diff == []
