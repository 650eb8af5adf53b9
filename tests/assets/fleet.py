"""A small recorded fleet for the asset tests: VMs re-created, cloned, renamed, moved.

Recorded through the real recorder into a real SQLite store, as libvirt would
report them (`disks` and `nic:` ids as the libvirt collector writes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory import ent, rel, snap
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store

SRC = "libvirt+test:///default@hv-a"
SRC_B = "libvirt+test:///default@hv-b"
OLD = "vm:aaaaaaaa-0000-4000-8000-000000000001"  # web-1, undefined at 100 s
NEW = "vm:aaaaaaaa-0000-4000-8000-000000000002"  # web-1 defined again at 110 s: same disk
TWIN = "vm:aaaaaaaa-0000-4000-8000-000000000003"  # alive beside OLD, sharing its MAC
LONER = "vm:aaaaaaaa-0000-4000-8000-000000000004"  # born after OLD ended, shares nothing
MAC_OLD = "52:54:00:aa:00:01"
DISK = "/var/lib/libvirt/images/web-1.qcow2"
ISO = "/var/lib/libvirt/images/debian-12.iso"


def disk(source: str, device: str = "disk") -> dict[str, Any]:
    return {"target": "vda", "source": source, "device": device, "type": "file"}


def vm(eid: str, name: str, *disks: dict[str, Any], **attrs: Any) -> Any:
    return ent(eid, name=name, uuid=eid[3:], state="running", disks=list(disks), **attrs)


def nic(vm_eid: str, mac: str) -> Any:
    return ent(f"nic:{vm_eid[3:]}/{mac}", mac=mac)


def has_nic(vm_eid: str, mac: str) -> Any:
    return rel(vm_eid, "has_nic", f"nic:{vm_eid[3:]}/{mac}")


def record_fleet(path: Path) -> Path:
    hv_a = ent("host:hv-a", hostname="hv-a")
    old = vm(OLD, "web-1", disk(DISK), disk(ISO, "cdrom"), **{"asset.owner": "alice"})
    twin = vm(TWIN, "web-twin", disk("/images/twin.qcow2"), disk(ISO, "cdrom"))
    new = vm(NEW, "web-1", disk(DISK), **{"asset.owner": "alice"})
    renamed = vm(NEW, "web-one", disk(DISK), **{"asset.owner": "bob"})
    loner = vm(LONER, "batch", disk("/images/batch.qcow2"), disk(ISO, "cdrom"))
    placed = [rel(OLD, "runs_on", "host:hv-a"), rel(TWIN, "runs_on", "host:hv-a")]
    obs = [
        snap(SRC, 0, hv_a, old, twin, nic(OLD, MAC_OLD), nic(TWIN, MAC_OLD),
             has_nic(OLD, MAC_OLD), has_nic(TWIN, MAC_OLD), *placed),
        snap(SRC, 100, hv_a, twin, nic(TWIN, MAC_OLD), has_nic(TWIN, MAC_OLD), placed[1]),
        snap(SRC, 110, hv_a, twin, new, loner, nic(TWIN, MAC_OLD), has_nic(TWIN, MAC_OLD),
             placed[1], rel(NEW, "runs_on", "host:hv-a"), rel(LONER, "runs_on", "host:hv-a")),
        snap(SRC, 200, hv_a, twin, loner, nic(TWIN, MAC_OLD), has_nic(TWIN, MAC_OLD),
             placed[1], rel(LONER, "runs_on", "host:hv-a")),
        snap(SRC_B, 200, ent("host:hv-b", hostname="hv-b"), renamed, rel(NEW, "runs_on", "host:hv-b")),
    ]  # fmt: skip
    store = open_store(path)
    try:
        Recorder(store).record(obs)
    finally:
        store.close()
    return path
