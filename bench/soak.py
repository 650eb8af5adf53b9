"""Soak: a sustained stream of events, recorded by `vtrail record` while questions run.

    python bench/soak.py                         # 5,000 events/s for 45 s
    python bench/soak.py --seconds 600           # the ten-minute soak
    python bench/soak.py --rate 2000 --interval 10

A feeder thread appends `--rate` events a second (bench/follow.py's `Fabric`,
stamped with this machine's clock) to a JSONL file for `--seconds`, in a
write every 10 ms. `vtrail record --source file:FILE` runs as its own process
on a fresh store, and three reader processes ask questions of that store as
it grows, each on its own read-only connection and on a fixed schedule:
`where` a random VM was in the last five seconds (`--where` a second),
`snapshot` (`--snapshot`), and `diff` over the last five seconds (`--diff`),
"now" being the instant of the newest observation in the history (so that
a lagging recorder is still asked about what it has recorded). A question's
latency counts from the instant it was due, so a reader held up by the
writer shows it instead of asking less.

Every `--interval` it prints what was offered and recorded, the backlog,
the ingest lag (how long the oldest line not yet in the history has been in
the file, sampled every 0.25 s) and the recorder's CPU; at the end, a table
of lag and query latency percentiles per interval. When writing stops, the
recorder is given `--drain` seconds to catch up, then stopped (SIGINT), and
the run is checked:

- the journal holds every line of the file exactly once, and nothing else
  (each entry decoded and compared with the line as canonical JSON);
- the history equals a serial ingest of the same file into a fresh store,
  table by table (versions, relations, counter samples), as
  tests/test_recorder_order.py compares them (bench/soak_checks.py).

Baselines from the same run: the serial ingest's rate (the recorder alone on
the same observations, in CPU-bound batches of 10,000), and the same
questions for one interval against the finished store with no writer.

The rate is sustained if, when writing stops, the history is less than two
seconds behind; if not, the run says so and prints the rate it reached.
The exit status is 1 if the checks fail (anything lost, doubled or
different), never because of a time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from follow import VMS, Fabric, applied, cpu_seconds, vtrail
from soak_checks import HistoryCheck, JournalCheck, history_against_serial, journal_against_file
from vtrail.query import state
from vtrail.store import SqliteStore
from vtrail.store.sqlite import UnknownEntity
from vtrail.timeexpr import from_us

_MP = multiprocessing.get_context("spawn")
SUSTAINED_LAG_S = 2.0
QUESTIONS = ("where", "snapshot", "diff")


# -- the feeder ------------------------------------------------------------------------


class Feed(threading.Thread):
    """Appends `rate` events a second to `path` for `seconds`, then stops."""

    def __init__(self, path: Path, rate: float, seconds: float) -> None:
        super().__init__(name="soak-feed", daemon=True)
        self.path, self.rate, self.seconds = path, rate, seconds
        #: When each line was in the file (monotonic): line k at `at[k]`.
        self.at = array("d")
        self.written = 0
        self.started = 0.0

    def run(self) -> None:
        fabric, last_us = Fabric(), 0
        self.started = time.monotonic()
        with self.path.open("a") as f:
            while (elapsed := time.monotonic() - self.started) < self.seconds:
                due = int(self.rate * elapsed) - self.written
                if due > 0:
                    now_us, lines = time.time_ns() // 1000, []
                    for _ in range(due):
                        # Strictly increasing stamps: no two lines are the same observation.
                        last_us = max(now_us, last_us + 1)
                        lines.append(fabric.event(from_us(last_us)))
                    f.write("\n".join(lines) + "\n")
                    f.flush()
                    self.at.extend([time.monotonic()] * due)
                    self.written += due  # after `at`: a reader of both never runs past it
                time.sleep(0.01)


# -- the readers -----------------------------------------------------------------------


def head(store: SqliteStore) -> datetime:
    """The instant of the newest observation in the history: questions about "now"
    while the recorder lags would be about a time it has not recorded yet."""
    row = store.conn.execute(
        "SELECT observed_at FROM journal WHERE seq = (SELECT seq FROM applied)"
    ).fetchone()
    return from_us(row[0]) if row else datetime.now(UTC)


def ask(store: SqliteStore, kind: str, rng: Any) -> None:
    now = head(store)
    if kind == "where":
        at = now - timedelta(seconds=rng.uniform(0, 5))
        state.where(store, f"bench-{rng.randrange(VMS):05d}", at)
    elif kind == "snapshot":
        state.snapshot(store, now)
    else:
        state.diff(store, now - timedelta(seconds=5), now)


def reader(db: str, kind: str, rate: float, go: Any, until: Any, out: Any) -> None:
    """Open the store, say so, wait for `go`, then ask `kind` `rate` times a second
    until `until` (monotonic: the same clock in every process); send `(done,
    latency, outcome)` to `out` about twice a second."""
    import random

    rng = random.Random(kind)
    store = None
    while store is None:
        try:
            store = SqliteStore(db, readonly=True, cache_mib=32)
        except Exception:
            time.sleep(0.1)  # the recorder has not made it yet
    out.put((kind, "ready"))
    go.wait()
    batch: list[tuple[float, float, str]] = []
    due = sent = time.monotonic()
    while due < until.value:
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            ask(store, kind, rng)
            outcome = "ok"
        except UnknownEntity:
            outcome = "unknown"  # a VM not yet recorded: an answer all the same
        except Exception as e:
            outcome = f"{type(e).__name__}: {e}"
        done = time.monotonic()
        batch.append((done, done - due, outcome))
        due += 1 / rate
        if done - sent >= 0.5:
            out.put((kind, batch))
            batch, sent = [], done
    out.put((kind, batch))
    out.put((kind, None))
    store.close()


class Readers:
    """One process per question, started at once, asking from `begin()` on."""

    def __init__(self, db: Path, rates: dict[str, float], out: Any) -> None:
        self.go, self.until, self.out = _MP.Event(), _MP.Value("d", 0.0), out
        self.procs = [
            _MP.Process(target=reader, args=(str(db), k, r, self.go, self.until, out), daemon=True)
            for k, r in rates.items()
            if r > 0
        ]
        for p in self.procs:
            p.start()

    def wait_ready(self, poll: Callable[[], None], ready: list[str]) -> None:
        """Until every reader has its store open (`poll` collects their word into `ready`)."""
        while len(ready) < len(self.procs) and any(p.is_alive() for p in self.procs):
            poll()
            time.sleep(0.05)

    def begin(self, until: float) -> None:
        self.until.value = until
        self.go.set()

    def join(self, timeout: float) -> None:
        for p in self.procs:
            p.join(timeout)


# -- measuring -------------------------------------------------------------------------


def ms(xs: list[float]) -> str:
    """p50 / p99 of seconds, in milliseconds, and how many."""
    if not xs:
        return "–"
    a, b = (1000 * pct(xs, p) for p in (50, 99))
    return f"{a:,.{1 if a < 10 else 0}f} / {b:,.{1 if b < 10 else 0}f} ms ({len(xs)})"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else float("nan")


@dataclass
class Interval:
    start: float
    offered: int = 0
    recorded: int = 0
    cpu_s: float = 0.0
    lag: list[float] = field(default_factory=list)
    backlog: int = 0
    latency: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    rate: float
    seconds: float
    written: int = 0
    reached: float = 0.0
    #: Observations recorded while writing per second of the recorder's CPU time.
    cpu_rate: float = 0.0
    sustained: bool = False
    drained: bool = False
    intervals: list[Interval] = field(default_factory=list)
    alone: dict[str, list[float]] = field(default_factory=dict)
    journal: JournalCheck | None = None
    history: HistoryCheck | None = None
    reader_errors: list[str] = field(default_factory=list)
    recorder_exit: int | None = None

    @property
    def ok(self) -> bool:
        j, h = self.journal, self.history
        lossless = j is not None and j.missing == j.doubled == j.unknown == 0
        same = h is not None and h.difference is None
        return lossless and same and not self.reader_errors and self.recorder_exit == 0


def collect(
    out: Any,
    into: Callable[[float, str, float, str], None] | None,
    errors: list[str],
    ready: list[str] | None = None,
) -> None:
    """Take what readers sent so far."""
    while True:
        try:
            kind, batch = out.get_nowait()
        except queue.Empty:
            return
        if batch is None or batch == "ready":
            if batch == "ready" and ready is not None:
                ready.append(kind)
            continue
        for done, latency, outcome in batch:
            if into is not None:
                into(done, kind, latency, outcome)
            if outcome not in ("ok", "unknown") and len(errors) < 5:
                errors.append(f"{kind}: {outcome}")


# -- the run ---------------------------------------------------------------------------


class Timeline:
    """The run cut into intervals: what the monitor and the readers saw in each."""

    def __init__(self, start: float, seconds: float, interval: float) -> None:
        self.start, self.interval = start, interval
        self.intervals = [
            Interval(start + k * interval) for k in range(int(-(-seconds // interval)))
        ]
        self.seq = 0
        self.cpu = 0.0

    def at(self, t: float) -> Interval:
        k = int((t - self.start) // self.interval)
        return self.intervals[min(len(self.intervals) - 1, max(0, k))]

    def sample(self, now: float, feed: Feed, seq: int, cpu: float) -> None:
        iv = self.at(now)
        written = feed.written
        # The oldest line not yet in the history is line `seq` (from 0).
        iv.lag.append(now - feed.at[seq] if seq < written else 0.0)
        iv.recorded += seq - self.seq
        iv.cpu_s += cpu - self.cpu
        iv.backlog = written - seq
        self.seq, self.cpu = seq, cpu

    def latency(self, done: float, kind: str, lat: float, outcome: str) -> None:
        iv = self.at(done)
        iv.latency.setdefault(kind, []).append(lat)
        if outcome not in ("ok", "unknown"):
            iv.errors[kind] = iv.errors.get(kind, 0) + 1


def start_recorder(path: Path, db: Path) -> subprocess.Popen[bytes]:
    cmd, env = vtrail("record", "--source", f"file:{path}", "--quiet", "--db", str(db), code=None)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not db.exists() or not db.with_name(db.stem + ".journal.db").exists():
        if proc.poll() is not None:
            raise SystemExit(f"vtrail record failed: {proc.stderr.read().decode() if proc.stderr else ''}")  # fmt: skip
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def soak(
    rate: float,
    seconds: float,
    *,
    interval: float = 5.0,
    rates: dict[str, float] | None = None,
    drain: float = 120.0,
    directory: Path | None = None,
    baseline: bool = True,
    quiet: bool = False,
) -> Result:
    say = (lambda *_a: None) if quiet else print
    rates = rates if rates is not None else {"where": 20.0, "snapshot": 1.0, "diff": 1.0}
    result = Result(rate, seconds)
    with tempfile.TemporaryDirectory(prefix="vtrail-soak-", dir=directory) as tmp:
        d = Path(tmp)
        path, db = d / "events.jsonl", d / "soak.db"
        path.touch()
        proc = start_recorder(path, db)
        out = _MP.Queue()
        asking, ready = Readers(db, rates, out), []
        asking.wait_ready(lambda: collect(out, None, result.reader_errors, ready), ready)
        feed = Feed(path, rate, seconds)
        feed.start()
        while not feed.started:
            time.sleep(0.001)
        line = Timeline(feed.started, seconds, interval)
        line.cpu = cpu_seconds(proc.pid)  # its start-up is not the stream's cost
        result.intervals = line.intervals
        asking.begin(feed.started + seconds)
        shown = 0
        while (now := time.monotonic()) < feed.started + seconds:
            time.sleep(0.25)
            now, alive = time.monotonic(), proc.poll() is None
            line.sample(now, feed, applied(db), cpu_seconds(proc.pid) if alive else line.cpu)
            collect(out, line.latency, result.reader_errors)
            if (k := int((now - line.start) // interval)) > shown and k <= len(line.intervals):
                shown, iv = k, line.intervals[k - 1]
                say(f"  {k * interval:5.0f} s  recorded {iv.recorded / interval:7,.0f}/s  "
                    f"backlog {iv.backlog:8,}  lag max {max(iv.lag, default=0):6.2f} s  "
                    f"recorder {100 * iv.cpu_s / interval:3.0f} % CPU")  # fmt: skip
        feed.join()
        result.written, seq = feed.written, line.seq
        for k, iv in enumerate(line.intervals):
            iv.offered = min(result.written, int(rate * interval * (k + 1))) - min(
                result.written, int(rate * interval * k)
            )
        behind = time.monotonic() - feed.at[seq] if seq < feed.written else 0.0
        result.reached, result.sustained = seq / seconds, behind < SUSTAINED_LAG_S
        result.cpu_rate = seq / line.cpu if line.cpu else 0.0
        say(f"  writing stopped: {result.written:,} lines; the history {behind:.1f} s behind")
        deadline = time.monotonic() + drain
        while (seq := applied(db)) < feed.written and time.monotonic() < deadline:
            collect(out, line.latency, result.reader_errors)
            time.sleep(0.25)
        result.drained = seq >= feed.written
        asking.join(30)
        collect(out, line.latency, result.reader_errors)
        result.recorder_exit = stop(proc)
        if rates and baseline:
            say(f"  baseline: the same questions for {interval:.0f} s with no writer")
            asking, ready = Readers(db, rates, out), []
            asking.wait_ready(lambda: collect(out, None, [], ready), ready)
            asking.begin(time.monotonic() + interval)
            asking.join(interval + 30)
            alone = Timeline(0.0, 1.0, 1e9)
            collect(out, alone.latency, [])
            result.alone = alone.intervals[0].latency
        say("  checking the journal, and the history against a serial ingest")
        result.journal = journal_against_file(db, path)
        result.history = history_against_serial(db, path, d / "serial.db")
    return result


def lags(xs: list[float]) -> str:
    return f"{pct(xs, 50):.2f} / {pct(xs, 99):.2f} / {max(xs):.2f} s" if xs else "–"


def report(r: Result, interval: float) -> None:
    verdict = "sustained" if r.sustained else "NOT sustained"
    print(f"\n{r.rate:,.0f} events/s offered for {r.seconds:.0f} s ({r.written:,} lines): "
          f"{verdict}; the recorder reached {r.reached:,.0f}/s while writing, "
          f"{r.cpu_rate:,.0f} per second of its CPU time (a serial ingest of the same "
          f"file, alone: {r.history.serial_rate if r.history else 0:,.0f} per CPU second)\n")  # fmt: skip
    kinds = [k for k in QUESTIONS if any(k in iv.latency for iv in r.intervals) or k in r.alone]
    print("| interval | offered/s | recorded/s | recorder CPU | backlog | lag p50 / p99 / max |"
          + "".join(f" {k} p50 / p99 (n) |" for k in kinds))  # fmt: skip
    print("|---|" + "---:|" * (5 + len(kinds)))
    for k, iv in enumerate(r.intervals):
        cells = [
            f"{k * interval:.0f}–{(k + 1) * interval:.0f} s",
            f"{iv.offered / interval:,.0f}",
            f"{iv.recorded / interval:,.0f}",
            f"{100 * iv.cpu_s / interval:.0f} %",
            f"{iv.backlog:,}",
            lags(iv.lag),
        ]
        for q in kinds:
            err = f", {iv.errors[q]} errors" if iv.errors.get(q) else ""
            cells.append(ms(iv.latency.get(q, [])) + err)
        print("| " + " | ".join(cells) + " |")
    whole = ["whole run", f"{r.written / r.seconds:,.0f}", f"{r.reached:,.0f}", "", ""]
    whole.append(lags([x for iv in r.intervals for x in iv.lag]))
    whole += [ms([x for iv in r.intervals for x in iv.latency.get(q, [])]) for q in kinds]
    print("| " + " | ".join(whole) + " |")
    if r.alone:
        print("| no writer (baseline) | | | | | | " + " | ".join(ms(r.alone.get(q, [])) for q in kinds) + " |")  # fmt: skip
    print()
    if not r.drained:
        print("the recorder had not caught up when --drain ran out: what it had not read is missing")  # fmt: skip
    if (j := r.journal) is not None:
        print(f"journal: {r.written - j.missing:,} of {r.written:,} lines, {j.missing:,} missing, "
              f"{j.doubled:,} doubled, {j.unknown:,} not from the file")  # fmt: skip
    if (h := r.history) is not None:
        names = ("versions", "relations", "sample blocks")
        rows = ", ".join(f"{n:,} {w}" for n, w in zip(h.rows, names, strict=False))
        same = "equals" if h.difference is None else "DIFFERS from"
        print(f"history: {same} a serial ingest ({rows})" + (f": {h.difference}" if h.difference else ""))  # fmt: skip
    for e in r.reader_errors:
        print(f"reader error: {e}")
    if r.recorder_exit != 0:
        print(f"vtrail record exited with {r.recorder_exit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--rate", type=float, default=5000, help="events a second (5000)")
    ap.add_argument("--seconds", type=float, default=45, help="how long to write (45)")
    ap.add_argument("--interval", type=float, default=5, help="seconds per reported interval")
    ap.add_argument("--where", type=float, default=20, help="where questions a second (20)")
    ap.add_argument("--snapshot", type=float, default=1, help="snapshots a second (1)")
    ap.add_argument("--diff", type=float, default=1, help="diffs a second (1)")
    ap.add_argument("--drain", type=float, default=300, help="seconds to let the recorder catch up")
    ap.add_argument("--dir", type=Path, help="where the file and stores go (a temporary directory)")
    a = ap.parse_args()
    print(f"soak: {a.rate:,.0f} events/s for {a.seconds:.0f} s; where {a.where:g}/s, "
          f"snapshot {a.snapshot:g}/s, diff {a.diff:g}/s")  # fmt: skip
    rates = {"where": a.where, "snapshot": a.snapshot, "diff": a.diff}
    r = soak(a.rate, a.seconds, interval=a.interval, rates=rates, drain=a.drain, directory=a.dir)
    report(r, a.interval)
    sys.exit(0 if r.ok else 1)


if __name__ == "__main__":
    main()
