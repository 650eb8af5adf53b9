"""SQLite against PostgreSQL on the same history, and 1, 2 and 4 recorders writing to
PostgreSQL at once: prints both stores' figures from the same run.

    python bench/stores.py                        # 1M versions (long: see docs/performance.md)
    python bench/stores.py --versions 200000 --writer-events 20000

The history is bench/stream.py's (100k VMs, one changing every 36 ms). Each store
is populated by one recorder in batches of 10,000 events; then, through a
read connection of its own, as the API's readers do:

- as-of lookups of random VMs at random instants (p50, p99);
- a snapshot at T near the end of the history (first, and again);
- a diff over the last hour.

PostgreSQL is Debian's server, started here with `initdb`/`pg_ctl` in a
temporary folder (tests/pg/pgserver.py) with its durable defaults (fsync,
synchronous commit), and asked over TCP on loopback, so that every statement
crosses the network stack. SQLite is the file beside it, in WAL mode.

Several writers: each is a process with its own connection and recorder,
recording its own VMs from its own source, in batches of 100 events; the
figure is all their events over the wall time from the first start to the
last commit. Every write transaction holds the store's advisory lock
(store/postgres.py), so writers overlap their Python work, not their writes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg.pgserver import SKIP_REASON, Server
from record import pct
from stream import STEP, T0, ev
from vtrail.model import EntityObs, Observation
from vtrail.query import state
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import to_us

LIVE = 100_000


def populate(store: Store, total: int) -> float:
    """Record `total` events in batches of 10,000; events per second."""
    rec = Recorder(store)
    t = time.perf_counter()
    for start in range(0, total, 10_000):
        n = min(10_000, total - start)
        rec.record((ev(i, i % LIVE) for i in range(start, start + n)), validated=True)
    return total / (time.perf_counter() - t)


def lookups(ask: Callable[[str, int], object], total: int) -> list[float]:
    """Microseconds of each of 10,000 as-of lookups of random VMs at random instants."""
    rng = random.Random(1)
    out = []
    for _ in range(10_000):
        eid = f"vm:{rng.randrange(min(total, LIVE)):08d}"
        tq = to_us(T0 + STEP * rng.randrange(total))
        t = time.perf_counter()
        ask(eid, tq)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def questions(where: str, total: int) -> dict[str, float]:
    asker = open_store(where, readonly=True)
    try:
        r = StateReader(asker)
        times = lookups(lambda eid, tq: r.version_at(asker.entity_id(eid), tq), total)
        out = {"as-of p50 (µs)": pct(times, 0.5), "as-of p99 (µs)": pct(times, 0.99)}
        at = T0 + STEP * (total - 1_000)
        snaps = []
        for _ in range(3):
            t = time.perf_counter()
            state.snapshot(asker, at)
            snaps.append(time.perf_counter() - t)
        out["snapshot first (s)"] = snaps[0]
        out["snapshot again (s)"] = statistics.median(snaps[1:])
        t_to = T0 + STEP * (total - 1)
        t = time.perf_counter()
        state.diff(asker, t_to - timedelta(hours=1), t_to)
        out["diff, last hour (s)"] = time.perf_counter() - t
        return out
    finally:
        asker.close()


def writer(url: str, k: int, events: int, ready: multiprocessing.Barrier) -> None:  # type: ignore[type-arg]
    store = open_store(url)
    rec = Recorder(store)
    obs = [
        Observation(
            f"libvirt+qemu:///system@writer{k}",
            T0 + STEP * i,
            "event",
            (EntityObs(f"vm:w{k}-{i % 5_000:05d}", "vm", {"name": f"w{k}-{i}", "state": "r"}),),
        )
        for i in range(events)
    ]
    ready.wait()
    for i in range(0, events, 100):
        rec.record(obs[i : i + 100], validated=True)
    store.close()


def writers(server: Server, n: int, events: int) -> float:
    url = server.database("w")
    open_store(url).close()
    ready = multiprocessing.Barrier(n + 1)
    procs = [
        multiprocessing.Process(target=writer, args=(url, k, events // n, ready)) for k in range(n)
    ]
    for p in procs:
        p.start()
    ready.wait()
    t = time.perf_counter()
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"writer exited with {p.exitcode}")
    return (events // n) * n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=1_000_000)
    ap.add_argument("--writer-events", type=int, default=40_000)
    args = ap.parse_args()
    if SKIP_REASON:
        raise SystemExit(SKIP_REASON)
    server = Server(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = {"SQLite": str(Path(tmp) / "bench.db"), "PostgreSQL": server.database("b")}
            figures: dict[str, dict[str, float]] = {}
            for name, where in stores.items():
                store = open_store(where)
                try:
                    rate = populate(store, args.versions)
                finally:
                    store.close()
                figures[name] = {"ingest (events/s)": rate, **questions(where, args.versions)}
                print(f"  {name} done", flush=True)
        print(f"\n== {args.versions:,} versions, SQLite and PostgreSQL (TCP loopback)")
        print(f"{'':<24}{'SQLite':>14}{'PostgreSQL':>14}{'ratio':>10}")
        for k in figures["SQLite"]:
            a, b = figures["SQLite"][k], figures["PostgreSQL"][k]
            print(f"{k:<24}{a:>14,.3f}{b:>14,.3f}{b / a:>10.2f}")
        print(f"\n== recorders writing to PostgreSQL at once ({args.writer_events:,} events)")
        for n in (1, 2, 4):
            print(
                f"  {n} writer{'s' if n > 1 else ' '}   {writers(server, n, args.writer_events):>10,.0f} events/s"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
