"""Reads while the recorder writes: per-question latency with and without a writer.

    python bench/load.py                   # about three minutes
    python bench/load.py --seconds 20 --observations 30000
    python bench/load.py --code REV        # the same run with vtrail as it was at REV

It builds a fabric of about 20,000 live entities (bench/serve.py's, cached
under /tmp), then, each on a fresh copy of that store:

1. `vtrail serve` under the load below, with no writer;
2. `vtrail record --source file:...` on a generated file of events, alone;
3. both at once: the same load while the same file is recorded.

The load runs on loopback (127.0.0.1) from asyncio clients (httpx2), the light
questions in this process and the heavy ones in a child, so that reading 8 MB
answers does not delay the client that times `where`. It stops by itself: the
readers-alone run after --seconds, the others when the writer is done or after
--limit seconds.

- where: 4 clients, 10 requests a second each, random VM names at random instants;
- show: 2 clients, 10 a second each, random VM ids at random instants;
- snapshot: 20 clients back to back, each asking the whole fabric now (about
  20,000 entities), as a dashboard would;
- diff: 2 clients, one request a second each, between two consecutive snapshot
  instants.

The open-loop questions (where, show) count latency from the instant the
request was due, so a stalled server shows instead of slowing the client. It
prints p50 and p99 per question next to the same without a writer, the
recorder's rate alone and under the load, and first the CPU one snapshot
answer costs, made in this process: a figure a busy machine does not blur. Targets (issue 16): where p99 <= 50
ms and a 20,000-entity snapshot p99 <= 3 s under the writer; ingest slowed by
at most 30 %.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

from serve import STEP, T0, build, code_at, pct, serve, vtrail_command
from vtrail.timeexpr import iso

_MP = multiprocessing.get_context("spawn")
FABRIC = (80, 62, 4)  # hosts, VMs per host, snapshots: 20,531 live entities
TARGETS = {"where": 50.0, "snapshot": 3000.0}


# -- the writer's file ------------------------------------------------------------------


def events(n: int, seed: int = 11) -> list[str]:
    """`n` events after the fabric's last snapshot: a VM's state and its NIC's counters,
    as a libvirt collector reports them between snapshots."""
    hosts, vms, steps = FABRIC
    rng = random.Random(seed)
    start = T0 + STEP * steps
    counters: dict[tuple[int, int], int] = {}
    lines = []
    for k in range(n):
        h, v = rng.randrange(hosts), rng.randrange(vms)
        uuid = f"{h:04d}{v:04d}-0000-4000-8000-000000000000"
        mac = f"52:54:{h // 256:02x}:{h % 256:02x}:{v // 256:02x}:{v % 256:02x}"
        rx = counters[h, v] = counters.get((h, v), 0) + rng.randrange(1, 1 << 20)
        lines.append(
            json.dumps(
                {
                    "source": f"bench@hv{h:03d}",
                    "observed_at": iso(start + k * STEP / n),
                    "kind": "event",
                    "entities": [
                        {
                            "id": f"vm:{uuid}",
                            "attrs": {
                                "name": f"vm-{h}-{v}",
                                "vcpus": 2,
                                "state": rng.choice(("running", "paused")),
                            },
                        }
                    ],
                    "samples": [
                        {"entity": f"nic:{uuid}/{mac}", "metric": "rx_bytes", "value": rx},
                        {"entity": f"nic:{uuid}/{mac}", "metric": "tx_bytes", "value": rx // 3},
                    ],
                }
            )
        )
    return lines


def copy_store(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")
    journal = src.with_name(src.name.removesuffix(".db") + ".journal.db")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{journal}{suffix}").exists():
            shutil.copyfile(
                f"{journal}{suffix}",
                f"{dst.with_name(dst.name.removesuffix('.db') + '.journal.db')}{suffix}",
            )
    return dst


def applied(db: Path) -> int:
    """The last journal entry the history holds: how far the recorder has got."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(c.execute("SELECT seq FROM applied").fetchone()[0])
    finally:
        c.close()


@dataclass
class Ingest:
    observations: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.observations / self.seconds if self.seconds else 0.0


class Writer:
    """`vtrail record` on a file of `n` observations, watched from another thread until
    they are all in the history (or `limit` seconds have passed), then stopped."""

    def __init__(self, db: Path, lines: Path, n: int, limit: float) -> None:
        self.db, self.goal = db, applied(db) + n
        self.done = _MP.Event()
        self.result = Ingest(0, 0.0)
        cmd, env = vtrail_command("record", "--source", f"file:{lines}", "--quiet", "--db", str(db))
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._watch = threading.Thread(target=self._run, args=(applied(db), limit), daemon=True)
        self._watch.start()

    def _run(self, base: int, limit: float) -> None:
        first: tuple[float, int] | None = None
        deadline = time.perf_counter() + limit
        now, seq = time.perf_counter(), base
        while now < deadline and self.proc.poll() is None and seq < self.goal:
            time.sleep(0.05)
            now, seq = time.perf_counter(), applied(self.db)
            if first is None and seq > base:
                first = (now, seq)
        if first is not None:
            # From the first batch in the history to the last: the recorder's start-up
            # is the same with or without readers and is left out.
            self.result = Ingest(seq - first[1], now - first[0])
        if seq < self.goal:
            print(f"  recorder: {seq - base:,} of {self.goal - base:,} recorded when it stopped")
        self.done.set()

    def finish(self) -> Ingest:
        self._watch.join()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.result


# -- the readers ---------------------------------------------------------------------------


@dataclass
class Lat:
    ms: list[float] = field(default_factory=list)
    errors: int = 0
    #: Open-loop requests that fell due but could not be sent before the end.
    unsent: int = 0
    last_error: str = ""


@dataclass
class Until:
    """The end of a load: an instant, or earlier when `event` (the writer is done) is set."""

    at: float  # time.monotonic(), the same clock in every process
    event: Any = None  # a multiprocessing Event

    def over(self) -> bool:
        return time.monotonic() >= self.at or (self.event is not None and self.event.is_set())


async def open_loop(client: httpx2.AsyncClient, lat: Lat, targets: list[str], rate: float,
                    until: Until, seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    due = time.perf_counter() + rng.uniform(0, 1 / rate)
    while not until.over():
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
            continue
        await ask(client, lat, rng.choice(targets), due)
        due += 1 / rate
    # What a stalled server kept from being sent is counted, not silently dropped.
    lat.unsent += max(0, int((time.perf_counter() - due) * rate))


async def closed_loop(client: httpx2.AsyncClient, lat: Lat, targets: list[str], until: Until,
                      seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    while not until.over():
        await ask(client, lat, rng.choice(targets), time.perf_counter())


async def ask(client: httpx2.AsyncClient, lat: Lat, target: str, since: float) -> None:
    try:
        # Read as sent (gzipped when large), not decoded: the time is the server's.
        async with client.stream("GET", target) as r:
            body = b"".join([chunk async for chunk in r.aiter_raw()])
        ok = r.status_code == 200
        if not ok:
            lat.last_error = f"{r.status_code} {body[:120]!r}"
    except httpx2.HTTPError as e:
        ok, lat.last_error = False, f"{type(e).__name__}: {e}"
    if ok:
        lat.ms.append((time.perf_counter() - since) * 1000)
    else:
        lat.errors += 1


def questions() -> dict[str, list[str]]:
    hosts, vms, steps = FABRIC
    rng = random.Random(3)

    def instant() -> str:
        return iso(T0 + STEP * rng.uniform(0, steps - 1))

    snaps = [iso(T0 + STEP * s) for s in range(steps)]
    return {
        "where": [
            f"/api/where?what=vm-{rng.randrange(hosts)}-{rng.randrange(vms)}&at={instant()}"
            for _ in range(2000)
        ],
        "show": [
            f"/api/show/vm:{rng.randrange(hosts):04d}{rng.randrange(vms):04d}"
            f"-0000-4000-8000-000000000000?at={instant()}"
            for _ in range(2000)
        ],
        # Now, the default: what a dashboard shows.
        "snapshot": ["/api/snapshot"],
        "diff": [f"/api/diff?from={a}&to={b}" for a, b in itertools.pairwise(snaps)],
    }


#: Clients per question: (how many, requests a second each, or None: back to back).
CLIENTS: dict[str, tuple[int, float | None]] = {
    "where": (4, 10.0),
    "show": (2, 10.0),
    "snapshot": (20, None),
    "diff": (2, 1.0),
}
#: Asked from a process of their own: reading 8 MB answers would otherwise hold up the
#: client that times `where`, and its figures would be the client's, not the server's.
HEAVY = ("snapshot", "diff")


async def clients(addr: str, kinds: tuple[str, ...], until: Until) -> dict[str, Lat]:
    q = questions()
    lats = {k: Lat() for k in kinds}
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx2.AsyncClient(base_url=f"http://{addr}", limits=limits, timeout=120) as c:
        tasks: list[Awaitable[None]] = []
        for k in kinds:
            n, rate = CLIENTS[k]
            for i in range(n):
                seed = 100 * len(k) + i
                if rate is None:
                    tasks.append(closed_loop(c, lats[k], q[k], until, seed))
                else:
                    tasks.append(open_loop(c, lats[k], q[k], rate, until, seed))
        await asyncio.gather(*tasks)
    return lats


def _heavy_clients(addr: str, until: Until, out: Any) -> None:
    out.put(asyncio.run(clients(addr, HEAVY, until)))


def load(addr: str, until: Until) -> dict[str, Lat]:
    """Every question's clients until `until` is over: the light ones here, the heavy ones
    in a child process."""
    out = _MP.Queue()
    child = _MP.Process(target=_heavy_clients, args=(addr, until, out))
    child.start()
    light = asyncio.run(clients(addr, tuple(k for k in CLIENTS if k not in HEAVY), until))
    heavy: dict[str, Lat] = out.get(timeout=until.at - time.monotonic() + 300)
    child.join()
    return {k: (light | heavy)[k] for k in CLIENTS}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def warm(addr: str) -> None:
    """One of each question before timing: the server's first snapshot maps the store."""

    async def go() -> None:
        async with httpx2.AsyncClient(base_url=f"http://{addr}", timeout=120) as c:
            for targets in questions().values():
                await c.get(targets[0])

    asyncio.run(go())


# -- the run ------------------------------------------------------------------------------


def answer_cpu(db: Path, rounds: int = 5) -> float:
    """CPU seconds a worker spends on one whole-fabric snapshot, body and gzip included:
    the figure the machine's other work does not blur."""
    from vtrail.api.heavy import QUESTIONS
    from vtrail.store import SqliteStore

    store = SqliteStore(db, readonly=True)
    try:
        at = datetime.now(UTC)
        best = float("inf")
        for _ in range(rounds):
            t = time.process_time()
            QUESTIONS["snapshot"](store, at, None)
            best = min(best, time.process_time() - t)
        return best
    finally:
        store.close()


def run(args: argparse.Namespace) -> None:
    print(f"vtrail bench/load.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}"
          + (f", vtrail at {args.code}" if args.code else ""))  # fmt: skip
    base = build(*FABRIC, args.fresh)
    print(f"  a snapshot's answer, made in this process: {answer_cpu(base):.3f} s of CPU "
          "(best of 5)")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="vtrail-bench-load-"))
    try:
        lines = work / "events.jsonl"
        lines.write_text("\n".join(events(args.observations)) + "\n")
        print(f"  writer's file: {args.observations:,} events, {lines.stat().st_size / 1e6:.1f} MB")

        print("readers alone")
        proc, addr = serve(copy_store(base, work / "a.db"))
        try:
            warm(addr)
            alone = load(addr, Until(time.monotonic() + args.seconds))
        finally:
            stop(proc)

        print("writer alone")
        solo = Writer(
            copy_store(base, work / "b.db"), lines, args.observations, args.limit
        ).finish()
        print(f"  {solo.rate:,.0f} observations/s ({solo.observations:,} in {solo.seconds:.1f} s)")

        print("readers and writer")
        db = copy_store(base, work / "c.db")
        proc, addr = serve(db)
        try:
            warm(addr)
            writer = Writer(db, lines, args.observations, args.limit)
            loaded = load(addr, Until(time.monotonic() + args.limit, writer.done))
            both = writer.finish()
        finally:
            stop(proc)
        print(f"  {both.rate:,.0f} observations/s ({both.observations:,} in {both.seconds:.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table(alone, loaded, solo, both)


def table(alone: dict[str, Lat], loaded: dict[str, Lat], solo: Ingest, both: Ingest) -> None:
    print()
    print(
        f"{'question':<10} {'no writer p50 / p99 (n)':>30} {'with writer p50 / p99 (n)':>32}   target"
    )
    for k, a in alone.items():
        b = loaded[k]

        def cell(x: Lat) -> str:
            if not x.ms:
                return f"none ({x.errors} errors)"
            err = f", {x.errors} err" if x.errors else ""
            err += f", {x.unsent} unsent" if x.unsent else ""
            return f"{pct(x.ms, 50):,.1f} / {pct(x.ms, 99):,.1f} ms ({len(x.ms)}{err})"

        target = TARGETS.get(k)
        verdict = ""
        if target is not None and b.ms:
            verdict = f"p99 <= {target:g} ms {'ok' if pct(b.ms, 99) <= target else 'MISSED'}"
        print(f"{k:<10} {cell(a):>30} {cell(b):>32}   {verdict}")
        for x in (a, b):
            if x.errors:
                print(f"           last error: {x.last_error}")
    slower = (1 - both.rate / solo.rate) * 100 if solo.rate else 0.0
    print(f"{'ingest':<10} {solo.rate:>21,.0f} obs/s alone {both.rate:>22,.0f} obs/s loaded"
          f"   slowed {slower:.0f} % (<= 30 % {'ok' if slower <= 30 else 'MISSED'})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20, help="the readers-alone run")
    ap.add_argument("--observations", type=int, default=60_000, help="events the writer records")
    ap.add_argument("--limit", type=float, default=120, help="the most a writer run may take")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached fabric")
    ap.add_argument("--code", help="run vtrail as it was at this git revision")
    args = ap.parse_args()
    if args.code and not os.environ.get("VTRAIL_BENCH_CODE"):
        src = code_at(args.code)
        env = {**os.environ, "PYTHONPATH": str(src), "VTRAIL_BENCH_CODE": args.code}
        raise SystemExit(subprocess.call([sys.executable, *sys.argv], env=env))
    run(args)


if __name__ == "__main__":
    main()
