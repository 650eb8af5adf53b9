"""Image benchmark: `image exposure` over 90 days in a store of 10,000 VMs and 1,000
images, beside a baseline measured in the same run.

    python bench/images.py [--dir DIR] [--vms 10000] [--images 1000] [--days 90]

The store is recorded through the recorder. IMAGES images: one in twenty a golden
base (by checksum), each other one a product image backed by a base; every VM a
disk of its own (by path) backed by a product image, so that 1,000 images and
10,000 disks are 11,000 image entities and every VM is two `backed_by` hops from its
base. VMS VMs start at random instants of the DAYS days on one of 20 hosts and live
from seconds (one in ten) to ten days, each changing state once while it runs: the
history holds about 31,000 versions and 31,000 edges.

Figures:
- `exposure` of a golden base over the whole window (about 500 VMs, through 19
  product images): p50 and max over every base;
- `exposure` of one product image (about 10 VMs): p50 over 50 of them;
- baseline: the same answer for one base found by reading every `uses_image`,
  `backed_by` and `runs_on` edge of the window (what it costs without the walk by
  index), in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.ids import host_id, image_content_id, image_path_id, vm_id
from vtrail.images.exposure import exposure
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.timeexpr import to_us

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOSTS = 20
BATCH = 5000


def base_of(i: int) -> int:
    return i - i % 20


def image_ids(n: int) -> list[str]:
    return [image_content_id(f"{i:064x}") for i in range(n)]


def populate(db: Path, n_vms: int, n_images: int, days: int) -> tuple[float, list[str]]:
    rnd = random.Random(7)
    images = image_ids(n_images)
    store = SqliteStore(db)
    r = Recorder(store)
    started = time.perf_counter()
    ents = [
        EntityObs(eid, "image", {"checksum": eid[-64:], "identity": "checksum"}) for eid in images
    ]
    rels = [
        RelationObs(RelKey(images[i], "backed_by", images[base_of(i)]))
        for i in range(n_images)
        if i % 20
    ]
    r.record(
        [Observation("bench-images", T0 - timedelta(hours=1), "snapshot", tuple(ents), tuple(rels))]
    )
    products = [i for i in range(n_images) if i % 20]
    span = days * 86400
    events: list[tuple[float, int, Observation]] = []
    for v in range(n_vms):
        start = rnd.uniform(0, span * 0.95)
        life = rnd.uniform(1, 30) if v % 10 == 0 else rnd.uniform(600, 10 * 86400)
        end = min(start + life, span)
        host = f"hv-{v % HOSTS}"
        src = f"libvirt+bench@{host}"
        vm = vm_id(f"00000000-0000-4000-8000-{v:012x}")
        disk = image_path_id(host, f"/vms/{v}.qcow2")
        product = images[products[v % len(products)]]
        items = (
            EntityObs(
                vm, "vm", {"name": f"vm-{v}", "state": "running", "asset.owner": f"team-{v % 37}"}
            ),
            EntityObs(disk, "image", {"paths": [f"/vms/{v}.qcow2"], "identity": "path"}),
        )
        edges = (
            RelationObs(RelKey(vm, "uses_image", disk)),
            RelationObs(RelKey(disk, "backed_by", product)),
            RelationObs(RelKey(vm, "runs_on", host_id(host))),
        )
        at = T0 + timedelta(seconds=start)
        events.append((start, v, Observation(src, at, "event", items, edges)))
        mid = start + (end - start) / 2
        paused = (
            EntityObs(
                vm, "vm", {"name": f"vm-{v}", "state": "paused", "asset.owner": f"team-{v % 37}"}
            ),
        )
        events.append((mid, v, Observation(src, T0 + timedelta(seconds=mid), "event", paused)))
        gone = Observation(
            src, T0 + timedelta(seconds=end), "event", gone=(vm, disk),
            gone_relations=tuple(e.key for e in edges),
        )  # fmt: skip
        events.append((end + 1e-3, v, gone))
    events.sort(key=lambda e: (e[0], e[1]))
    for i in range(0, len(events), BATCH):
        r.record([e[2] for e in events[i : i + BATCH]])
    store.close()
    return time.perf_counter() - started, images


def scan_exposure(store: SqliteStore, image: str, lo: int, hi: int) -> float:
    """The baseline: the VM-hours of `image` from every edge of the window, read by a scan."""
    rows = store.conn.execute(
        "SELECT a.eid, r.rel, b.eid, r.valid_from, r.valid_to FROM relation r "
        "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
        "WHERE r.rel IN ('uses_image', 'backed_by', 'runs_on') "
        "AND r.valid_from < ? AND (r.valid_to IS NULL OR r.valid_to > ?)",
        (hi, lo),
    ).fetchall()
    backed: dict[str, set[str]] = defaultdict(set)
    uses: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    runs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for a, rel, b, f, t in rows:
        end = hi if t is None else min(t, hi)
        if rel == "backed_by":
            backed[b].add(a)
        elif rel == "uses_image":
            uses[b].append((a, max(f, lo), end))
        else:
            runs[a].append((max(f, lo), end))
    found, todo = {image}, [image]
    while todo:
        for x in backed.get(todo.pop(), ()):
            if x not in found:
                found.add(x)
                todo.append(x)
    total = 0
    for img in found:
        for vm, f, t in uses.get(img, ()):
            total += sum(max(0, min(t, b) - max(f, a)) for a, b in runs.get(vm, ()))
    return total / 3.6e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--vms", type=int, default=10_000)
    p.add_argument("--images", type=int, default=1_000)
    p.add_argument("--days", type=int, default=90)
    args = p.parse_args()
    where = args.dir or Path(tempfile.mkdtemp(prefix="vtrail-images-"))
    db = where / "images.db"
    took, images = populate(db, args.vms, args.images, args.days)
    store = SqliteStore(db, readonly=True)
    versions = store.conn.execute("SELECT count(*) FROM version").fetchone()[0]
    edges = store.conn.execute("SELECT count(*) FROM relation").fetchone()[0]
    print(f"recorded {args.vms:,} VMs on {args.images:,} images over {args.days} days in "
          f"{took:.0f} s: {versions:,} versions, {edges:,} edges")  # fmt: skip
    t_from, t_to = T0, T0 + timedelta(days=args.days)
    lo, hi = to_us(t_from), to_us(t_to)
    bases = images[::20]
    times, counts, hours = [], [], {}
    for b in bases:
        t = time.perf_counter()
        a = exposure(store, b, t_from, t_to)
        times.append(time.perf_counter() - t)
        counts.append(a.vm_count)
        hours[b] = a.vm_hours
    print(f"exposure of a golden base over {args.days} days ({len(bases)} bases, "
          f"{statistics.median(counts):.0f} VMs each): p50 {statistics.median(times) * 1e3:.0f} ms, "
          f"max {max(times) * 1e3:.0f} ms")  # fmt: skip
    products = [x for i, x in enumerate(images) if i % 20][:50]
    ptimes = []
    for x in products:
        t = time.perf_counter()
        exposure(store, x, t_from, t_to)
        ptimes.append(time.perf_counter() - t)
    print(f"exposure of a product image: p50 {statistics.median(ptimes) * 1e3:.1f} ms")
    t = time.perf_counter()
    scanned = scan_exposure(store, bases[0], lo, hi)
    print(f"  baseline (the same answer from every edge of the window, by a scan): "
          f"{(time.perf_counter() - t) * 1e3:.0f} ms")  # fmt: skip
    assert abs(scanned - hours[bases[0]]) < 1e-3, (scanned, hours[bases[0]])
    store.close()


if __name__ == "__main__":
    main()
