"""The journal's size and cost: a day of 1,000 unchanged domains, bodies as deltas.

    python bench/journal.py [--domains 1000] [--hours 24] [--counter-hours 1]
                            [--full-cycles 60] [--ingest-cycles 20] [--dir DIR]

One real snapshot is taken from a libvirt test-driver host with `--domains`
running domains (one NIC and one disk each, as bench/collect.py builds it),
then journalled every 10 s of simulated time through `Journal.journal_add`,
one transaction per cycle as the recorder commits a batch:

- *unchanged*: the same snapshot, only its `observed_at` moving on, for
  `--hours` (24: a whole day, 8,640 cycles);
- *counters move*: every counter reading (9 per domain) also grows by a
  random amount each cycle, as on busy domains, for `--counter-hours`,
  extrapolated linearly to a day.

Beside them, the journal as it was before 0009_journal_bodies (each body the
text itself) is written with the same texts for `--full-cycles` cycles and
extrapolated linearly to a day: every cycle stores the same 2 MB there, so
its size grows in a straight line. Then the recorder's ingest rate is
measured on the real snapshot with bodies packed and with bodies kept as text
(bodies.SMALL raised above any body: the path every body took before), for
snapshots and for a stream of small events, the median of three alternated
rounds. Figures, not pass/fail; the target (issue 8): a day of unchanged
domains keeps the journal under 200 MB.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collect import host_xml
from vtrail.collectors.libvirt.collector import LibvirtCollector
from vtrail.model import EntityObs, Observation
from vtrail.payload import encode
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, store_files
from vtrail.store import bodies as bodies_mod
from vtrail.store.journal import Journal
from vtrail.store.sqlite import journal_path

CYCLE_S = 10
ROUNDS = 3
DAY_CYCLES = 86_400 // CYCLE_S
T0 = datetime(2026, 11, 1, tzinfo=UTC)
_AT = re.compile(r'"observed_at":"[^"]*"')
_VALUE = re.compile(r'"value":(\d+)')


def h64(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


def at_text(i: int) -> str:
    t = T0 + timedelta(seconds=CYCLE_S * i)
    return f'"observed_at":"{t.strftime("%Y-%m-%dT%H:%M:%S.000Z")}"'


def real_snapshot(domains: int, work: Path) -> Observation:
    xml = work / "hv-bench.xml"
    xml.write_text(host_xml(domains))
    collector = LibvirtCollector(f"test://{xml}", host="hv-bench")
    try:
        return collector.snapshot()
    finally:
        collector.close()


def mb(path: Path) -> float:
    return sum(p.stat().st_size for p in store_files(path) if p.exists()) / 1e6


def journal_mb(path: Path) -> float:
    j = journal_path(path)
    return sum(p.stat().st_size for p in (j, Path(f"{j}-wal")) if p.exists()) / 1e6


def packed_day(template: str, cycles: int, path: Path, counters: bool) -> tuple[float, float]:
    """(journal MB, seconds in journal_add) after `cycles` cycles through the journal."""
    store = SqliteStore(path, cache_mib=8)
    j = Journal(store)
    src = store.source_id("libvirt+test:///bench@hv-bench")
    rnd = random.Random(1)
    base = template
    spent = 0.0
    for i in range(cycles):
        if counters:
            base = _VALUE.sub(lambda m: f'"value":{int(m.group(1)) + rnd.randrange(1 << 20)}', base)
        text = _AT.sub(at_text(i), base, count=1)
        t = (i * CYCLE_S) * 1_000_000
        start = time.perf_counter()
        with store.write():
            j.journal_add(src, "snapshot", t, t, h64(text), text)
        spent += time.perf_counter() - start
        if cycles >= 1000 and i % 1000 == 999:
            print(f"  … {i + 1:,} cycles, journal {journal_mb(path):,.1f} MB", flush=True)
    store.conn.execute("PRAGMA jnl.wal_checkpoint(TRUNCATE)")
    store.close()
    return journal_mb(path), spent


def full_bodies(template: str, cycles: int, path: Path) -> float:
    """MB of a journal of the layout before 0009 (each body the text) after `cycles`."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, source INTEGER NOT NULL, "
        "kind TEXT NOT NULL, observed_at INTEGER NOT NULL, recorded_at INTEGER NOT NULL, "
        "hash INTEGER NOT NULL, payload TEXT NOT NULL)"
    )
    c.execute("CREATE UNIQUE INDEX journal_identity ON journal(observed_at, source, hash)")
    c.execute("CREATE INDEX journal_source ON journal(source, observed_at)")
    for i in range(cycles):
        text = _AT.sub(at_text(i), template, count=1)
        t = i * CYCLE_S * 1_000_000
        c.execute("BEGIN IMMEDIATE")
        c.execute(
            "INSERT INTO journal VALUES (NULL, 1, 'snapshot', ?, ?, ?, ?)", (t, t, h64(text), text)
        )
        c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    return path.stat().st_size / 1e6


def read_back(path: Path, n: int) -> float:
    """Entries a second read back in order, as a replay or a rebuild reads them."""
    store = SqliteStore(path, readonly=True)
    start = time.perf_counter()
    got = 0
    for _ in Journal(store).entries():
        got += 1
        if got == n:
            break
    seconds = time.perf_counter() - start
    store.close()
    return got / seconds


def ingest(obs: list[Observation], work: Path, name: str, batch: int) -> float:
    """Observations a second through the recorder, in batches of `batch`."""
    path = work / f"{name}.db"
    gc.collect()  # what the run before left is not this one's to collect
    store = SqliteStore(path, cache_mib=8)
    rec = Recorder(store)
    rec.record(obs[:batch])  # the first batch opens every entity; not timed
    start = time.perf_counter()
    for k in range(batch, len(obs), batch):
        rec.record(obs[k : k + batch])
    seconds = time.perf_counter() - start
    store.close()
    return (len(obs) - batch) / seconds


def events(n: int) -> list[Observation]:
    return [
        Observation(
            "netlink:bench",
            T0 + timedelta(milliseconds=i),
            "event",
            (
                EntityObs(
                    f"port:bench/veth{i % 500}",
                    "port",
                    {"ifname": f"veth{i % 500}", "up": i % 2 == 0},
                ),
            ),
        )
        for i in range(n)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--counter-hours", type=float, default=1.0)
    ap.add_argument("--full-cycles", type=int, default=60)
    ap.add_argument("--ingest-cycles", type=int, default=20)
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the stores go (default: a temp dir)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vtrail-jbench-", dir=args.dir))
    try:
        o = real_snapshot(args.domains, work)
        template, _ = encode(o)
        print(
            f"one snapshot: {args.domains:,} domains, {len(o.entities):,} entities, "
            f"{len(o.relations):,} relations, {len(o.samples):,} counter readings, "
            f"{len(template) / 1e6:.2f} MB of text",
            flush=True,
        )

        cycles = round(args.hours * 3600 / CYCLE_S)
        print(f"unchanged, {cycles:,} cycles ({args.hours:g} h) …", flush=True)
        same_mb, same_s = packed_day(template, cycles, work / "same.db", counters=False)
        same_day = same_mb * DAY_CYCLES / cycles
        ccycles = round(args.counter_hours * 3600 / CYCLE_S)
        print(f"counters move, {ccycles:,} cycles ({args.counter_hours:g} h) …", flush=True)
        moving_mb, moving_s = packed_day(template, ccycles, work / "moving.db", counters=True)
        moving_day = moving_mb * DAY_CYCLES / ccycles
        print(f"bodies as text (before 0009), {args.full_cycles} cycles …", flush=True)
        full_mb = full_bodies(template, args.full_cycles, work / "full.db")
        full_day = full_mb * DAY_CYCLES / args.full_cycles
        reads = read_back(work / "same.db", min(cycles, 500))
        reads_moving = read_back(work / "moving.db", min(ccycles, 500))

        snaps = [
            dataclasses.replace(o, observed_at=T0 + timedelta(seconds=CYCLE_S * i))
            for i in range(args.ingest_cycles + 1)
        ]
        stream = events(21_000)
        print(f"ingest through the recorder, {ROUNDS} rounds each way …", flush=True)
        got: dict[str, list[tuple[float, float]]] = {"packed": [], "text": []}
        small = bodies_mod.SMALL
        for r in range(ROUNDS):  # alternated: this machine's speed drifts over a run
            for mode in ("packed", "text") if r % 2 == 0 else ("text", "packed"):
                # "text": every body kept as text, the path every body took before 0009.
                bodies_mod.SMALL = small if mode == "packed" else sys.maxsize
                try:
                    got[mode].append(
                        (
                            ingest(snaps, work, f"{mode}-s{r}", 1),
                            ingest(stream, work, f"{mode}-e{r}", 1000),
                        )
                    )
                finally:
                    bodies_mod.SMALL = small
        rates = {
            k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
            for k, v in got.items()
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("| figure | bodies as deltas | bodies as text (before 0009) | target |")
    print("|---|---:|---:|---:|")
    print(
        f"| journal after a day, {args.domains:,} unchanged domains every 10 s | "
        f"**{same_day:,.1f} MB** (measured over {args.hours:g} h: {same_mb:,.1f} MB) | "
        f"{full_day:,.0f} MB ({full_mb:,.0f} MB over {args.full_cycles} cycles, × "
        f"{DAY_CYCLES / args.full_cycles:g}) | ≤ 200 MB |"
    )
    print(
        f"| journal per cycle, unchanged | {1e6 * same_mb / cycles:,.0f} bytes | "
        f"{1e6 * full_mb / args.full_cycles:,.0f} bytes | — |"
    )
    print(
        f"| journal after a day, every counter moving each cycle | {moving_day:,.0f} MB "
        f"({moving_mb:,.1f} MB over {args.counter_hours:g} h, × {DAY_CYCLES / ccycles:g}) | "
        f"{full_day:,.0f} MB | — |"
    )
    print(
        f"| journal_add per cycle, unchanged / counters moving | "
        f"{1000 * same_s / cycles:.1f} / {1000 * moving_s / ccycles:.1f} ms | — | — |"
    )
    print(
        f"| reading back in order (replay, rebuild), unchanged / counters moving | "
        f"{reads:,.0f} / {reads_moving:,.0f} entries/s | — | — |"
    )
    print(
        f"| recorder ingest, {args.domains:,}-domain snapshots, batches of 1 | "
        f"{rates['packed'][0]:.2f} snapshots/s | {rates['text'][0]:.2f} snapshots/s | — |"
    )
    print(
        f"| recorder ingest, small events, batches of 1,000 | "
        f"{rates['packed'][1]:,.0f} events/s | {rates['text'][1]:,.0f} events/s | — |"
    )


if __name__ == "__main__":
    main()
