"""vtrail beside Prometheus on the same fleet history, both asked over HTTP on loopback.

    python bench/peers.py            # 5,000 VMs on 100 hosts over 6 hours (a few minutes)
    python bench/peers.py --quick    # 200 VMs on 10 hosts over 2 hours (seconds)

One synthetic history (bench/peers_history.py: migrations, state changes, VMs
that vanish, VMs that live under five minutes) is recorded into a vtrail store
served by `vtrail serve`, and backfilled with `promtool tsdb
create-blocks-from openmetrics` into the TSDB of a Prometheus server (Debian's
`prometheus` package) as `vm_info{vm,host,state}`, sampled every 15 s as a
scrape would have. Three questions, each asked of both with httpx2:

- where was VM X at T: `GET /api/where?what=vm:X&at=T`, and the instant
  query `vm_info{vm="X"}` at T;
- which VMs ran on host H at T: `GET /api/show/host:H?at=T` (its `runs_on`
  relations), and `vm_info{host="H"}` at T;
- what changed in the hour before T: `GET /api/diff?from=T-1h&to=T`, and
  `(vm_info unless vm_info offset 1h) or (vm_info offset 1h unless vm_info)`.

Half of each question's instants are drawn anywhere in the history, half
within five minutes after one of the changes (Prometheus's lookback window).
Every answer is judged against the history itself. Figures: latency p50 and
p99, answer size (the JSON, and the bytes on the wire), wrong answers and
why, and a table of ratios vtrail / Prometheus.

Each question goes to the sides one after another, so each answer comes right
after another server's, on the caches it left. The one-entity questions are
then asked again, twenty at a time to each side, as a script looping over
many VMs asks them; both figures are printed, and the first split by whether
the side itself or another answered just before. The questions, their
requests and the judging are in bench/peers_questions.py. The first line says
which Python runs the bench and the servers it starts: its build moves every
figure (docs/performance.md, "Which Python runs vtrail").
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from load import stop
from peers_history import History, build, vm_id
from peers_questions import (
    FULL,
    QUICK,
    Question,
    Size,
    judge,
    prom_request,
    prom_said,
    questions,
    truth,
    vtrail_request,
    vtrail_said,
)
from peers_servers import backfill, missing_binaries, prometheus_server, vtrail_store
from serve import interpreter, pct, serve
from vtrail.query import state
from vtrail.query.jsonable import to_jsonable
from vtrail.store import SqliteStore
from vtrail.timeexpr import from_us

T = TypeVar("T")


@dataclass
class Tally:
    """One side's answers to one kind of question."""

    ms: list[float] = field(default_factory=list)
    body: list[int] = field(default_factory=list)
    wire: list[int] = field(default_factory=list)
    wrong: Counter[str] = field(default_factory=Counter)  # why, per reason
    wrong_near: int = 0
    asked: int = 0
    #: Per answer, whether the side had given the answer just before it as well.
    after_itself: list[bool] = field(default_factory=list)

    def after(self, itself: bool) -> list[float]:
        """The times of the answers that came right after one of this side's own, or
        right after another side's."""
        return [ms for ms, a in zip(self.ms, self.after_itself, strict=True) if a == itself]

    @property
    def wrongs(self) -> int:
        return sum(self.wrong.values())


@dataclass(frozen=True)
class Side:
    name: str
    addr: str
    request: Callable[[Question], tuple[str, dict[str, str]]]
    read: Callable[[Question, dict[str, Any]], Any]


#: Seeds the order each question is put to the sides in (`turns`): runs are alike.
ORDER_SEED = 20261204


def turns(sides: list[T], k: int, drawn: random.Random | None) -> list[T]:
    """The sides in the order the `k`-th question is put to them: drawn anew for each
    question from `drawn`, or, without it, in turns (the `k`-th rotation).

    In turns, each side is always asked right after the same other one, on the caches
    that one left: asked in turns after Prometheus, a `vtrail serve` measured 0.04 to
    0.05 of Prometheus's median slower than the same server asked after another vtrail
    (`python bench/hop.py` shows both orders). Drawn, each side follows each other
    alike."""
    if drawn is None:
        return sides[k % len(sides) :] + sides[: k % len(sides)]
    return drawn.sample(sides, len(sides))


def ask(
    sides: list[Side], qs: list[Question], truths: list[Any], run: int = 1
) -> dict[str, dict[str, Tally]]:
    """Every question of every side, each side on its own keep-alive connection, after a
    warm-up. The questions go `run` at a time to each side, back to back, the sides in
    an order drawn for each run (`turns`), so that whatever else the machine runs
    meanwhile weighs on every side alike. One at a time, each answer comes right after
    another server's, on caches it left cold; a run of them is asked as a script that
    loops over many VMs asks them."""
    drawn = random.Random(ORDER_SEED)
    tallies: dict[str, dict[str, Tally]] = {s.name: {} for s in sides}
    clients = {s.name: httpx2.Client(base_url=f"http://{s.addr}", timeout=120) for s in sides}
    asked = list(zip(qs, truths, strict=True))
    last = None
    try:
        for q in qs[:: max(1, len(qs) // 20)]:
            for s in sides:
                clients[s.name].get(s.request(q)[0], params=s.request(q)[1])
                last = s.name
        for k in range(0, len(asked), run):
            for s in turns(sides, k // run, drawn):
                for q, right in asked[k : k + run]:
                    path, params = s.request(q)
                    t = time.perf_counter()
                    r = clients[s.name].get(path, params=params)
                    body = r.content
                    ms = (time.perf_counter() - t) * 1000
                    if r.status_code != 200:
                        raise SystemExit(f"{s.addr}{path} {params}: {r.status_code} {body[:200]!r}")
                    tally(
                        tallies[s.name],
                        q,
                        ms,
                        len(body),
                        r.num_bytes_downloaded,
                        s.read(q, r.json()),
                        right,
                        after_itself=last == s.name,
                    )
                    last = s.name
    finally:
        for c in clients.values():
            c.close()
    return tallies


def tally(
    tallies: dict[str, Tally],
    q: Question,
    ms: float,
    body: int,
    wire: int,
    said: Any,
    right: Any,
    after_itself: bool,
) -> None:
    t = tallies.setdefault(q.kind, Tally())
    t.ms.append(ms)
    t.after_itself.append(after_itself)
    t.body.append(body)
    t.wire.append(wire)
    t.asked += 1
    why = judge(q, right, said)
    if why is not None:
        t.wrong[why] += 1
        t.wrong_near += q.near_change


def in_process(db: Path, qs: list[Question], truths: list[Any]) -> dict[str, Tally]:
    """The same questions put to vtrail.query on the store, with no HTTP: what the
    answer costs, apart from the server's stack and the JSON."""
    store = SqliteStore(db, readonly=True)
    tallies: dict[str, Tally] = {}
    try:
        for q, right in zip(qs, truths, strict=True):
            at = from_us(q.at * 1000)
            t = time.perf_counter()
            if q.kind == "where":
                answer: Any = state.where(store, vm_id(q.subject), at)
            elif q.kind == "host":
                answer = state.show(store, f"host:{q.subject}", at)
            else:
                answer = state.diff(store, at - timedelta(hours=1), at)
            ms = (time.perf_counter() - t) * 1000
            doc = to_jsonable(answer)
            size = len(json.dumps(doc, separators=(",", ":")))
            # Nothing goes over a wire in process.
            tally(tallies, q, ms, size, 0, vtrail_said(q, doc), right, after_itself=True)
    finally:
        store.close()
    return tallies


# -- the run ----------------------------------------------------------------------------

#: The sides, in the order they are printed. The third is Prometheus with its lookback
#: cut to two scrape intervals, as an operator who knows the problem might set it; the
#: last is vtrail's own questions without HTTP.
SIDES = ("vtrail", "Prometheus", "Prometheus, lookback 30 s", "vtrail in process")
TUNED_LOOKBACK = "30s"
#: Questions a side answers back to back in the second pass (`ask`).
RUN = 20


@dataclass
class Result:
    size: Size
    history: History
    samples: int
    #: Per side, per kind of question.
    sides: dict[str, dict[str, Tally]]
    setup: dict[str, float]
    #: The one-entity questions asked again, `RUN` at a time to each side.
    runs: dict[str, dict[str, Tally]]

    @property
    def vtrail(self) -> dict[str, Tally]:
        return self.sides[SIDES[0]]

    @property
    def prometheus(self) -> dict[str, Tally]:
        return self.sides[SIDES[1]]


def run(size: Size, work: Path, quiet: bool = False) -> Result:
    say = (lambda *a: None) if quiet else print
    say(f"python: {interpreter()}")
    t = time.perf_counter()
    h = build(size.vms, size.hosts, size.hours)
    setup = {"history": time.perf_counter() - t}
    say(
        f"history: {size.vms:,} VMs at the start on {size.hosts} hosts over {size.hours:g} h, "
        f"{len(h.changes):,} changes ({len(h.spans):,} VMs in all), "
        f"{len(h.observations):,} observations"
    )
    t = time.perf_counter()
    tsdb, samples = backfill(h, work)
    setup["backfill"] = time.perf_counter() - t
    say(f"promtool backfill: {samples:,} samples in {setup['backfill']:.1f} s")
    # Each Prometheus has a TSDB of its own: a server locks the one it opens.
    tuned = work / "tsdb-tuned"
    shutil.copytree(tsdb, tuned)
    t = time.perf_counter()
    db = work / "vtrail.db"
    vtrail_store(h, db).close()
    setup["vtrail"] = time.perf_counter() - t
    say(f"vtrail store: {len(h.observations):,} observations recorded in {setup['vtrail']:.1f} s")
    qs = questions(h, size)
    truths = [truth(h, q) for q in qs]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, vaddr = serve(db)
        procs.append(proc)
        proc, paddr = prometheus_server(tsdb, work)
        procs.append(proc)
        proc, taddr = prometheus_server(tuned, work, TUNED_LOOKBACK)
        procs.append(proc)
        over_http = [
            Side(SIDES[0], vaddr, vtrail_request, vtrail_said),
            Side(SIDES[1], paddr, prom_request, prom_said),
            Side(SIDES[2], taddr, prom_request, prom_said),
        ]
        sides = ask(over_http, qs, truths)
        one = [(q, right) for q, right in zip(qs, truths, strict=True) if q.kind != "diff"]
        runs = ask(over_http, [q for q, _ in one], [right for _, right in one], RUN)
    finally:
        for proc in procs:
            stop(proc)
    sides[SIDES[3]] = in_process(db, qs, truths)
    return Result(size, h, samples, {s: sides[s] for s in SIDES}, setup, runs)


NAMES = {
    "where": "where was VM X at T",
    "host": "VMs on host H at T",
    "diff": "what changed in 1 h",
}


def report(r: Result) -> None:
    print(
        "\nquestion             side                       p50 ms  p99 ms  JSON bytes  wire bytes  wrong"
    )
    for kind, name in NAMES.items():
        for side, tallies in r.sides.items():
            t = tallies[kind]
            wire = f"{statistics.median(t.wire):,.0f}" if any(t.wire) else "—"
            print(
                f"{name:<20} {side:<25} {pct(t.ms, 50):>7.2f} {pct(t.ms, 99):>7.2f}"
                f" {statistics.median(t.body):>11,.0f} {wire:>11}"
                f"  {t.wrongs:>4} / {t.asked} ({t.wrong_near} near a change)"
            )
    print("\nwrong answers, why")
    for kind, name in NAMES.items():
        for side, tallies in r.sides.items():
            reasons = ", ".join(f"{n} {why}" for why, n in tallies[kind].wrong.most_common())
            print(f"  {name:<20} {side:<25} {reasons or 'none'}")
    for peer in SIDES[1:3]:
        print(f"\nratio vtrail / {peer:<28} p50    p99   JSON bytes   wrong answers")
        for kind, name in NAMES.items():
            a, b = r.vtrail[kind], r.sides[peer][kind]
            print(
                f"  {name:<42} {pct(a.ms, 50) / pct(b.ms, 50):>5.2f}"
                f" {pct(a.ms, 99) / pct(b.ms, 99):>6.2f}"
                f" {statistics.median(a.body) / statistics.median(b.body):>12.2f}"
                f"   {a.wrongs} vs {b.wrongs} of {a.asked}"
            )
    print("\none at a time, by the side that answered just before: p50 ms (answers)")
    print(f"{'question':<20} {'side':<25} {'after another':>17} {'after itself':>17}")
    for kind in ("where", "host"):
        for side in SIDES[:3]:
            t = r.sides[side][kind]
            cells = [t.after(itself) for itself in (False, True)]
            print(
                f"{NAMES[kind]:<20} {side:<25}"
                + "".join(f" {pct(ms, 50) if ms else 0:>8.2f} ({len(ms):>5})" for ms in cells)
            )
    print(f"\nasked again, {RUN} questions at a time to each side")
    print(f"{'question':<20} {'side':<25}  p50 ms  p99 ms  p50 / {SIDES[1]}  wrong")
    for kind in ("where", "host"):
        base = pct(r.runs[SIDES[1]][kind].ms, 50)
        for side in SIDES[:3]:
            t = r.runs[side][kind]
            print(
                f"{NAMES[kind]:<20} {side:<25} {pct(t.ms, 50):>7.2f} {pct(t.ms, 99):>7.2f}"
                f" {pct(t.ms, 50) / base:>16.2f}  {t.wrongs:>5} / {t.asked}"
            )


def command_line(
    doc: str,
    bench: Callable[[Size, Path, argparse.Namespace], None],
    prometheus: bool = True,
    code: bool = False,
) -> None:
    """A bench on this history: `--quick` for the small one, `--dir` for where its files
    go, and with `code`, `--code REV`; beside `prometheus`, the package's binaries are
    looked for first. `bench` is given the size, its folder and the arguments."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the smoke run's small size")
    ap.add_argument("--dir", type=Path, default=None, help="where the stores go")
    if code:
        ap.add_argument("--code", metavar="REV", help="serve the control from src/ as at REV")
    args = ap.parse_args()
    if prometheus and (missing := missing_binaries()):
        sys.exit(f"{' and '.join(missing)} not found: install Debian's prometheus package")
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        bench(QUICK if args.quick else FULL, Path(d), args)


def main() -> None:
    command_line(__doc__ or "", lambda size, work, _: report(run(size, work)))


if __name__ == "__main__":
    main()
