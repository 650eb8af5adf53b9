"""`vtrail record --source file:` against `vtrail ingest` of the same file.

    python bench/follow.py                          # 60,000 events, three rounds
    python bench/follow.py --events 20000 --rounds 2
    python bench/follow.py --code HEAD~3            # and both as they were at a revision
    python bench/follow.py --code A --code B --no-tree   # two revisions, not the work tree

Generates a file of events (`Fabric` below: VMs changing state on 20 hosts,
moving now and then, with two NIC counters each), then, each on a fresh
store and each as its own process:

- `vtrail ingest FILE`: from its start to its exit;
- `vtrail record --source file:FILE --quiet`: from its start to the instant
  the last observation is in the history (the store's `applied` mark, polled
  every 20 ms), after which it is stopped.

Both include start-up. Rates are observations per second of wall time and per
second of the process's CPU time (on this shared 2-core machine CPU time moves
less from run to run); each is the best of `--rounds`, the commands taking
turns. `--code REV` (repeatable) runs both again with vtrail's `src/` as it
was at git revision REV, in the same rounds, so that a change is measured
against its parent in one run; `--no-tree` leaves out the working tree (when
others' uncommitted edits are in it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serve import code_at
from vtrail.timeexpr import iso

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOSTS = 20
VMS = 2000
STATES = ("running", "paused", "running", "blocked")


class Fabric:
    """Events a libvirt collector could emit about `VMS` VMs on `HOSTS` hosts.

    A VM changes state (its NIC's rx/tx counters read with it); one event in
    fifty is a VM going away from its host, as libvirt there sees a migration
    or an undefine: the next event about it comes from the host it went to
    (the same one, a twentieth of the time). Each host is its own source.
    """

    def __init__(self, seed: int = 16) -> None:
        self.rng = random.Random(seed)
        self.where = [self.rng.randrange(HOSTS) for _ in range(VMS)]
        self.rx = [0] * VMS

    def event(self, at: datetime) -> str:
        """The next event, stamped `at`, as one JSON line (no newline)."""
        rng = self.rng
        v = rng.randrange(VMS)
        vm, nic = f"vm:bench-{v:05d}", f"nic:bench-{v:05d}/52:54:00:00:{v >> 8:02x}:{v & 255:02x}"
        h = self.where[v]
        o: dict[str, object] = {"observed_at": iso(at), "kind": "event"}
        if rng.random() < 0.02:
            o["gone"] = [vm, nic]
            self.where[v] = rng.randrange(HOSTS)
        else:
            self.rx[v] += rng.randrange(1, 1 << 20)
            state = rng.choice(STATES)
            o["entities"] = [
                {"id": vm, "kind": "vm", "attrs": {"name": vm[3:], "vcpus": 2, "state": state}},
                {"id": nic, "kind": "nic", "attrs": {"mac": nic.rsplit("/", 1)[1]}},
            ]
            o["relations"] = [
                {"src": vm, "rel": "runs_on", "dst": f"host:hv-{h:02d}"},
                {"src": vm, "rel": "has_nic", "dst": nic},
            ]
            o["samples"] = [
                {"entity": nic, "metric": "rx_bytes", "value": self.rx[v]},
                {"entity": nic, "metric": "tx_bytes", "value": self.rx[v] // 3},
            ]
        o["source"] = f"bench@hv-{h:02d}"
        return json.dumps(o, separators=(",", ":"))


def event_lines(
    n: int, *, start: datetime = T0, step: timedelta | None = None, seed: int = 16
) -> Iterator[str]:
    """`n` of `Fabric`'s events, `step` apart (200 µs by default: 5,000 a second)."""
    fabric, step = Fabric(seed), step or timedelta(microseconds=200)
    for k in range(n):
        yield fabric.event(start + k * step)


def vtrail(*args: str, code: Path | None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code or ROOT / "src")
    return [sys.executable, "-c", "from vtrail.cli.main import main; main()", *args], env


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def applied(db: Path) -> int:
    """The last journal entry the history holds (0 before the store exists)."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = c.execute("SELECT seq FROM applied").fetchone()
        finally:
            c.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Run:
    n: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.n / self.wall_s

    @property
    def cpu_rate(self) -> float:
        return self.n / self.cpu_s


def ingest(path: Path, db: Path, n: int, code: Path | None) -> Run:
    cmd, env = vtrail("ingest", str(path), "--db", str(db), code=code)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(
            f"vtrail ingest failed: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return Run(n, wall, usage.ru_utime + usage.ru_stime)


def record(path: Path, db: Path, n: int, code: Path | None, limit: float) -> Run:
    cmd, env = vtrail("record", "--source", f"file:{path}", "--quiet", "--db", str(db), code=code)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while (got := applied(db)) < n:
            if proc.poll() is not None or time.perf_counter() - t0 > limit:
                raise SystemExit(f"vtrail record stopped or stalled at {got:,} of {n:,}")
            time.sleep(0.02)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Run(n, wall, cpu)


def fresh(dir: Path, name: str) -> Path:
    for f in dir.glob(f"{name}*"):
        f.unlink()
    return dir / f"{name}.db"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--code", metavar="REV", action="append", default=[],
                    help="also run both with src/ as it was at REV (repeatable)")  # fmt: skip
    ap.add_argument("--no-tree", action="store_true", help="only the --code revisions")
    ap.add_argument("--limit", type=float, default=600, help="give a record run up this many s")
    args = ap.parse_args()

    variants: list[tuple[str, Path | None]] = [] if args.no_tree else [("this tree", None)]
    variants += [(rev, code_at(rev)) for rev in args.code]
    if not variants:
        ap.error("--no-tree needs a --code")
    with tempfile.TemporaryDirectory(prefix="vtrail-follow-") as tmp:
        d = Path(tmp)
        path = d / "events.jsonl"
        with path.open("w") as f:
            for line in event_lines(args.events):
                f.write(line + "\n")
        print(f"{args.events:,} events, {path.stat().st_size / 1e6:.1f} MB, {args.rounds} rounds")
        runs: dict[tuple[str, str], list[Run]] = {}
        for r in range(args.rounds):
            for label, code in variants if r % 2 == 0 else variants[::-1]:
                for what in ("ingest", "record"):
                    db = fresh(d, "s")
                    if what == "ingest":
                        run = ingest(path, db, args.events, code)
                    else:
                        run = record(path, db, args.events, code, args.limit)
                    runs.setdefault((label, what), []).append(run)
                    print(f"  round {r + 1} {label:>10} {what:<6} {run.rate:7,.0f}/s wall "
                          f"{run.cpu_rate:7,.0f}/s CPU ({run.wall_s:.1f} s, {run.cpu_s:.1f} s CPU)")  # fmt: skip
        print()
        print(f"| observations/s (best of {args.rounds}) | wall | CPU | record ÷ ingest (CPU) |")
        print("|---|---:|---:|---:|")
        for label, _ in variants:
            base = max(x.cpu_rate for x in runs[label, "ingest"])
            for what in ("ingest", "record"):
                rs = runs[label, what]
                best = max(x.cpu_rate for x in rs)
                print(f"| {what} ({label}) | {max(x.rate for x in rs):,.0f} | {best:,.0f} "
                      f"| {best / base:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
