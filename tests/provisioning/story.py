"""A small fabric with images, owners and a catalog, recorded into a real store.

The images are built as the images engineer's collector and catalog will record them:
`image:` entities with `catalog.*` attributes (source `catalog`) and `paths`, and
`uses_image` relations from the VMs (source libvirt). Times are seconds after T0.

- hv-a, hv-b, hv-c run from 0.
- `debian@12` is certified (by sec-team) and ok throughout.
- `batch@1` is certified and ok until 300, when an advisory makes it vulnerable.
- `scratch@0` is never certified.
- web-1 (team-web, 2 vCPUs, 2 GiB, one address) runs debian on hv-a from 0.
- web-2 (team-web, 2 vCPUs, 2 GiB, one address) runs debian on hv-b from 0.
- batch-1 (team-batch) runs batch@1 on hv-c from 0.
- ghost-1 (team-web) runs scratch@0 on hv-a from 100 to 120: 20 seconds.
- web-3 (team-web) runs debian on hv-a from 200 to 400.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory import at, ent, event, rel, snap
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store

LIBVIRT = "libvirt@fabric"
CATALOG = "catalog"
DEBIAN, BATCH, SCRATCH = "image:debian@12", "image:batch@1", "image:scratch@0"
PATHS = {
    DEBIAN: "/var/lib/libvirt/images/debian-12.qcow2",
    BATCH: "/var/lib/libvirt/images/batch-1.qcow2",
    SCRATCH: "/var/lib/libvirt/images/scratch.qcow2",
}
HOSTS = ("hv-a", "hv-b", "hv-c")
#: Each VM's address is 10.0.0.N, N its place here.
ADDRESSES = ("web-1", "web-2", "batch-1", "ghost-1", "web-3")


def vm(name: str) -> str:
    return f"vm:{name}"


def image(eid: str, **catalog: Any) -> Any:
    name, version = eid.removeprefix("image:").split("@")
    attrs = {"paths": [PATHS[eid]], "catalog.name": name, "catalog.version": version}
    return ent(eid, **attrs, **{f"catalog.{k}": v for k, v in catalog.items()})


def catalog(seconds: float, batch_security: str = "ok") -> Observation:
    return snap(
        CATALOG,
        seconds,
        image(DEBIAN, certified_by="sec-team", certified_at="2026-01-01", security="ok"),
        image(BATCH, certified_by="sec-team", certified_at="2026-01-01", security=batch_security,
              advisories=["CVE-2026-0001"] if batch_security != "ok" else []),
        image(SCRATCH, creator="someone"),
    )  # fmt: skip


def guest(name: str, owner: str, host: str, img: str, vcpus: int = 2, mib: int = 2048) -> list[Any]:
    """A running VM with one NIC holding one address, and its image."""
    nic, ip = f"nic:{name}/52:54:00:00:00:01", f"ip:10.0.0.{ADDRESSES.index(name) + 1}@lan"
    return [
        ent(vm(name), name=name, state="running", vcpus=vcpus, memory_kib=mib * 1024,
            disks=[{"target": "vda", "source": PATHS[img], "device": "disk", "type": "file"}],
            **{"asset.owner": owner}),
        rel(vm(name), "runs_on", f"host:{host}"),
        rel(vm(name), "uses_image", img),
        ent(nic, mac="52:54:00:00:00:01"),
        rel(vm(name), "has_nic", nic),
        ent(ip, address=ip.split(":")[1].split("@", maxsplit=1)[0]),
        rel(nic, "has_address", ip),
    ]  # fmt: skip


def fleet(seconds: float, *extra: str) -> Observation:
    items: list[Any] = [ent(f"host:{h}", hostname=h) for h in HOSTS]
    items += guest("web-1", "team-web", "hv-a", DEBIAN)
    items += guest("web-2", "team-web", "hv-b", DEBIAN)
    items += guest("batch-1", "team-batch", "hv-c", BATCH)
    if "ghost-1" in extra:
        items += guest("ghost-1", "team-web", "hv-a", SCRATCH)
    if "web-3" in extra:
        items += guest("web-3", "team-web", "hv-a", DEBIAN)
    return snap(LIBVIRT, seconds, *items)


def observations() -> list[Observation]:
    return [
        catalog(0),
        fleet(0),
        fleet(100, "ghost-1"),
        fleet(120),
        fleet(200, "web-3"),
        catalog(300, batch_security="vulnerable"),
        fleet(400),
        event(LIBVIRT, 500),
    ]


def record_story(path: Path) -> Path:
    store = open_store(path)
    try:
        Recorder(store).record(observations())
    finally:
        store.close()
    return path


__all__ = ["at", "record_story"]
