"""The push path's throughput, collector → `vtrail serve` → store, against recording locally.

    python bench/push.py                  # 100,000 events (about a minute)
    python bench/push.py --events 300000

The same events (bench/stream.py: one VM's state changing per event), written
to a JSON Lines file and read by a `file:` source, are recorded three ways in
this run, each timed from the runner's start to the last observation committed:

- local (the baseline): `vtrail record`'s runner and its `BatchWriter` into a
  store of its own, in this process;
- push: the same runner with `PushWriter`, through its spool, to a `vtrail serve`
  process on loopback (its writer commits with synchronous=FULL) and its store;
- spool drain: the collector has spooled everything while the server was away;
  the server starts and the spool is sent, from the first batch acknowledged
  to the last, as after an outage.

Figures in events/s and as a ratio to the baseline; the collector and the
server share the machine's cores, as they would on one hypervisor.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stream import stream
from vtrail.recording.push import PushWriter
from vtrail.recording.runner import Runner
from vtrail.recording.sources import parse_source
from vtrail.recording.spool import Spool
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.wire import to_line


def feed(path: Path, n: int) -> None:
    with path.open("w") as f:
        f.writelines(f"{to_line(o)}\n" for o in stream(0, n))


def until_recorded(runner: Runner, n: int, timeout: float = 3600) -> float:
    """Seconds from the runner's start until `n` observations are committed."""
    start = time.perf_counter()
    runner.start()
    deadline = time.monotonic() + timeout
    while runner.stats().writer.recorded < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {runner.stats().writer.recorded:,} of {n:,} recorded")
        time.sleep(0.02)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from vtrail.cli.main import main; main()",
         "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


def writer_token(db: Path) -> str:
    store = SqliteStore(db)
    try:
        return token_store.create(store, "writer", "bench")[1]
    finally:
        store.close()


def local(work: Path, source: str, n: int) -> float:
    store = SqliteStore(work / "local.db", cache_mib=8)
    runner = Runner(store, [parse_source(source)])
    try:
        return n / until_recorded(runner, n)
    finally:
        runner.stop()
        store.close()


def pushed(work: Path, source: str, n: int) -> float:
    db = work / "central.db"
    token = writer_token(db)
    port = free_port()
    server = serve(db, port)
    try:
        writer = PushWriter(f"http://127.0.0.1:{port}", token, Spool(work / "spool", 1 << 34))
        runner = Runner(writer, [parse_source(source)])
        try:
            return n / until_recorded(runner, n)
        finally:
            runner.stop()
    finally:
        server.terminate()
        server.wait(30)


def drained(work: Path, source: str, n: int) -> float:
    db = work / "drain.db"
    token = writer_token(db)
    port = free_port()
    spool = Spool(work / "drain-spool", 1 << 34)
    writer = PushWriter(f"http://127.0.0.1:{port}", token, spool, backoff_cap=0.2)
    runner = Runner(writer, [parse_source(source)])
    runner.start()
    # Nothing listens: everything goes to the spool.
    while spool.counts()[1] < n:
        time.sleep(0.05)
    server = serve(db, port)
    try:
        first: float | None = None
        done_at = 0
        while (st := runner.stats()).writer.recorded < n:
            if first is None and st.writer.recorded:
                first, done_at = time.perf_counter(), st.writer.recorded
            time.sleep(0.01)
        assert first is not None
        return (n - done_at) / (time.perf_counter() - first)
    finally:
        runner.stop()
        server.terminate()
        server.wait(30)


def row(name: str, rate: float, base: float) -> None:
    print(f"  {name:<40} {rate:>10,.0f} events/s   {rate / base:>5.2f}× local", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the stores")
    args = ap.parse_args()
    n: int = args.events
    print(f"vtrail bench/push.py: {n:,} events on {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        work = Path(d)
        path = work / "events.jsonl"
        feed(path, n)
        source = f"file:{path}"
        runs: list[tuple[str, Callable[[Path, str, int], float]]] = [
            ("local: runner → store (baseline)", local),
            ("push: runner → spool → serve → store", pushed),
            ("spool drain after an outage", drained),
        ]
        base = 0.0
        for name, fn in runs:
            rate = fn(work, source, n)
            base = base or rate
            row(name, rate, base)


if __name__ == "__main__":
    main()
