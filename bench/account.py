"""`account` over 30 days of a 10,000-VM fleet with 1,000,000 counter readings a day,
beside a plain scan of the same readings measured in the same run.

    python bench/account.py                 # the full size (populating takes minutes)
    python bench/account.py --scale 0.05    # a quick run: 500 VMs, 50,000 readings a day
    python bench/account.py --db /tmp/a.db  # keep the populated store, or ask a kept one

The fleet: 200 hosts (64 CPUs, 256 GiB), each VM with 2 to 8 vCPUs, an owner and a
service (20 services of the policy, with a rate card and idle sharing), recorded
through the recorder. Each day 1 % of the VMs migrate and 0.5 % are paused for an
hour. Each VM has five counters (`cpu_time_ns`, `disk.vda.rd_bytes`,
`disk.vda.wr_bytes`, and its NIC's `rx_bytes`, `tx_bytes`), read evenly so that the
fleet makes `--per-day` readings a day; they are written as sample blocks straight
into the store (setup, not a figure). The question is asked over the 30 days, by VM
and by owner; the baseline reads every block of the same store with one plain
`SELECT` and counts the readings, which any answer over them must at least do.
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vtrail.accounting.account import account, policy_in_force
from vtrail.ids import host_id, nic_id, vm_id
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.samples import _COLS, _MARKS, BLOCK, _Block
from vtrail.timeexpr import to_us
from vtrail.triage.derive import derivers

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOSTS, SERVICES, OWNERS = 200, 20, 50
METRICS = ("cpu_time_ns", "disk.vda.rd_bytes", "disk.vda.wr_bytes", "rx_bytes", "tx_bytes")
GIB_KIB = 2**20


def _uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def _vm(i: int, state: str = "running") -> list[Any]:
    u, vcpus = _uuid(i), 2 + 2 * (i % 4)
    vm, nic = vm_id(u), nic_id(u, f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}")
    attrs = {
        "name": f"s{i % SERVICES:02d}-vm{i}", "uuid": u, "state": state, "vcpus": vcpus,
        "memory_kib": 2 * vcpus * GIB_KIB, "asset.owner": f"team-{i % OWNERS:02d}",
    }  # fmt: skip
    return [EntityObs(vm, "vm", attrs), EntityObs(nic, "nic", {"mac": nic[-17:]}),
            RelationObs(RelKey(vm, "has_nic", nic))]  # fmt: skip


def _on(i: int, host: int) -> RelationObs:
    return RelationObs(RelKey(vm_id(_uuid(i)), "runs_on", host_id(f"hv-{host:03d}")))


def _event(source: str, at: datetime, items: list[Any], **gone: Any) -> Observation:
    ents = tuple(x for x in items if isinstance(x, EntityObs))
    rels = tuple(x for x in items if isinstance(x, RelationObs))
    return Observation(source, at, "event", ents, rels, **gone)


def _policy() -> Observation:
    services = "\n".join(
        f"  svc-{s:02d}: {{members: {{kind: vm, name: 's{s:02d}-*'}}}}" for s in range(SERVICES)
    )
    text = f"services:\n{services}\naccounting:\n  states: [running, paused]\n"
    text += "  rates: {vcpu-hour: 0.02, gib-hour: 0.005, disk-gb: 0.01, network-gb: 0.02}\n"
    text += "  bill: max\n  share-idle: true\n"
    return to_observation(parse_policy(text, "bench.yaml"), T0)


def record_fleet(
    store: SqliteStore, vms: int, days: int, rng: random.Random
) -> dict[int, list[tuple[int, int]]]:
    """Record the fleet; each VM's hosts as `(since µs, host)`, in time order."""
    rec = Recorder(store)
    where = {i: i % HOSTS for i in range(vms)}
    hosts = {i: [(to_us(T0), i % HOSTS)] for i in range(vms)}
    # The policy in the same batch: a VM recorded in a later batch at the very instant of
    # the apply gets no membership until it next changes (the deriver's).
    first = [_policy()]
    for h in range(HOSTS):
        host = EntityObs(host_id(f"hv-{h:03d}"), "host",
                         {"hostname": f"hv-{h:03d}", "cpus": 64, "memory_mib": 262144})  # fmt: skip
        items: list[Any] = [host]
        for i in range(h, vms, HOSTS):
            items += [*_vm(i), _on(i, h)]
        first.append(_event(f"libvirt:hv-{h:03d}", T0, items))
    rec.record(first)
    for day in range(1, days):
        batch: list[Observation] = []
        moved = rng.sample(range(vms), max(1, vms // 100))
        for k, i in enumerate(sorted(moved)):
            t = T0 + timedelta(days=day, seconds=k * 60 + 7)
            old, new = where[i], (where[i] + 1 + rng.randrange(HOSTS - 1)) % HOSTS
            vm, nic = vm_id(_uuid(i)), _vm(i)[1].id
            batch.append(_event(f"libvirt:hv-{old:03d}", t, [], gone=(vm, nic),
                                gone_relations=(RelKey(vm, "runs_on", host_id(f"hv-{old:03d}")),
                                                RelKey(vm, "has_nic", nic))))  # fmt: skip
            batch.append(_event(f"libvirt:hv-{new:03d}", t, [*_vm(i), _on(i, new)]))
            where[i] = new
            hosts[i].append((to_us(t), new))
        for k, i in enumerate(rng.sample(range(vms), max(1, vms // 200))):
            t = T0 + timedelta(days=day, hours=12, seconds=k)
            src = f"libvirt:hv-{where[i]:03d}"
            batch.append(_event(src, t, _vm(i, "paused")))
            batch.append(_event(src, t + timedelta(hours=1), _vm(i)))
        batch.sort(key=lambda o: o.observed_at)
        rec.record(batch)
    return hosts


def write_samples(
    store: SqliteStore, hosts: dict[int, list[tuple[int, int]]], days: int, per_day: int
) -> int:
    """Every series' readings as sealed blocks and one open block, written directly. As
    libvirt's collectors do, each host reads its own series of a VM's counters: a VM
    that migrated has a series from each host, split at the migration."""
    vms = len(hosts)
    every = 86400 * len(METRICS) * vms / per_day
    n = int(days * 86400 / every) + 1
    times = [to_us(T0) + int(k * every * 1e6) for k in range(n)]
    # The writer's own columns: a block's row is what SampleWriter would write.
    cols, marks = _COLS, _MARKS
    written = 0
    with store.write():
        sources = {h: store.source_id(f"libvirt:hv-{h:03d}") for h in range(HOSTS)}
        for i in range(vms):
            vm, nic = store.entity_id(vm_id(_uuid(i))), store.entity_id(_vm(i)[1].id)
            stays = [*hosts[i], (times[-1] + 1, -1)]
            for m, metric in enumerate(METRICS):
                entity = vm if m < 3 else nic
                step, v = 1_000_000 * (i % 7 + 1) * (m + 1), i * 1000
                # A VM back on a host it left is read again in that host's series.
                by_host: dict[int, list[tuple[int, int]]] = {}
                for (since, host), (until, _) in itertools.pairwise(stays):
                    for t in times:
                        if since <= t < until:
                            v += step + (t // 1000) % 977
                            by_host.setdefault(host, []).append((t, v))
                for host, points in by_host.items():
                    blocks = [points[k : k + BLOCK] for k in range(0, len(points), BLOCK)]
                    rows = [
                        _Block.of(b, entity, metric, sources[host], False).row() for b in blocks
                    ]
                    store.conn.executemany(
                        f"INSERT INTO sample ({cols}) VALUES ({marks})", rows[:-1]
                    )
                    # One open block per series, as the writer keeps it.
                    store.conn.execute(
                        f"INSERT INTO sample_open ({cols}) VALUES ({marks})", rows[-1]
                    )
                    written += len(points)
    return written


def best(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def scan(path: Path) -> int:
    store = SqliteStore(path, readonly=True)
    try:
        total = 0
        for table in ("sample", "sample_open"):
            for row in store.conn.execute(f"SELECT entity, metric, t0, t1, n, v_first, v_last, "
                                          f"increase, data FROM {table}"):  # fmt: skip
                total += row[4]
        return total
    finally:
        store.close()


def ask(path: Path, by: str, t_from: datetime, t_to: datetime) -> int:
    store = SqliteStore(path, readonly=True)
    try:
        return len(account(store, policy_in_force(store, t_to), t_from, t_to, by).rows)
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--scale", type=float, default=1.0, help="VMs and readings a day, scaled")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", type=Path, help="keep the populated store here, or reuse it")
    ap.add_argument(
        "--inset-hours", type=float, default=0,
        help="ask from this long after the first reading to this long before the last: a "
        "window that cuts every series' first and last blocks",
    )  # fmt: skip
    args = ap.parse_args()
    vms, per_day = int(10_000 * args.scale), int(1_000_000 * args.scale)
    with tempfile.TemporaryDirectory() as d:
        path = args.db or Path(d) / "vtrail.db"
        if path.exists():
            readings = scan(path)
            print(f"reusing {path} ({readings:,} readings)", flush=True)
        else:
            readings = populate(path, vms, args.days, per_day)
        inset = timedelta(hours=args.inset_hours)
        lo, hi = T0 + inset, T0 + timedelta(days=args.days) - inset
        base, counted = best(lambda: scan(path), args.runs)
        assert counted == readings, (counted, readings)
        print(f"baseline: a plain scan of every block ({counted:,} readings): {base:.2f} s")
        for by in ("vm", "owner"):
            took, rows = best(lambda by=by: ask(path, by, lo, hi), args.runs)
            print(f"account --by {by} from {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} "
                  f"({rows:,} rows): {took:.2f} s "
                  f"({took / base:.1f}x the scan)")  # fmt: skip


def populate(path: Path, vms: int, days: int, per_day: int) -> int:
    store = SqliteStore(path)
    store.derivers = derivers()
    t = time.perf_counter()
    hosts = record_fleet(store, vms, days, random.Random(13))
    print(f"recorded {vms:,} VMs on {HOSTS} hosts over {days} days "
          f"in {time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
    t = time.perf_counter()
    readings = write_samples(store, hosts, days, per_day)
    store.close()
    print(f"wrote {readings:,} readings ({readings / days:,.0f} a day) "
          f"in {time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
    return readings


if __name__ == "__main__":
    main()
