"""Graph questions, REST API and page benchmark: prints figures next to the targets.

    python bench/serve.py                 # everything (about three minutes)
    python bench/serve.py --skip-browser  # without the page measurement
    python bench/serve.py --before REV    # the REST API at REV too (default: before issue 9)

Figures (targets from issue 4 in brackets):
- topology at T of a fabric of ~10,000 live entities          [<= 300 ms]
- path at T between two VMs across a router, same fabric       [<= 50 ms]
- /api/where p99 under 50 concurrent clients on loopback       [<= 5 ms]
  from the server of this tree and, in the same run, from the server as it
  was before (--before: vtrail's src/ at that revision, on its own store);
  open loop (each client at a fixed rate, latency measured from the
  scheduled send, so a stall is not hidden), plus the closed-loop
  saturation throughput for context; both bounded in count and time.
- the page's redraw after a slider move with ~2,000 entities, measured in
  headless chromium from the input event to the second painted frame [<= 500 ms]

The fabrics are synthetic but shaped like the demo: hosts with two bridges
each, four entities per VM (vm, NIC, tap port, address), veth uplinks to
router namespaces, and a few percent of the VMs migrating between snapshots.
Stores are cached under /tmp (delete them, or pass --fresh, to rebuild).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vtrail.query.graph import topology
from vtrail.query.jsonable import to_jsonable
from vtrail.query.path import path
from vtrail.store import SqliteStore
from vtrail.store.migrations import MIGRATIONS
from vtrail.timeexpr import iso

try:
    from vtrail.recording.ingest import ingest_lines
except ImportError:  # a tree from before recording/ (--before builds its store with it)
    from vtrail.ingest import ingest_lines  # type: ignore[no-redef]

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
HOSTS_PER_ROUTER = 8


# -- the fabric -----------------------------------------------------------------------


def _vm(h: int, v: int, host: int) -> tuple[list[Any], list[Any]]:
    """VM `v` homed on host `h`, running on `host` (same router group), on bridge v % 2."""
    uuid = f"{h:04d}{v:04d}-0000-4000-8000-000000000000"
    vm, mac = f"vm:{uuid}", f"52:54:{h // 256:02x}:{h % 256:02x}:{v // 256:02x}:{v % 256:02x}"
    b, name = v % 2, f"hv{host:03d}"
    nic, port = f"nic:{uuid}/{mac}", f"port:{name}/vnet{h}-{v}"
    ip = f"ip:10.{4 * (h // HOSTS_PER_ROUTER) + b}.{h % HOSTS_PER_ROUTER}.{10 + v}"
    ents = [
        {"id": vm, "attrs": {"name": f"vm-{h}-{v}", "state": "running", "vcpus": 2}},
        {"id": nic, "attrs": {"mac": mac, "model": "virtio"}},
        {"id": port, "attrs": {"ifname": f"vnet{h}-{v}", "mac": mac}},
        {"id": ip, "attrs": {"prefixlen": 16}},
    ]
    rels = [
        {"src": vm, "rel": "runs_on", "dst": f"host:{name}"},
        {"src": vm, "rel": "has_nic", "dst": nic},
        {"src": nic, "rel": "plugged_into", "dst": port},
        {"src": port, "rel": "port_of", "dst": f"bridge:{name}/br{b}"},
        {"src": nic, "rel": "has_address", "dst": ip},
    ]
    return ents, rels


def fabric_lines(hosts: int, vms: int, steps: int, seed: int = 7) -> list[str]:
    """JSONL: one snapshot per host, per router group and for the core, per step.

    A router group is 8 hosts whose bridges br0/br1 reach, through a switch
    namespace `sw<r>`, the router `rtr<r>` (gateway of 10.<4r+b>.0.0/16); routers
    meet on the core bridge and route each other's /14 there. Between steps 4% of
    the VMs migrate to another host of their group, keeping their address.
    """
    rng = random.Random(seed)
    groups = -(-hosts // HOSTS_PER_ROUTER)
    place = {(h, v): h for h in range(hosts) for v in range(vms)}
    lines = []
    for step in range(steps):
        t = iso(T0 + STEP * step)
        if step:
            for h, v in rng.sample(sorted(place), max(1, len(place) // 25)):
                g = h // HOSTS_PER_ROUTER
                place[h, v] = rng.randrange(
                    g * HOSTS_PER_ROUTER, min(hosts, (g + 1) * HOSTS_PER_ROUTER)
                )
        by_host: dict[int, list[tuple[int, int]]] = {h: [] for h in range(hosts)}
        for (h, v), at_host in place.items():
            by_host[at_host].append((h, v))
        for host in range(hosts):
            name, r = f"hv{host:03d}", host // HOSTS_PER_ROUTER
            ents: list[Any] = [{"id": f"host:{name}", "attrs": {"hostname": name}}]
            rels: list[Any] = []
            for b in (0, 1):
                up = f"port:{name}/up{b}"
                ents.append({"id": f"bridge:{name}/br{b}", "attrs": {"name": f"br{b}"}})
                ents.append({"id": up, "attrs": {"ifname": f"up{b}"}})
                rels.append({"src": up, "rel": "port_of", "dst": f"bridge:{name}/br{b}"})
                rels.append({"src": up, "rel": "peer", "dst": f"port:sw{r}/h{host}b{b}"})
            for h, v in by_host[host]:
                e, rl = _vm(h, v, host)
                ents += e
                rels += rl
            lines.append(_snapshot(f"bench@{name}", t, ents, rels))
        core: list[Any] = [{"id": "bridge:core/bb", "attrs": {"name": "bb"}}]
        core_rels: list[Any] = []
        for r in range(groups):
            rid, sw = f"router:rtr{r}", f"sw{r}"
            ents = [{"id": rid, "attrs": {"name": f"rtr{r}", "forwarding": True}}]
            rels = []
            for b in (0, 1):
                ents.append({"id": f"bridge:{sw}/b{b}", "attrs": {"name": f"b{b}"}})
                for host in range(r * HOSTS_PER_ROUTER, min(hosts, (r + 1) * HOSTS_PER_ROUTER)):
                    p = f"port:{sw}/h{host}b{b}"
                    ents.append({"id": p, "attrs": {"ifname": f"h{host}b{b}"}})
                    rels.append({"src": p, "rel": "port_of", "dst": f"bridge:{sw}/b{b}"})
                inner, outer, gw = f"port:rtr{r}/b{b}", f"port:{sw}/r{b}", f"10.{4 * r + b}.0.1"
                ents += [{"id": inner, "attrs": {"ifname": f"b{b}"}},
                         {"id": outer, "attrs": {"ifname": f"r{b}"}},
                         {"id": f"ip:{gw}", "attrs": {"prefixlen": 16}}]  # fmt: skip
                rels += [{"src": outer, "rel": "port_of", "dst": f"bridge:{sw}/b{b}"},
                         {"src": inner, "rel": "peer", "dst": outer},
                         {"src": inner, "rel": "has_address", "dst": f"ip:{gw}"}]  # fmt: skip
            uplink, addr = f"port:rtr{r}/core", f"ip:172.16.0.{r + 1}"
            # The other groups' prefixes leave by the uplink: its share of the table.
            table = [{"dst": f"10.{4 * other}.0.0/14", "via": f"172.16.0.{other + 1}"}
                     for other in range(groups) if other != r]  # fmt: skip
            ents += [
                {"id": uplink, "attrs": {"ifname": "core", "routes": table}},
                {"id": addr, "attrs": {"prefixlen": 24}},
            ]
            rels += [{"src": uplink, "rel": "has_address", "dst": addr},
                     {"src": uplink, "rel": "peer", "dst": f"port:core/r{r}"}]  # fmt: skip
            lines.append(_snapshot(f"bench@rtr{r}", t, ents, rels))
            core.append({"id": f"port:core/r{r}", "attrs": {"ifname": f"r{r}"}})
            core_rels.append({"src": f"port:core/r{r}", "rel": "port_of", "dst": "bridge:core/bb"})
        lines.append(_snapshot("bench@core", t, core, core_rels))
    return lines


def _snapshot(source: str, t: str, ents: list[Any], rels: list[Any]) -> str:
    return json.dumps(
        {
            "source": source,
            "observed_at": t,
            "kind": "snapshot",
            "entities": ents,
            "relations": rels,
        }
    )


def build(hosts: int, vms: int, steps: int, fresh: bool) -> Path:
    # The schema's text is in the name: a store cached by an older vtrail is not reused.
    # Not the repr of a migration's function, which holds its address in this process.
    text = repr([(m.name, m.sql, m.prepare) for m in MIGRATIONS])
    schema = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    path_ = Path(tempfile.gettempdir()) / f"vtrail-bench-serve-{hosts}x{vms}x{steps}-{schema}.db"
    if path_.exists() and not fresh:
        return path_
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path_}{suffix}").unlink(missing_ok=True)
    t = time.perf_counter()
    store = SqliteStore(path_)
    ingest_lines(store, fabric_lines(hosts, vms, steps))
    live = store.conn.execute("SELECT count(*) FROM version WHERE valid_to IS NULL").fetchone()[0]
    store.close()
    print(f"  built {path_.name}: {live:,} live entities in {time.perf_counter() - t:.1f} s")
    return path_


# -- measuring ------------------------------------------------------------------------


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm the page cache and the interned ids
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def interpreter() -> str:
    """The Python running this bench, and the servers it starts on `sys.executable`:
    its build moves every figure (docs/performance.md, "Which Python runs vtrail")."""
    shared = "libpython" in Path("/proc/self/maps").read_text()
    how = "through libpython's shared library" if shared else "linked into one executable"
    return f"{sys.executable}: Python {platform.python_version()}, {how}"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


ROWS: list[tuple[str, str, str, bool]] = []


def report(name: str, value: float, target: float, unit: str = "ms", extra: str = "") -> None:
    ok = value <= target
    ROWS.append((name, f"{value:,.1f} {unit}{extra}", f"<= {target:g} {unit}", ok))
    print(
        f"  {name:<44} {value:>9,.1f} {unit}   target <= {target:g} {unit}  {'ok' if ok else 'MISSED'}{extra}"
    )


def bench_questions(db: Path, hosts: int, vms: int, steps: int) -> None:
    store = SqliteStore(db, readonly=True)
    rng = random.Random(1)
    instants = [T0 + STEP * rng.uniform(0, steps - 1) for _ in range(40)]
    live = len(topology(store, instants[0]).nodes)
    print(f"  fabric: {live:,} entities live at T, {hosts} hosts, {hosts * vms:,} VMs")
    it = iter(instants * 10)
    topo = timed(lambda: topology(store, next(it)), 15)
    report(
        "topology at T (question)", statistics.median(topo), 300, extra=f", p95 {pct(topo, 95):.0f}"
    )
    t = topology(store, instants[1])
    js = timed(lambda: json.dumps(to_jsonable(t)), 5)
    print(f"  {'  + JSON of the answer':<44} {statistics.median(js):>9,.1f} ms")
    pairs = []
    for _ in range(120):
        a = (rng.randrange(hosts), rng.randrange(vms))
        b = (rng.randrange(hosts), rng.randrange(vms))
        pairs.append((f"vm-{a[0]}-{a[1]}", f"vm-{b[0]}-{b[1]}", rng.choice(instants)))
    reachable = 0
    times = []
    for a, b, when in pairs:
        t0 = time.perf_counter()
        p = path(store, a, b, when)
        times.append((time.perf_counter() - t0) * 1000)
        reachable += p.reachable
    report("path at T between two VMs", statistics.median(times), 50,
           extra=f", p95 {pct(times, 95):.1f}, max {max(times):.1f} ({reachable}/{len(pairs)} routed)")  # fmt: skip
    store.close()


# -- the HTTP load ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def code_at(rev: str) -> Path:
    """vtrail's `src/` as it was at git revision `rev`, extracted once under /tmp: run a
    bench with it first on PYTHONPATH to measure the code before a change."""
    root = Path(__file__).resolve().parents[1]
    sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", rev],
                         check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    dest = Path(tempfile.gettempdir()) / f"vtrail-code-{sha}"
    if not (dest / "src" / "vtrail").exists():
        dest.mkdir(exist_ok=True)
        archive = subprocess.run(["git", "-C", str(root), "archive", sha, "src"],
                                 check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def vtrail_command(*args: str, code: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """`vtrail ARGS` as a command line, run by this Python with this PYTHONPATH, or with
    the `src/` of `code_at(...)` first on it."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return [sys.executable, "-c", "from vtrail.cli.main import main; main()", *args], env


def wait_for_port(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def serve(db: Path, code: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd, env = vtrail_command("serve", "--db", str(db), "--port", str(port), code=code)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(proc, port)
    return proc, f"127.0.0.1:{port}"


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> int:
    writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return status


async def load(addr: str, targets: list[str], clients: int, rate: float | None, seconds: float,
               limit: int) -> tuple[list[float], int, float]:  # fmt: skip
    """`clients` keep-alive connections; each sends at `rate` per second (open loop, latency
    from the scheduled instant) or back to back when `rate` is None. Stops at `seconds` or
    `limit` requests, whichever comes first."""
    host, port = addr.split(":")
    lat: list[float] = []
    errors = 0
    start = time.perf_counter()
    stop_at = start + seconds
    per_client = limit // clients

    async def client(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        rng = random.Random(k)
        next_at = start + rng.uniform(0, 1 / rate) if rate else start
        for _ in range(per_client):
            if rate:
                now = time.perf_counter()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                scheduled = next_at
                next_at += 1 / rate
            else:
                scheduled = time.perf_counter()
            if scheduled > stop_at:
                break
            status = await _get(reader, writer, rng.choice(targets))
            lat.append((time.perf_counter() - scheduled) * 1000)
            errors += status != 200
        writer.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return lat, errors, time.perf_counter() - start


def bench_http(db: Path, hosts: int, vms: int, steps: int, code: Path | None = None,
               label: str = "") -> None:  # fmt: skip
    """`/api/where` under load from `vtrail serve` of this tree, or of `code` (code_at)."""
    proc, addr = serve(db, code)
    try:
        rng = random.Random(3)
        targets = [
            f"/api/where?what=vm-{rng.randrange(hosts)}-{rng.randrange(vms)}"
            f"&at={iso(T0 + STEP * rng.uniform(0, steps - 1))}"
            for _ in range(2000)
        ]
        asyncio.run(load(addr, targets, 8, None, 2, 2000))  # warm up
        lat, errors, took = asyncio.run(load(addr, targets, 50, 8.0, 20, 8000))
        report(f"/api/where p99, 50 clients x 8 req/s (open){label}", pct(lat, 99), 5,
               extra=f", p50 {pct(lat, 50):.2f}, max {max(lat):.1f}, {len(lat):,} req, {errors} errors")  # fmt: skip
        lat, errors, took = asyncio.run(load(addr, targets, 50, 24.0, 10, 12000))
        print(f"  {'  the same at 50 x 24 req/s':<44} {pct(lat, 99):>9,.1f} ms   p99"
              f" (p50 {pct(lat, 50):.2f} ms, {len(lat):,} req, {errors} errors)")  # fmt: skip
        lat, errors, took = asyncio.run(load(addr, targets, 50, None, 6, 20000))
        print(f"  {'  saturation, 50 clients back to back':<44} {len(lat) / took:>9,.0f} req/s"
              f"   p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, {errors} errors")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def build_with(code: Path, hosts: int, vms: int, steps: int, fresh: bool) -> Path:
    """`build` run by the vtrail of `code`: a store its server can open (a store a newer
    vtrail migrated is refused by an older one)."""
    cmd = [sys.executable, __file__, "--build-only", f"{hosts},{vms},{steps}"]
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(cmd + (["--fresh"] if fresh else []), env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return Path(out.strip().splitlines()[-1])


# -- the page -------------------------------------------------------------------------------


def bench_page(db: Path, steps: int, moves: int = 24) -> None:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("  page: selenium not installed, skipped")
        return
    proc, addr = serve(db)
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="vtrail-bench-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1600,1000", f"--user-data-dir={profile}"):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.set_script_timeout(60)
        driver.get(f"http://{addr}/#at={iso(T0)}")
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; window.vtrail.ready.then(done);"
        )
        shown = driver.execute_script("return window.vtrail.graph.cy.nodes().length")
        rng = random.Random(5)
        for _ in range(moves):
            when = T0 + STEP * rng.uniform(0, steps - 1)
            # What a drag does: set the range input and fire its input event; wait for paint.
            driver.execute_async_script(
                """
                const [ms, done] = [arguments[0], arguments[arguments.length - 1]];
                const before = window.vtrail.perf.redraws.length;
                const s = document.getElementById('slider');
                s.value = String(ms);
                s.dispatchEvent(new Event('input'));
                const poll = () => window.vtrail.perf.redraws.length > before ? done() : setTimeout(poll, 5);
                poll();
                """,
                int(when.timestamp() * 1000),
            )
        redraws = driver.execute_script("return window.vtrail.perf.redraws")[1:]
        report(f"page redraw on a slider move ({shown:,} nodes)", statistics.median(redraws),
               500, extra=f", p95 {pct(redraws, 95):.0f}, max {max(redraws):.0f}, {len(redraws)} moves")  # fmt: skip
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)


#: The last commit before `where` and `show` left the event loop (issue 9): the
#: default "before" of the REST API figures.
BEFORE = "92f98f1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached stores")
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--before", default=BEFORE,
                    help="also measure the REST API as it was at this git revision ('' skips)")  # fmt: skip
    ap.add_argument("--build-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        hosts, vms, steps = map(int, args.build_only.split(","))
        print(build(hosts, vms, steps, args.fresh))
        return
    print(f"vtrail bench/serve.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    big = (40, 62, 6)  # ~10,000 live entities
    small = (8, 62, 6)  # ~2,000
    print("graph questions")
    db = build(*big, args.fresh)
    bench_questions(db, *big)
    if not args.skip_http:
        print("REST API")
        if args.before:
            old = code_at(args.before)
            bench_http(build_with(old, *big, args.fresh), *big, old, f" (before: {args.before})")
        bench_http(db, *big, label=" (this tree)" if args.before else "")
    if not args.skip_browser:
        print("page")
        bench_page(build(*small, args.fresh), small[2])
    print()
    print(f"{'figure':<44} {'measured':<52} {'target':<12} ")
    for name, value, target, ok in ROWS:
        print(f"{name:<44} {value:<52} {target:<12} {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
