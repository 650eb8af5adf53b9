"""A small recorded history of images for the catalog and exposure tests.

Recorded through the real recorder into a real SQLite store, as the libvirt
collector reports images (`image:` entities, `uses_image`, `backed_by`):

- BASE, a golden image by checksum; WEB_DISK (hv-a) and GHOST_DISK (hv-b) are
  overlays backed by it, identified by path;
- WEB runs on hv-a from 0 s to 3600 s on WEB_DISK, owned by alice;
- GHOST runs on hv-b from 100 s to 105 s on GHOST_DISK: a VM that lived seconds;
- DB is defined from 0 s on BASE itself but never runs, and its metadata declares
  DECLARED (`debian@12.5`);
- BATCH runs on hv-a from 0 s on OTHER, unrelated, and is still running.
"""

from __future__ import annotations

from pathlib import Path

from factory import ent, rel, snap
from vtrail.ids import image_content_id, image_id, image_path_id
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store

SRC_A = "libvirt+test:///default@hv-a"
SRC_B = "libvirt+test:///default@hv-b"
HEX = "a" * 64
BASE = image_content_id(HEX)
OTHER = image_content_id("b" * 64)
WEB_DISK = image_path_id("hv-a", "/vms/web.qcow2")
GHOST_DISK = image_path_id("hv-b", "/vms/ghost.qcow2")
DECLARED = image_id("debian", "12.5")
WEB = "vm:1a6e0000-0000-4000-8000-00000000000a"
GHOST = "vm:1a6e0000-0000-4000-8000-00000000000b"
DB = "vm:1a6e0000-0000-4000-8000-00000000000c"
BATCH = "vm:1a6e0000-0000-4000-8000-00000000000d"


def image(eid: str, path: str, checksum: str | None) -> object:
    return ent(
        eid, paths=[path], format="qcow2", virtual_size=1 << 30, checksum=checksum,
        identity="checksum" if checksum else "path",
    )  # fmt: skip


def record_story(path: Path) -> Path:
    base = image(BASE, "/golden/debian-12.qcow2", HEX)
    other = image(OTHER, "/golden/alpine.qcow2", "b" * 64)
    web_disk = image(WEB_DISK, "/vms/web.qcow2", None)
    ghost_disk = image(GHOST_DISK, "/vms/ghost.qcow2", None)
    hv_a, hv_b = ent("host:hv-a", hostname="hv-a"), ent("host:hv-b", hostname="hv-b")
    web = ent(WEB, name="web", state="running", **{"asset.owner": "alice"})
    db = ent(DB, name="db", state="shutoff")
    batch = ent(BATCH, name="batch", state="running")
    ghost = ent(GHOST, name="ghost", state="running", **{"asset.owner": "mallory"})
    keep = [
        hv_a, base, other, db, batch,
        rel(DB, "uses_image", BASE), rel(DB, "uses_image", DECLARED),
        rel(BATCH, "uses_image", OTHER),
        rel(BATCH, "runs_on", "host:hv-a"),
    ]  # fmt: skip
    web_parts = [
        web, web_disk, rel(WEB, "uses_image", WEB_DISK), rel(WEB_DISK, "backed_by", BASE),
        rel(WEB, "runs_on", "host:hv-a"),
    ]  # fmt: skip
    obs = [
        snap(SRC_A, 0, *keep, *web_parts),
        snap(SRC_B, 0, hv_b),
        snap(SRC_B, 100, hv_b, base, ghost, ghost_disk, rel(GHOST, "uses_image", GHOST_DISK),
             rel(GHOST_DISK, "backed_by", BASE), rel(GHOST, "runs_on", "host:hv-b")),
        snap(SRC_B, 105, hv_b),
        snap(SRC_A, 3600, *keep),
    ]  # fmt: skip
    store = open_store(path)
    try:
        Recorder(store).record(obs)
    finally:
        store.close()
    return path
