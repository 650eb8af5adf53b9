"""Asset records benchmark: `assets --at T`, the continuity pass and `asset ID`, beside the
snapshot of every VM at the same instant (the state they start from).

    python bench/assets.py [--dir DIR] [--vms 10000] [--recreated 2000]

The store is recorded through the recorder, as libvirt would report it: 50 hosts and
`--vms` VMs, each with a disk and a NIC and its owner in its metadata, in one snapshot;
an hour later `--recreated` of them undefined and defined again under new uuids with the
same disk (half of them with the same MAC too); an inventory of every VM's cost centre.

Figures (best of three, on one connection): the baseline `snapshot --at T --kind vm`;
`assets --at T`; `links` (every re-creation in the store, which `asset ID` runs); one
`asset ID` card; and whether continuity found exactly the re-creations recorded.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vtrail.assets.card import asset
from vtrail.assets.continuity import links
from vtrail.assets.listing import assets
from vtrail.ids import asset_id, host_id, nic_id, vm_id
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.query.state import snapshot
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SOURCE = "libvirt+qemu:///system@bench"
HOSTS = 50


def uuid(i: int, generation: int) -> str:
    return f"{generation:08x}-0000-4000-8000-{i:012x}"


def mac(i: int, generation: int) -> str:
    n = i + generation * 0x10000000
    return "52:54:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def fleet(vms: int, recreated: int, generation_of: Callable[[int], int]) -> list[Any]:
    """Entities and relations of every VM, each of the generation `generation_of` gives."""
    out: list[Any] = [EntityObs(host_id(f"hv-{h:02d}"), "host", {}) for h in range(HOSTS)]
    for i in range(vms):
        g = generation_of(i)
        u, m = uuid(i, g), mac(i, g if i % 2 else 0)  # half keep their MAC
        disk = {"target": "vda", "source": f"/images/vm-{i}.qcow2", "device": "disk"}
        vm = vm_id(u)
        out += [
            EntityObs(vm, "vm", {"name": f"vm-{i}", "uuid": u, "disks": [disk],
                                 "asset.owner": f"team-{i % 40}"}),
            EntityObs(nic_id(u, m), "nic", {"mac": m}),
            RelationObs(RelKey(vm, "has_nic", nic_id(u, m))),
            RelationObs(RelKey(vm, "runs_on", host_id(f"hv-{i % HOSTS:02d}"))),
        ]  # fmt: skip
    return out


def observation(source: str, at: datetime, items: list[Any]) -> Observation:
    return Observation(
        source,
        at,
        "snapshot",
        tuple(x for x in items if isinstance(x, EntityObs)),
        tuple(x for x in items if isinstance(x, RelationObs)),
    )


def record(path: Path, vms: int, recreated: int) -> None:
    store = SqliteStore(path)
    try:
        recorder = Recorder(store)
        recorder.record([observation(SOURCE, T0, fleet(vms, recreated, lambda i: 1))])
        later = fleet(vms, recreated, lambda i: 2 if i < recreated else 1)
        recorder.record([observation(SOURCE, T0 + timedelta(hours=1), later)])
        register = [
            EntityObs(asset_id(vm_id(uuid(i, 2 if i < recreated else 1))), "asset",
                      {"asset.cost_centre": f"CC-{i % 97}"})
            for i in range(vms)
        ]  # fmt: skip
        recorder.record([observation("inventory:/bench.yaml", T0 + timedelta(hours=1), register)])
    finally:
        store.close()


def best(what: Callable[[], Any], times: int = 3) -> tuple[float, Any]:
    spent, found = [], None
    for _ in range(times):
        start = time.perf_counter()
        found = what()
        spent.append(time.perf_counter() - start)
    return min(spent), found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--vms", type=int, default=10_000)
    p.add_argument("--recreated", type=int, default=2_000)
    args = p.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="vtrail-bench-assets-"))
    path = base / "vtrail.db"
    start = time.perf_counter()
    record(path, args.vms, args.recreated)
    print(f"recorded {args.vms:,} VMs, {args.recreated:,} re-created, "
          f"in {time.perf_counter() - start:.1f}s into {path}")  # fmt: skip
    at = T0 + timedelta(hours=2)
    store = SqliteStore(path, readonly=True)
    try:
        rows = [
            ("baseline: snapshot --at T --kind vm", lambda: snapshot(store, at, "vm")),
            ("assets --at T", lambda: assets(store, at)),
            ("continuity: every link in the store", lambda: links(store)),
            ("asset ID (one card)", lambda: asset(store, vm_id(uuid(7, 2)), at)),
        ]
        found: dict[str, Any] = {}
        for name, what in rows:
            spent, found[name] = best(what)
            print(f"  {name:<40} {spent * 1000:9.1f} ms")
        got = {(x.earlier, x.later) for x in found["continuity: every link in the store"]}
        want = {(vm_id(uuid(i, 1)), vm_id(uuid(i, 2))) for i in range(args.recreated)}
        print(f"  continuity found {len(got):,} links; exactly the re-creations: {got == want}")
        listed = found["assets --at T"].assets
        print(f"  assets listed: {len(listed):,} ({args.vms:,} VMs + {HOSTS} hosts)")
    finally:
        store.close()


if __name__ == "__main__":
    main()
