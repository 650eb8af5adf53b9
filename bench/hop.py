"""What the hop to a read thread costs `where`, beside Prometheus's instant query.

    python bench/hop.py                 # the history of bench/peers.py (a few minutes)
    python bench/hop.py --quick         # a small one (seconds)
    python bench/hop.py --code HEAD~1   # the control runs the code before a change

`vtrail serve` answers `where` in a read thread (api/short_reads.py): no SQL
runs on the event loop, so a long read never holds the other requests up. This
asks the same `where` questions of three servers on the same history, in the
same run, in turns:

- `vtrail serve` as it is;
- the same app with the short read run on the event loop instead (a server
  vtrail does not ship: started here from this file, `--on-loop`), to measure
  what the hop there and back costs a request;
- Prometheus's instant query `vm_info{vm="X"}` at T (bench/peers.py's).

Each with two clients on keep-alive connections: httpx2, as bench/peers.py
asks, and a bare socket that writes the request and reads the answer to its
length, so that the server's time is most of what is timed. Figures: latency
p50, p90 and p99 per server and client, and the ratios to Prometheus.

A second `vtrail serve`, the same code on the same store, is the control: two
servers that are the same should measure the same. The questions are asked
twice: in turns, each side always right after the same other one, and in an
order drawn anew for each question, as bench/peers.py asks them (its `turns`).
In turns, the server asked right after Prometheus meets the caches Prometheus
left, and the control tells what that costs. With `--code REV`, the control
serves vtrail's `src/` as it was at git revision REV instead: a change
measured against the code before it, in the same run, on the same questions.

First, the hop alone, in this process: a call that does nothing, handed to
`vtrail serve`'s read threads (api/read_threads.py) and awaited, beside the
same call through asyncio's `run_in_executor` and anyio's `to_thread.run_sync`,
in turns, with a pause between calls as between requests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2

from load import stop
from peers import ORDER_SEED, command_line, turns
from peers_history import build
from peers_questions import Question, Size, prom_request, questions, vtrail_request
from peers_servers import backfill, prometheus_server, vtrail_store
from serve import code_at, free_port, interpreter, pct, serve, wait_for_port

Ask = Callable[[str, dict[str, str]], bytes]
IN_TURNS = "in turns"
DRAWN = "in an order drawn for each question, as bench/peers.py asks"


def on_loop(db: str, port: int) -> None:
    """`vtrail serve`'s app, with `where` and `show` read on the event loop: all as it
    is but the hop to a read thread and back."""
    import uvicorn

    from vtrail.api import Settings, create_app, short_reads

    async def read(self: short_reads.ShortReads, route: str, scope: Any) -> bytes | None:
        return self.body(route, scope)

    short_reads.ShortReads.read = read  # type: ignore[method-assign]
    app = create_app(Settings(db=Path(db), read_token=False))
    gc.freeze()  # as `vtrail serve` does
    uvicorn.run(
        app, host="127.0.0.1", port=port, http="httptools", loop="uvloop", log_level="warning"
    )


def bare(addr: str) -> Ask:
    """A client that costs nothing: the request written, the answer read to its length."""
    host, port = addr.split(":")
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ask(path: str, params: dict[str, str]) -> bytes:
        target = str(httpx2.URL(path, params=params))
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        head, body = got.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"{addr}{target}: {head.splitlines()[0]!r}")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += s.recv(65536)
        return body

    return ask


def httpx(addr: str) -> Ask:
    client = httpx2.Client(base_url=f"http://{addr}", timeout=60)

    def ask(path: str, params: dict[str, str]) -> bytes:
        r = client.get(path, params=params)
        if r.status_code != 200:
            raise SystemExit(f"{addr}{path} {params}: {r.status_code} {r.content[:200]!r}")
        return r.content

    return ask


def hops(calls: int = 3_000) -> None:
    """The hop there and back, by each way of making it, in µs."""
    from vtrail.api.deps import READ_THREADS
    from vtrail.api.read_threads import ReadThreads

    ours = ReadThreads(READ_THREADS, "bench-hop")
    pool = ThreadPoolExecutor(READ_THREADS)

    async def each() -> dict[str, list[float]]:
        loop = asyncio.get_running_loop()
        ways: dict[str, Callable[[], Any]] = {
            "vtrail's read threads": lambda: ours.run(int),
            "asyncio run_in_executor": lambda: loop.run_in_executor(pool, int),
            "anyio to_thread.run_sync": lambda: anyio.to_thread.run_sync(int),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for k in range(calls + 100):
            for name, hop in ways.items():
                await asyncio.sleep(0.0005)
                t = time.perf_counter()
                await hop()
                if k >= 100:
                    times[name].append((time.perf_counter() - t) * 1e6)
        return times

    try:
        times = asyncio.run(each())
    finally:
        ours.close()
        pool.shutdown()
    print(f"\n{'the hop to a thread and back':<30} {'p50 µs':>7} {'p90 µs':>7} {'p99 µs':>7}")
    for name, us in times.items():
        print(f"{name:<30} {pct(us, 50):>7.1f} {pct(us, 90):>7.1f} {pct(us, 99):>7.1f}")


def run(
    size: Size, work: Path, control: str | None = None
) -> dict[str, dict[tuple[str, str], list[float]]]:
    """The times of each server and client, asked in each order; the control serves the
    `src/` of git revision `control` when one is given (the code before a change)."""
    h = build(size.vms, size.hosts, size.hours)
    tsdb, _ = backfill(h, work)
    db = work / "vtrail.db"
    vtrail_store(h, db).close()
    qs = [q for q in questions(h, size) if q.kind == "where"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, served = serve(db)
        procs.append(proc)
        port = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--on-loop", str(db), str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for_port(procs[-1], port)
        proc, again = serve(db, code_at(control) if control else None)
        procs.append(proc)
        proc, prom = prometheus_server(tsdb, work)
        procs.append(proc)
        servers: dict[str, tuple[str, Callable[[Question], tuple[str, dict[str, str]]]]] = {
            "vtrail serve": (served, vtrail_request),
            "vtrail, read on the loop": (f"127.0.0.1:{port}", vtrail_request),
            control_name(control): (again, vtrail_request),
            "Prometheus": (prom, prom_request),
        }
        return {
            order: ask(servers, qs, drawn)
            for order, drawn in ((IN_TURNS, None), (DRAWN, random.Random(ORDER_SEED)))
        }
    finally:
        for proc in procs:
            stop(proc)


def control_name(rev: str | None) -> str:
    return f"vtrail serve at {rev}" if rev else "vtrail serve, again"


def ask(
    servers: dict[str, tuple[str, Callable[[Question], tuple[str, dict[str, str]]]]],
    qs: list[Question],
    drawn: random.Random | None,
) -> dict[tuple[str, str], list[float]]:
    """Every question of every server and client, in the order `turns` gives, after a
    warm-up. vtrail's servers must answer each with the same bytes."""
    sides = [
        ((name, client), make(addr), request)
        for name, (addr, request) in servers.items()
        for client, make in (("httpx2", httpx), ("bare socket", bare))
    ]
    times: dict[tuple[str, str], list[float]] = {key: [] for key, _, _ in sides}
    for q in qs[:100]:
        for _, client, request in sides:
            client(*request(q))
    for k, q in enumerate(qs):
        ours: set[bytes] = set()
        for key, client, request in turns(sides, k, drawn):
            path, params = request(q)
            t = time.perf_counter()
            body = client(path, params)
            times[key].append((time.perf_counter() - t) * 1000)
            if key[0].startswith("vtrail"):
                ours.add(body)
        if len(ours) != 1:
            raise SystemExit(f"vtrail's servers answered {path} {params} differently: {ours}")
    return times


def report(times: dict[tuple[str, str], list[float]]) -> None:
    print(
        f"\n{'server':<26} {'client':<12} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}  p50 / Prometheus"
    )
    for (name, client), ms in times.items():
        ratio = pct(ms, 50) / pct(times[("Prometheus", client)], 50)
        print(
            f"{name:<26} {client:<12} {pct(ms, 50):>7.3f} {pct(ms, 90):>7.3f} {pct(ms, 99):>7.3f}"
            f"  {ratio:>6.2f}"
        )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--on-loop":
        on_loop(sys.argv[2], int(sys.argv[3]))
        return

    def bench(size: Size, work: Path, args: argparse.Namespace) -> None:
        print(f"python: {interpreter()}")
        hops(100 if size.where < 1_000 else 3_000)
        for order, times in run(size, work, args.code).items():
            print(f"\nasked {order}", end="")
            report(times)

    command_line(__doc__ or "", bench, code=True)


if __name__ == "__main__":
    main()
