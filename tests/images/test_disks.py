"""Disks and their images, read from real qcow2 files made with `qemu-img` (Debian's
qemu-utils), through a real libvirt test-driver domain and the real recorder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app
from vtrail.collectors.libvirt import LibvirtCollector, get
from vtrail.collectors.libvirt.images import DiskFile, chain, checksum
from vtrail.ids import image_content_id, image_path_id
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store

pytest.importorskip("libvirt")
if shutil.which("qemu-img") is None:
    pytest.skip("qemu-img (Debian's qemu-utils) is not installed", allow_module_level=True)

DATA = Path(__file__).parent.parent / "data" / "libvirt"
HV_A = f"test://{(DATA / 'hv-a.xml').resolve()}"


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def domain(name: str, uuid: str, *disks: tuple[Path, bool]) -> str:
    devices = "".join(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{p}'/><target dev='vd{chr(97 + i)}' bus='virtio'/>"
        f"{'<readonly/>' if ro else ''}</disk>"
        for i, (p, ro) in enumerate(disks)
    )
    return (
        f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory>"
        f"<vcpu>1</vcpu><os><type>hvm</type></os><devices>{devices}</devices></domain>"
    )


def test_a_backing_chain_is_read_from_the_headers(tmp_path: Path) -> None:
    base, mid, top = tmp_path / "base.qcow2", tmp_path / "mid.qcow2", tmp_path / "top.qcow2"
    qemu_img("create", "-f", "qcow2", str(base), "64M")
    # Relative backing names, as `qemu-img create -b` writes them when asked to.
    qemu_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(mid))
    qemu_img("create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", str(top))
    files = chain(DiskFile(str(top), readonly=False))
    assert [f.path for f in files] == [str(top), str(mid), str(base)]
    assert [f.backing for f in files] == [str(mid), str(base), None]
    assert {f.format for f in files} == {"qcow2"}
    assert {f.virtual_size for f in files} == {64 * 1024**2}
    # The top is the guest's to write: no checksum, and it says why.
    assert files[0].checksum is None and files[0].unhashed == "written by the guest"
    assert files[1].checksum == sha(mid) and files[2].checksum == sha(base)
    # Read-only, the top is content too.
    assert chain(DiskFile(str(top), readonly=True))[0].checksum == sha(top)


def test_a_checksum_is_taken_again_only_when_the_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "a.raw"
    f.write_bytes(b"a" * 4096)
    first = checksum(str(f))
    assert first == (sha(f), None)
    f.write_bytes(b"b" * 8192)
    assert checksum(str(f)) == (sha(f), None) != first
    assert checksum(str(tmp_path / "gone.raw"))[0] is None
    assert checksum(str(tmp_path))[1] == "not a regular file"


@pytest.mark.both_stores
def test_two_paths_to_one_content_are_one_image(tmp_path: Path, db_location: str) -> None:
    base = tmp_path / "golden" / "debian-12.qcow2"
    base.parent.mkdir()
    qemu_img("create", "-f", "qcow2", str(base), "32M")
    copy = tmp_path / "mirror" / "debian.qcow2"
    copy.parent.mkdir()
    shutil.copyfile(base, copy)
    os.utime(copy, (1, 1))  # another mtime: the same bytes all the same
    web, db = tmp_path / "web.qcow2", tmp_path / "db.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(web))
    qemu_img("create", "-f", "qcow2", "-b", str(copy), "-F", "qcow2", str(db))
    conns: list[Any] = []

    def opener(uri: str) -> Any:
        conns.append(get.open_connection(uri, read_only=False))
        return conns[-1]

    collector = LibvirtCollector.from_source(f"libvirt+{HV_A}@hv-a", open_conn=opener)
    collector.snapshot()
    web_uuid, db_uuid = (
        "1a6e0000-0000-4000-8000-000000000001",
        "1a6e0000-0000-4000-8000-000000000002",
    )
    conns[-1].defineXML(domain("img-web", web_uuid, (web, False))).create()
    conns[-1].defineXML(domain("img-db", db_uuid, (db, False), (copy, True)))
    obs = collector.snapshot()
    collector.close()

    golden = image_content_id(sha(base))
    images = {e.id: dict(e.attrs) for e in obs.entities if e.kind == "image"}
    web_img, db_img = image_path_id("hv-a", str(web)), image_path_id("hv-a", str(db))
    # hv-a.xml defines domains of its own, whose files are not here.
    assert {i for i in images if str(tmp_path) in i or i == golden} == {golden, web_img, db_img}
    assert images[golden] == {
        "paths": sorted([str(base), str(copy)]),
        "format": "qcow2",
        "virtual_size": 32 * 1024**2,
        "checksum": sha(base),
        "identity": "checksum",
    }
    assert images[web_img]["identity"] == "path"
    assert images[web_img]["unhashed"] == "written by the guest"
    edges = {(r.key.src, r.key.rel, r.key.dst) for r in obs.relations}
    assert {
        (f"vm:{web_uuid}", "uses_image", web_img),
        (web_img, "backed_by", golden),
        (f"vm:{db_uuid}", "uses_image", db_img),
        (db_img, "backed_by", golden),
        (f"vm:{db_uuid}", "uses_image", golden),  # the read-only copy, used directly
    } <= edges

    db_path = db_location
    store = open_store(db_path)
    Recorder(store).record([obs])
    store.close()
    done = CliRunner().invoke(app, ["images", "--db", db_path, "-o", "json"])
    assert done.exit_code == 0, done.output
    listed = {x["facts"]["id"]: x for x in json.loads(done.stdout)["images"]}
    assert listed[golden]["vms"] == 2 and listed[golden]["running"] == 1
    assert listed[golden]["facts"]["flags"] == ["uncertified"]
