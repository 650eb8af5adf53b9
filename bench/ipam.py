"""IPAM benchmark: `ipam who`, `ipam conflicts` over 24 hours and `ipam allocate` under
contention, each beside a baseline measured in the same run.

    python bench/ipam.py [--dir DIR] [--addresses 100000] [--rounds 10] [--only allocate]

The store is recorded through the recorder: ADDRESSES addresses in 50 namespaces,
each held by an interface, in ROUNDS snapshots over 24 hours that each change every
address's attributes (ADDRESSES x ROUNDS address versions: a million by default),
90 % of them allocated from a pool, 1 % held by a second interface for an hour.

Figures:
- `who` of 1,000 random addresses over the whole history: p50 and p99; baseline, the
  same question answered by a scan of the relations (what it costs without the range
  on the ids' index);
- `conflicts` over the 24 hours; baseline, reading the same edges alone (the floor);
- `allocate` one address at a time in a /16, 4 processes at once, p50 and p99 per
  allocation; baseline, one process alone. Beside them, what depends less on how busy
  the CPUs are: the share of the time spent queued for the allocators' lock, how long
  each allocation held it (and of that, its CPU time), and the CPU time each took.
  Each process starts as the `vtrail` command does, its imports left out of the cyclic
  collector's passes (`gc.freeze`); beside it, the same without.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.ids import ip_id, port_id
from vtrail.ipam.conflicts import conflicts
from vtrail.ipam.who import who
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.reads.ipam import IpamReader
from vtrail.timeexpr import to_us

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(hours=24)
NAMESPACES = 50
POLICY = "pools:\n  bench: {prefix: 10.0.0.0/14, space: bench}\n  alloc: {prefix: 10.8.0.0/16, space: bench}\n"


def address(i: int) -> str:
    return f"10.{(i >> 16) & 3}.{(i >> 8) & 255}.{i & 255}"


def holder(i: int) -> str:
    return port_id(f"ns-{i % NAMESPACES}", f"eth{i // NAMESPACES % 200}")


def populate(db: Path, n: int, rounds: int) -> float:
    store = SqliteStore(db)
    r = Recorder(store)
    started = time.perf_counter()
    r.record([to_observation(parse_policy(POLICY), T0 - timedelta(hours=1))])
    allocs = tuple(
        (EntityObs(ip_id(address(i), "bench"), "ip", {"address": address(i), "pool": "bench"}),
         RelationObs(RelKey(ip_id(address(i), "bench"), "allocated_to", f"vm:v{i}"), {"pool": "bench"}))
        for i in range(n) if i % 10
    )  # fmt: skip
    r.record(
        [Observation("ipam", T0, "event", tuple(a for a, _ in allocs), tuple(b for _, b in allocs))]
    )
    for k in range(rounds):
        at = T0 + DAY * k / rounds + timedelta(seconds=1)
        by_ns: dict[int, tuple[list[EntityObs], list[RelationObs]]] = {}
        for i in range(n):
            ns = i % NAMESPACES
            ents, rels = by_ns.setdefault(ns, ([], []))
            iid = ip_id(address(i), f"ns-{ns}")
            ents.append(EntityObs(iid, "ip", {"address": address(i), "prefixlen": 14, "round": k}))
            rels.append(RelationObs(RelKey(holder(i), "has_address", iid)))
            if i % 100 == 0 and k == rounds // 2:
                rels.append(RelationObs(RelKey(port_id(f"ns-{ns}", "dup0"), "has_address", iid)))
        r.record(
            [
                Observation(f"netlink:ns-{ns}", at, "snapshot", tuple(e), tuple(x))
                for ns, (e, x) in sorted(by_ns.items())
            ]
        )
    store.close()
    return time.perf_counter() - started


def _scan_who(store: SqliteStore, addr: str) -> int:
    """The baseline: every edge of the address found by a scan of the relations."""
    rows = store.conn.execute(
        "SELECT count(*) FROM relation r JOIN entity a ON a.id = r.src JOIN entity b "
        "ON b.id = r.dst WHERE r.rel IN ('has_address', 'allocated_to', 'leased_to') "
        "AND (a.eid LIKE ? OR b.eid LIKE ?)",
        (f"ip:{addr}@%", f"ip:{addr}@%"),
    ).fetchone()
    return int(rows[0])


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))]


WORKER = """
import gc, json, sys, time
from contextlib import contextmanager
import vtrail.ipam.allocate as allocating
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
store = SqliteStore(sys.argv[1])
store.conn.execute("PRAGMA busy_timeout = 60000")
recorder = Recorder(store)
if FREEZE:
    # As the vtrail command (cli/main.py) and `vtrail serve` start.
    gc.freeze()
lock = allocating.one_at_a_time
queued = []
@contextmanager
def timed(store):
    # Measurement only: how long the allocation queued for the lock, and held it.
    t = time.perf_counter()
    with lock(store) as f:
        got, cpu = time.perf_counter(), time.process_time()
        yield f
    queued.append((got - t, time.perf_counter() - got, time.process_time() - cpu))
allocating.one_at_a_time = timed
rows = []
for _ in range(int(sys.argv[2])):
    t, cpu = time.perf_counter(), time.process_time()
    allocating.allocate(store, recorder, "alloc", sys.argv[3])
    rows.append((time.perf_counter() - t, *queued.pop(), time.process_time() - cpu))
print(json.dumps(rows))
"""

#: `(took, queued for the lock, held it, CPU time holding it, CPU time)` of one
#: allocation, in seconds.
Took = tuple[float, float, float, float, float]


def contend(db: Path, procs: int, each: int, freeze: bool = True) -> list[Took]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = f"FREEZE = {freeze}\n" + WORKER
    ps = [
        subprocess.Popen(
            [sys.executable, "-c", worker, str(db), str(each), f"vm:w{i}"],
            env=env,
            stdout=subprocess.PIPE,
        )
        for i in range(procs)
    ]
    out: list[Took] = []
    for p in ps:
        got, _ = p.communicate()
        out += [(a, b, c, d, e) for a, b, c, d, e in json.loads(got)]
    return out


def report(what: str, rows: list[Took]) -> None:
    took, queued, held, held_cpu, cpu = ([r[k] for r in rows] for k in range(5))
    print(f"{what}: p50 {statistics.median(took) * 1e3:.1f} ms, p99 {pct(took, 0.99) * 1e3:.1f} ms "
          f"({len(rows)} allocations, {sum(t > 0.02 for t in took)} over 20 ms)")  # fmt: skip
    print(f"  queued for the lock: {sum(queued) / sum(took):.0%} of the time, p99 "
          f"{pct(queued, 0.99) * 1e3:.1f} ms; held it: p50 {statistics.median(held) * 1e3:.2f} "
          f"ms, p99 {pct(held, 0.99) * 1e3:.1f} ms, of CPU time p50 "
          f"{statistics.median(held_cpu) * 1e3:.2f} ms, p99 {pct(held_cpu, 0.99) * 1e3:.1f} ms")  # fmt: skip
    print(f"  CPU time of an allocation: p50 {statistics.median(cpu) * 1e3:.2f} ms, p99 "
          f"{pct(cpu, 0.99) * 1e3:.1f} ms")  # fmt: skip


def allocations(db: Path, each: int) -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    report("allocate in a /16, one process", contend(db, 1, each))
    report("allocate in a /16, 4 processes at once", contend(db, 4, each))
    report(
        "  the same, each process's imports left in the collector's passes",
        contend(db, 4, each, freeze=False),
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--addresses", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--allocations", type=int, default=200, help="per process")
    ap.add_argument("--only", choices=["allocate"], help="measure this alone")
    a = ap.parse_args()
    d = a.dir or Path(tempfile.mkdtemp(prefix="vtrail-bench-ipam-"))
    db = d / "ipam.db"
    if not db.exists():
        took = populate(db, a.addresses, a.rounds)
        print(f"recorded {a.addresses:,} addresses x {a.rounds} rounds in {took:.0f} s")
    if a.only == "allocate":
        allocations(db, a.allocations)
        return
    store = SqliteStore(db, readonly=True)
    versions = store.conn.execute(
        "SELECT count(*) FROM version v JOIN entity e ON e.id = v.entity WHERE e.kind = 'ip'"
    ).fetchone()[0]
    print(f"store: {versions:,} address versions")
    rng = random.Random(7)
    sample = [address(rng.randrange(a.addresses)) for _ in range(1000)]
    times = []
    for x in sample:
        t = time.perf_counter()
        who(store, x)
        times.append(time.perf_counter() - t)
    print(f"who: p50 {statistics.median(times) * 1e3:.2f} ms, p99 {pct(times, 0.99) * 1e3:.2f} ms")
    base = []
    for x in sample[:20]:
        t = time.perf_counter()
        _scan_who(store, x)
        base.append(time.perf_counter() - t)
    print(f"  baseline (a scan of the relations): p50 {statistics.median(base) * 1e3:.0f} ms")
    t = time.perf_counter()
    found = conflicts(store, t_from=T0, t_to=T0 + DAY)
    took = time.perf_counter() - t
    print(f"conflicts over 24 h: {took:.2f} s, {len(found.conflicts):,} conflicts")
    t = time.perf_counter()
    r = IpamReader(store)
    lo, hi = to_us(T0), to_us(T0 + DAY)
    edges = sum(
        len(r.edges_by_rel((rel,), lo, hi)) for rel in ("has_address", "leased_to", "allocated_to")
    )
    print(f"  baseline (reading its {edges:,} edges alone): {time.perf_counter() - t:.2f} s")
    store.close()
    allocations(db, a.allocations)


if __name__ == "__main__":
    main()
