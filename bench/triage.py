"""Triage and health benchmarks, each beside a baseline measured in the same run.

    python bench/triage.py [--dir DIR] [--interval 10] [--skip-health] [--skip-triage]

Triage: the fabric of bench/check.py (200 hosts, 10,000 VMs, then 100,000
changes over 24 hours: migrations, stops and starts, renames), recorded
through the recorder, with its policy of 50 rules recorded at the start.
`triage A B` between two VMs and `triage db3` (a service of five) at the day's
end with a 24-hour window, so that all 100,000 changes are in it; no probe
ran, so the onset is the instant asked. Baseline: `diff` over the same window,
the existing question that reads the same changes (without times, scores or
distances).

Health: a service of 100 VMs probed from one vantage every `--interval`
seconds for 24 hours (each round a few ms off, as an asyncio prober's are),
each round writing the six `probe.*` gauges through the recorder, with 20
loss episodes and 20 RTT episodes spread over the day. `health web --from
--to` over the 24 hours. Baseline: reading the same series (loss, RTT, ok,
jitter of every member) with the reader `vtrail counters` uses, judging
nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check import DAY, T0, policy, populate
from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs
from vtrail.policy.model import Policy, Selector, Service
from vtrail.policy.record import to_observation
from vtrail.query.state import diff
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.reads.samples import series
from vtrail.timeexpr import to_us
from vtrail.triage.health import READ, health, measure
from vtrail.triage.incident import triage

MEMBERS = 100
PROBE = "probe:web-probe@netns:h-probe"


def _best(runs: int, fn: object) -> tuple[float, object]:
    """The fastest of `runs` (the first also warms the page cache), and its answer."""
    best, answer = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        answer = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, answer


def bench_triage(workdir: Path) -> None:
    path = workdir / "check.db"
    if not path.exists():
        populate(path)
        store = SqliteStore(path)
        Recorder(store).record([to_observation(policy(), T0)])
        store.close()
    store = SqliteStore(path, readonly=True)
    end = T0 + DAY
    print("triage at the day's end, window 24 h (all 100,000 changes)")
    for what in (["vm:00001", "vm:00002"], ["db3"]):
        took, a = _best(3, lambda w=what: triage(store, w, end, timedelta(hours=24)))
        print(
            f"  triage {' '.join(what):<20} {took * 1000:8.0f} ms   "
            f"({a.changes:,} changes)     target <= 1000 ms"  # type: ignore[attr-defined]
        )
    took, d = _best(3, lambda: diff(store, T0, end))
    n = len(d.appeared) + len(d.vanished) + len(d.changed) + len(d.moved)  # type: ignore[attr-defined]
    print(f"  baseline: diff over the window   {took * 1000:8.0f} ms   ({n:,} entities differ)")
    store.close()


def _fleet() -> Observation:
    ents = [EntityObs("host:hv-a", "host", {"hostname": "hv-a"})]
    rels = []
    for n in range(MEMBERS):
        ents.append(
            EntityObs(f"vm:web-{n:03d}", "vm", {"name": f"web-{n:03d}", "state": "running"})
        )
        rels.append(RelationObs(RelKey(f"vm:web-{n:03d}", "runs_on", "host:hv-a")))
    return Observation("bench@hv-a", T0, "snapshot", tuple(ents), tuple(rels))


def populate_probes(path: Path, interval: float) -> None:
    rng = random.Random(5)
    store = SqliteStore(path)
    rec = Recorder(store)
    web = Policy(services={"web": Service("web", Selector(kind="vm", name="web-*"))})
    rec.record([_fleet(), to_observation(web, T0)])
    rounds = int(DAY.total_seconds() / interval)
    # Episodes: (member, first round, rounds) of loss, then of high RTT.
    lossy = [
        (rng.randrange(MEMBERS), rng.randrange(rounds), rng.randrange(3, 30)) for _ in range(20)
    ]
    slow = [
        (rng.randrange(MEMBERS), rng.randrange(rounds), rng.randrange(3, 30)) for _ in range(20)
    ]
    start = time.perf_counter()
    batch: list[Observation] = []
    for i in range(rounds):
        t = T0 + timedelta(seconds=i * interval + 1 + rng.uniform(-0.004, 0.004))
        samples = []
        for n in range(MEMBERS):
            loss = 0.0
            rtt = 0.5 + rng.random() * 0.2
            if any(m == n and s <= i < s + k for m, s, k in lossy):
                loss = 0.6
            if any(m == n and s <= i < s + k for m, s, k in slow):
                rtt *= 8
            e = f"vm:web-{n:03d}"
            samples += [
                SampleObs(e, "probe.loss", loss, type="gauge"),
                SampleObs(e, "probe.rtt_ms", rtt, type="gauge"),
                SampleObs(e, "probe.rtt_min_ms", rtt * 0.9, type="gauge"),
                SampleObs(e, "probe.rtt_max_ms", rtt * 1.1, type="gauge"),
                SampleObs(e, "probe.jitter_ms", rtt * 0.05, type="gauge"),
                SampleObs(e, "probe.ok", 1 if loss < 1 else 0, type="gauge"),
            ]
        batch.append(Observation(PROBE, t, "event", (), (), tuple(samples)))
        if len(batch) == 200:
            rec.record(batch, validated=True)
            batch.clear()
    if batch:
        rec.record(batch, validated=True)
    took = time.perf_counter() - start
    print(
        f"  recorded {rounds:,} rounds of {MEMBERS} members ({rounds * MEMBERS * 6:,} samples) in {took:.0f}s"
    )
    store.close()


def bench_health(workdir: Path, interval: float) -> None:
    path = workdir / f"health-{interval:g}.db"
    print(f"health of a {MEMBERS}-member service over 24 h, a round every {interval:g} s")
    if not path.exists():
        populate_probes(path, interval)
    store = SqliteStore(path, readonly=True)
    web = Policy(services={"web": Service("web", Selector(kind="vm", name="web-*"))})
    took, a = _best(3, lambda: health(store, web, "web", t_from=T0, t_to=T0 + DAY))
    spans = sum(len(s.intervals) for m in a.members for s in m.series)  # type: ignore[attr-defined]
    print(
        f"  health --from --to             {took * 1000:8.0f} ms   ({spans} degraded intervals)     target <= 500 ms"
    )

    def read_only() -> int:
        source = store.source_id(PROBE)
        lo, hi = to_us(T0), to_us(T0 + DAY)
        return sum(
            len(series(store, store.entity_id(f"vm:web-{n:03d}"), m, lo, hi, source))
            for n in range(MEMBERS)
            for m in READ
        )

    took, n = _best(3, read_only)
    print(
        f"  baseline: reading the series   {took * 1000:8.0f} ms   ({n:,} readings, judging nothing)"
    )
    members = [f"vm:web-{n:03d}" for n in range(MEMBERS)]
    took, found = _best(3, lambda: measure(store, web, members, to_us(T0), to_us(T0 + DAY)))
    rounds = sum(len(m.rounds) for m in found)  # type: ignore[attr-defined]
    print(f"  baseline: every round decoded and judged {took * 1000:8.0f} ms   ({rounds:,} rounds)")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="where the stores go (default: a temporary dir)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between rounds")
    ap.add_argument("--skip-triage", action="store_true")
    ap.add_argument("--skip-health", action="store_true")
    args = ap.parse_args()

    def run(d: Path) -> None:
        if not args.skip_triage:
            bench_triage(d)
        if not args.skip_health:
            bench_health(d, args.interval)

    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(args.dir)
        return
    with tempfile.TemporaryDirectory(prefix="vtrail-triage-") as d:
        run(Path(d))


if __name__ == "__main__":
    main()
