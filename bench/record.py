"""Recorder and store benchmark: prints figures next to a raw-SQLite baseline from the same run.

    python bench/record.py              # 1M versions (a few minutes)
    python bench/record.py --big        # 10M versions as well (long)
    python bench/record.py --versions 10000000 --keep DIR
                                        # 10M alone; populated once, kept in DIR

Figures: ingest rate of event streams in batches of 1, 100 and 10,000 (and of
10,000 the way `vtrail record` takes them, a source's thread putting and the
writer's thread recording; then of 250,000 more, what a recorder that has run a
while sustains); as-of lookup p50/p99; snapshot at T of 100k live
entities near the start and the end of the history; diff over one hour holding
100k changes; bytes per version and per counter sample. Baselines: plain inserts of the same rows into an indexed
table of the same size, a plain indexed select on it, a plain fetch of 100k rows.

The recorder writes through its own connection and the questions are asked
through another, as `vtrail record` and `vtrail serve` do.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from stream import LIVE, STEP, T0, stream
from vtrail.model import Observation, SampleObs
from vtrail.query import state
from vtrail.recording.recorder import Recorder
from vtrail.recording.writer import BatchWriter
from vtrail.store import SqliteStore
from vtrail.store.reads.state import StateReader
from vtrail.store.reads.stats import StatsReader
from vtrail.store.sqlite import fold_wal
from vtrail.timeexpr import to_us


def populate(store: SqliteStore, total: int) -> None:
    rec = Recorder(store)
    done, t = 0, time.perf_counter()
    while done < total:
        n = min(10_000, total - done)
        # Setup, not a figure: the stream is known good, so it skips validation.
        rec.record(stream(done, n), validated=True)
        done += n
        if done % 500_000 == 0:
            rate = done / (time.perf_counter() - t)
            print(f"  populated {done:,} versions ({rate:,.0f}/s)", flush=True)


def rate(fn: Callable[[int, int], None], events: int, batch: int, start: int) -> float:
    t = time.perf_counter()
    for k in range(0, events, batch):
        fn(start + k, batch)
    return events / (time.perf_counter() - t)


def through_writer(store: SqliteStore, start: int, events: int, batch: int) -> float:
    """Events a second the way `vtrail record` takes them: a source's thread puts each
    observation (and holds it to the format's rules), the writer's thread records
    them in batches of up to `batch`."""
    w = BatchWriter(store, queue_size=2 * batch, max_batch=batch)
    w.start()
    t = time.perf_counter()
    for o in stream(start, events):
        w.put(o)
    if not w.flush(3600):
        raise SystemExit(f"the writer stopped: {w.stats().error}")
    took = time.perf_counter() - t
    w.close(60)
    return events / took


def lookups(ask: Callable[[str, int], object], end: int, seed: int) -> list[float]:
    """Microseconds of each of 20,000 as-of lookups of random VMs at random instants."""
    rng = random.Random(seed)
    out = []
    for _ in range(20_000):
        eid = f"vm:{rng.randrange(LIVE):08d}"
        tq = to_us(T0 + STEP * rng.randrange(end))
        t = time.perf_counter()
        ask(eid, tq)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


class Baseline:
    """The same rows in a plain indexed table, written and read with no recorder logic."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.c = sqlite3.connect(path, isolation_level=None)
        self.c.execute("PRAGMA journal_mode=WAL")
        self.c.execute("PRAGMA synchronous=NORMAL")
        if create:
            self.c.execute(
                "CREATE TABLE v (entity TEXT, valid_from INTEGER, attrs TEXT, "
                "PRIMARY KEY (entity, valid_from)) WITHOUT ROWID"
            )

    def as_of(self, eid: str, t: int) -> object:
        return self.c.execute(
            "SELECT valid_from, attrs FROM v WHERE entity = ? AND valid_from <= ? "
            "ORDER BY valid_from DESC LIMIT 1",
            (eid, t),
        ).fetchone()

    def insert(self, start: int, n: int) -> None:
        self.c.execute("BEGIN")
        self.c.executemany(
            "INSERT OR REPLACE INTO v VALUES (?, ?, ?)",
            (
                (o.entities[0].id, to_us(o.observed_at), repr(o.entities[0].attrs))
                for o in stream(start, n)
            ),
        )
        self.c.execute("COMMIT")


def populated(total: int, workdir: Path, keep: Path | None) -> tuple[SqliteStore, Baseline]:
    """The store and the baseline table at `total` versions, populated here, or copied
    from `keep` where an earlier run left them (each run measures on a copy, since
    measuring writes to both)."""
    names = [f"bench-{total}.db", f"bench-{total}.journal.db", f"base-{total}.db"]
    if keep is not None and all((keep / n).exists() for n in names):
        t = time.perf_counter()
        for n in names:
            shutil.copyfile(keep / n, workdir / n)
        os.sync()  # the copies written back now, not while the figures are taken
        print(f"  populated stores copied from {keep} in {time.perf_counter() - t:,.0f}s")
        return SqliteStore(workdir / names[0]), Baseline(workdir / names[2], create=False)
    store = SqliteStore(workdir / names[0])
    base = Baseline(workdir / names[2])
    t = time.perf_counter()
    populate(store, total)
    print(f"  populated in {time.perf_counter() - t:,.0f}s")
    t = time.perf_counter()
    for start in range(0, total, 1_000_000):
        base.insert(start, min(1_000_000, total - start))
    print(f"  baseline table of {total:,} rows in {time.perf_counter() - t:,.0f}s")
    if keep is not None:
        store.close()
        base.c.close()
        for path in (workdir / names[0], workdir / names[2]):
            fold_wal(path)
        keep.mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copyfile(workdir / n, keep / n)
        return SqliteStore(workdir / names[0]), Baseline(workdir / names[2], create=False)
    return store, base


def bench(total: int, workdir: Path, keep: Path | None = None) -> None:
    print(f"\n== {total:,} versions ({LIVE:,} entities, 100k changes per hour)")
    store, base = populated(total, workdir, keep)
    rec = Recorder(store)

    print("ingest (events/s)                   vtrail     raw SQLite inserts")
    start = total
    for batch, events in ((1, 2_000), (100, 20_000), (10_000, 50_000)):
        ours = rate(lambda s, n: rec.record(stream(s, n)) and None, events, batch, start)
        raw = rate(base.insert, events, batch, start)
        start += events
        print(f"  batch {batch:>6,}                  {ours:>10,.0f}     {raw:>10,.0f}")
    ours = through_writer(store, start, 50_000, 10_000)
    raw = rate(base.insert, 50_000, 10_000, start)
    start += 50_000
    print(f"  batch {10_000:>6,}, as `record` does {ours:>9,.0f}     {raw:>10,.0f}")
    # A recorder runs for days. The figures above are its first 120,000 events after the
    # store was opened, which meet most of the 100,000 VMs' pages for the first time;
    # this is what it sustains after them, its checkpoints of the live set included.
    # Its first 100,000 meet each VM once more: the recorder keeps what it wrote of a VM
    # for its next change (store/claims.py), which the writer's batches above, another
    # writer of the store, made it drop. The two parts are shown apart too.
    parts = []
    for events in (LIVE, 250_000 - LIVE):
        ours = rate(lambda s, n: rec.record(stream(s, n)) and None, events, 10_000, start)
        raw = rate(base.insert, events, 10_000, start)
        parts.append((events, ours, raw))
        start += events
    # Each part's seconds, added: the rate over the whole 250,000.
    ours = 250_000 / sum(n / o for n, o, _ in parts)
    raw = 250_000 / sum(n / r for n, _, r in parts)
    print(f"  batch {10_000:>6,}, the next 250,000 {ours:>9,.0f}     {raw:>10,.0f}")
    for (events, o, r), what in zip(parts, ("of which the first", "and the last"), strict=True):
        print(f"    {what + f' {events:,}':<29} {o:>9,.0f}     {r:>10,.0f}")

    asker = SqliteStore(store.path, readonly=True)
    r = StateReader(asker)
    end = start
    print("as-of lookup (µs)                   vtrail     plain indexed select")
    print("  (each side 20,000 random lookups on a new connection, then 20,000 more)")
    for label, seed in (("first", 1), ("next", 2)):
        ours = lookups(lambda eid, tq: r.version_at(asker.entity_id(eid), tq), end, seed)
        raw = lookups(base.as_of, end, seed)
        for p in (0.5, 0.99):
            print(
                f"  {label:<5} p{p * 100:<2.0f}                {pct(ours, p):>10.1f}     {pct(raw, p):>10.1f}"
            )

    sqlalchemy_asof(store.path, end)

    t = time.perf_counter()
    raw_rows = base.c.execute("SELECT * FROM v LIMIT 100000").fetchall()
    raw_fetch = time.perf_counter() - t
    print(f"snapshot at T (s)                   vtrail     plain fetch of {len(raw_rows):,} rows")
    print("  (first: the checkpoint is unpacked; again: a time slider's next step near it)")
    for label, when in (("near start", LIVE + 1_000), ("near end", end - 1_000)):
        times, size = [], 0
        for _ in range(4):
            t = time.perf_counter()
            snap = state.snapshot(asker, T0 + STEP * when)
            times.append(time.perf_counter() - t)
            size = len(snap.entities)
        print(
            f"  {label:<10} ({size:,} live) first {times[0]:>6.3f}     {raw_fetch:>10.3f}\n"
            f"  {'':<10} {'':>13} again {statistics.median(times[1:]):>6.3f}"
        )

    t_to = T0 + STEP * (end - 1)
    t = time.perf_counter()
    d = state.diff(asker, t_to - timedelta(hours=1), t_to)
    took = time.perf_counter() - t
    n_changes = len(d.changed) + len(d.appeared) + len(d.vanished)
    print(f"diff over one hour                  {took:>10.3f}s    ({n_changes:,} entities changed)")

    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    versions = StatsReader(asker).counts()["version"]
    size = store.size_bytes()
    tables = dict(
        store.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    )
    history_bytes = sum(
        v for k, v in tables.items() if k.startswith(("version", "claim", "checkpoint", "entity"))
    )
    journal_bytes = store.conn.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE schema = 'jnl'"
    ).fetchone()[0]
    base.c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base_bytes = sum(
        v for _, v in base.c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    )
    base_rows = base.c.execute("SELECT count(*) FROM v").fetchone()[0]
    print("bytes per version                   vtrail     plain table")
    print(
        f"  history tables and indexes   {history_bytes / versions:>10.1f}     {base_bytes / base_rows:>10.1f}"
    )
    print(f"  journal (raw observations)   {journal_bytes / versions:>10.1f}")
    print(f"  both files                   {size / versions:>10.1f}")
    asker.close()
    store.close()


def sqlalchemy_asof(path: Path, end: int) -> None:
    """The same as-of lookup through SQLAlchemy Core, to weigh its per-call cost."""
    try:
        import sqlalchemy as sa
    except ImportError:
        print("  (SQLAlchemy not installed: its per-call cost not measured)")
        return
    engine = sa.create_engine(f"sqlite:///{path}")
    md = sa.MetaData()
    version = sa.Table("version", md, autoload_with=engine)
    entity = sa.Table("entity", md, autoload_with=engine)
    eid, t = sa.bindparam("eid"), sa.bindparam("t")
    stmt = (
        sa.select(version.c.valid_from, version.c.valid_to, version.c.attrs)
        .where(
            version.c.entity == sa.select(entity.c.id).where(entity.c.eid == eid).scalar_subquery()
        )
        .where(version.c.valid_from <= t)
        .order_by(version.c.valid_from.desc())
        .limit(1)
    )
    rng = random.Random(3)
    times = []
    with engine.connect() as conn:
        for _ in range(20_000):
            args = {
                "eid": f"vm:{rng.randrange(LIVE):08d}",
                "t": to_us(T0 + STEP * rng.randrange(end)),
            }
            t1 = time.perf_counter()
            conn.execute(stmt, args).first()
            times.append((time.perf_counter() - t1) * 1e6)
    print(f"  SQLAlchemy Core, same lookup p50 {pct(times, 0.5):.1f}, p99 {pct(times, 0.99):.1f}")
    engine.dispose()


def bench_samples(workdir: Path) -> None:
    """1,000 series x 1,000 readings at a 10 s interval, like polled NIC counters."""
    store = SqliteStore(workdir / "samples.db")
    rec = Recorder(store)
    rng = random.Random(2)
    values = [0] * 1_000
    base = sqlite3.connect(workdir / "samples-base.db", isolation_level=None)
    base.execute(
        "CREATE TABLE s (entity TEXT, metric TEXT, ts INTEGER, value REAL, "
        "PRIMARY KEY (entity, metric, ts)) WITHOUT ROWID"
    )
    for k in range(1_000):
        ts = T0 + timedelta(seconds=10 * k, milliseconds=rng.randrange(-50, 50))
        samples = []
        for e in range(1_000):
            values[e] += rng.randrange(0, 2_000_000)
            samples.append(SampleObs(f"port:bench/tap{e}", "rx_bytes", values[e], ts))
        rec.record([Observation("netlink:bench", ts, "event", samples=tuple(samples))])
        base.execute("BEGIN")
        base.executemany(
            "INSERT INTO s VALUES (?, ?, ?, ?)",
            ((s.entity, s.metric, to_us(ts), s.value) for s in samples),
        )
        base.execute("COMMIT")
    readings = 1_000_000
    ours = store.conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'sample'").fetchone()[0]
    raw = base.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 's'").fetchone()[0]
    print("\nbytes per counter sample            vtrail     plain table")
    print(f"  1,000 series x 1,000 readings {ours / readings:>10.1f}     {raw / readings:>10.1f}")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--big", action="store_true", help="also run at 10M versions")
    ap.add_argument("--versions", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the stores")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the populated stores in this folder, and start from them when run again",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        work = Path(d)
        bench_samples(work)
        bench(args.versions, work, args.keep)
        if args.big:
            bench(10_000_000, work, args.keep)


if __name__ == "__main__":
    main()
