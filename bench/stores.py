"""SQLite against PostgreSQL on the same history, and 1, 2 and 4 recorders writing to
PostgreSQL at once: prints both stores' figures from the same run.

    python bench/stores.py                        # 1M versions (see docs/performance.md)
    python bench/stores.py --versions 200000 --writer-events 20000

The history is bench/stream.py's (100k VMs, one changing every 36 ms). The
recorder writes it into SQLite in batches of 10,000 events; PostgreSQL gets
the same rows by COPY from that file (bench/pgcopy.py), since recording 1M
versions into a server one batch at a time takes hours here. First, on a
small history, the bench checks that a copied store holds exactly the rows the
recorder writes to the server itself, and stops if not. Then, through a read
connection of its own, as the API's readers do, on each store:

- as-of lookups of random VMs at random instants, by id, one statement each
  (p50, p99, p99.9 of `--lookups`);
- a snapshot at T near the end of the history (first, and again);
- a diff over the last hour;
- ingest on top: the recorder writes `--ingest` more events (each a VM's new
  state, closing its last version), in batches of 10,000.

PostgreSQL is Debian's server, started here with `initdb`/`pg_ctl` in a
temporary folder (tests/pg/pgserver.py) with its durable defaults (fsync,
synchronous commit), and asked over TCP on loopback, so that every statement
crosses the network stack. SQLite is the file beside it, in WAL mode. The
load average is printed before and after: the tail of a lookup that crosses
two processes follows how busy the machine is.

Several writers: each is a process with its own connection and recorder,
recording its own VMs from its own source, in batches of 100 events; the
figure is all their events over the wall time from the first start to the
last commit. A batch holds the locks of the names it writes, beside the
store's lock held shared (store/postgres.py), so writers of other VMs write at
once. Each writer's events per CPU-second are given too, of its own process
and of its server process (read from /proc), which a loaded machine blurs less
than the wall clock.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
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
from pgcopy import copy, same_rows
from record import pct
from stream import LIVE, STEP, T0, ev
from vtrail.model import EntityObs, Observation
from vtrail.query import state
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store
from vtrail.store.postgres import PostgresStore
from vtrail.store.reads.state import StateReader
from vtrail.store.sqlite import SqliteStore
from vtrail.timeexpr import to_us

BATCH = 10_000


def record(store: Store, start: int, total: int) -> float:
    """Record events `start` to `start + total` in batches of 10,000; events per second."""
    rec = Recorder(store)
    t = time.perf_counter()
    for first in range(start, start + total, BATCH):
        n = min(BATCH, start + total - first)
        rec.record((ev(i, i % LIVE) for i in range(first, first + n)), validated=True)
    return total / (time.perf_counter() - t)


def check(server: Server, folder: Path, events: int) -> None:
    """A store copied from SQLite holds the rows the recorder writes to the server: on
    `events` of a stream whose VMs change state every 1,000 events."""
    spaced = [ev(k * 100, (k * 100) % LIVE) for k in range(events)]
    recorded, copied = open_store(server.database("rec")), open_store(server.database("cp"))
    lite = open_store(folder / "check.db")
    try:
        for store in (recorded, lite):
            rec = Recorder(store)
            for i in range(0, events, 1_000):
                rec.record(spaced[i : i + 1_000], validated=True)
        assert isinstance(lite, SqliteStore) and isinstance(copied, PostgresStore)
        copy(lite, copied)
        differ = same_rows(recorded, copied)
    finally:
        for store in (recorded, copied, lite):
            store.close()
    if differ:
        raise SystemExit("the copied store differs from the recorded one:\n" + "\n".join(differ))
    print(f"  copy check: {events:,} events copied hold the recorder's rows", flush=True)


def lookups(ask: Callable[[str, int], object], total: int, n: int) -> list[float]:
    """Microseconds of each of `n` as-of lookups of random VMs at random instants."""
    rng = random.Random(1)
    out = []
    for _ in range(n):
        eid = f"vm:{rng.randrange(min(total, LIVE)):08d}"
        tq = to_us(T0 + STEP * rng.randrange(total))
        t = time.perf_counter()
        ask(eid, tq)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def questions(where: str, total: int, n: int) -> dict[str, float]:
    asker = open_store(where, readonly=True)
    try:
        r = StateReader(asker)
        lookups(r.version_of, total, 1_000)  # warm: the server's cache and plans
        times = lookups(r.version_of, total, n)
        out = {
            "as-of p50 (µs)": pct(times, 0.5),
            "as-of p99 (µs)": pct(times, 0.99),
            "as-of p99.9 (µs)": pct(times, 0.999),
        }
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


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process of this machine (the server's, too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def writer(
    url: str,
    k: int,
    events: int,
    ready: multiprocessing.Barrier,  # type: ignore[type-arg]
    spent: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    backend = store.conn.raw.info.backend_pid
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
    mine, server = time.process_time(), cpu_seconds(backend)
    for i in range(0, events, 100):
        rec.record(obs[i : i + 100], validated=True)
    spent.put((time.process_time() - mine, cpu_seconds(backend) - server))
    store.close()


def writers(server: Server, n: int, events: int) -> tuple[float, float, float]:
    """Events per second, and per CPU-second of the recorders and of their server
    processes."""
    url = server.database("w")
    open_store(url).close()
    ready = multiprocessing.Barrier(n + 1)
    spent: multiprocessing.Queue[tuple[float, float]] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=writer, args=(url, k, events // n, ready, spent))
        for k in range(n)
    ]
    for p in procs:
        p.start()
    ready.wait()
    t = time.perf_counter()
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"writer exited with {p.exitcode}")
    wall = time.perf_counter() - t
    total = (events // n) * n
    cpu = [spent.get() for _ in procs]
    return total / wall, total / sum(c for c, _ in cpu), total / sum(s for _, s in cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=1_000_000)
    ap.add_argument("--ingest", type=int, default=20_000, help="events recorded on top")
    ap.add_argument("--lookups", type=int, default=100_000)
    ap.add_argument("--check", type=int, default=3_000, help="events of the copy check")
    ap.add_argument("--writer-events", type=int, default=40_000, help="0: no writers")
    args = ap.parse_args()
    if SKIP_REASON:
        raise SystemExit(SKIP_REASON)
    print(f"  {load()}", flush=True)
    server = Server(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            check(server, Path(tmp), args.check)
            stores = {"SQLite": str(Path(tmp) / "bench.db"), "PostgreSQL": server.database("b")}
            lite, pg = open_store(stores["SQLite"]), open_store(stores["PostgreSQL"])
            try:
                rate = record(lite, 0, args.versions)
                print(f"  SQLite populated by the recorder: {rate:,.0f} events/s", flush=True)
                assert isinstance(lite, SqliteStore) and isinstance(pg, PostgresStore)
                t = time.perf_counter()
                copy(lite, pg)
                print(
                    f"  PostgreSQL populated by COPY: {time.perf_counter() - t:,.1f} s", flush=True
                )
            finally:
                lite.close()
                pg.close()
            figures: dict[str, dict[str, float]] = {}
            for name, where in stores.items():
                figures[name] = questions(where, args.versions, args.lookups)
                store = open_store(where)
                try:
                    figures[name]["ingest on top (events/s)"] = record(
                        store, args.versions, args.ingest
                    )
                finally:
                    store.close()
                print(f"  {name} done; {load()}", flush=True)
        print(f"\n== {args.versions:,} versions, SQLite and PostgreSQL (TCP loopback)")
        print(f"{'':<26}{'SQLite':>14}{'PostgreSQL':>14}{'ratio':>10}")
        for k in figures["SQLite"]:
            a, b = figures["SQLite"][k], figures["PostgreSQL"][k]
            print(f"{k:<26}{a:>14,.3f}{b:>14,.3f}{b / a:>10.2f}")
        print(f"\n== recorders writing to PostgreSQL at once ({args.writer_events:,} events)")
        print(f"{'':<12}{'events/s':>10}{'per CPU-s: recorders':>22}{'server':>9}{'both':>9}")
        for n in (1, 2, 4) if args.writer_events else ():
            rate, client, backend = writers(server, n, args.writer_events)
            both = 1 / (1 / client + 1 / backend)
            print(
                f"  {n} writer{'s' if n > 1 else ' '}  {rate:>10,.0f}{client:>22,.0f}"
                f"{backend:>9,.0f}{both:>9,.0f}"
            )
        print(f"  {load()}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
