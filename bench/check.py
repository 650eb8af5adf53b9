"""Compliance benchmark: `check --at T` and `check` over 24 hours, beside the naive baseline.

    python bench/check.py [--dir DIR] [--naive-minutes 2]

The store is recorded through the recorder: 200 hosts and 10,000 VMs in one
snapshot, then 100,000 changes over 24 hours as libvirt would report them
(migrations, stops and starts, renames), in batches of 10,000. The policy has
50 rules of every kind over services of 3 to 500 members (about half the
fleet), ten racks of twenty hosts as domains.

Figures: one check at an instant in the middle of the day (first on a new
connection, then again); the walk over the 24 hours; and the baseline, a full
evaluation at every change point (`check --at` at each, which reads the whole
state at that instant), on a window of a few minutes, with the walk on the same
window, and whether the two agree at every change point.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.model import Domain, Policy, Rule, Selector, Service
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, store_files
from vtrail.store.reads.triage import TriageReader
from vtrail.timeexpr import from_us, to_us
from vtrail.triage import CheckAnswer, check
from vtrail.triage.derive import derivers

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(hours=24)
HOSTS = 200
VMS = 10_000
CHANGES = 100_000
SOURCE = "libvirt+qemu:///system@bench"

#: (prefix, services, members each): the services, named `<prefix><i>-<n>`.
GROUPS = {
    "db": (20, 5),  # anti-affinity
    "cache": (10, 3),  # affinity with app<i>
    "app": (10, 5),
    "pin": (8, 200),  # host-affinity to 20 hosts
    "web": (6, 500),  # host-anti-affinity from 10 hosts
    "grp": (4, 50),  # same-domain
    "fe": (2, 3),  # max-hops to be<i>
    "be": (2, 3),
}


def host(i: int) -> str:
    return f"host:hv-{i:03d}"


def names() -> list[str]:
    out = [f"{p}{i}-{n}" for p, (k, size) in GROUPS.items() for i in range(k) for n in range(size)]
    return out + [f"misc-{n}" for n in range(VMS - len(out))]


def policy() -> Policy:
    services = {
        f"{p}{i}": Service(f"{p}{i}", Selector(kind="vm", name=f"{p}{i}-*"))
        for p, (k, _) in GROUPS.items()
        for i in range(k)
    }
    domains = {
        f"rack-{r}": Domain(
            f"rack-{r}", hosts=tuple(f"hv-{h:03d}" for h in range(r * 20, r * 20 + 20))
        )
        for r in range(10)
    }
    rules: list[Rule] = []
    rules += [Rule(f"db{i}-apart", "anti-affinity", (f"db{i}",)) for i in range(20)]
    rules += [Rule(f"cache{i}-with-app", "affinity", (f"cache{i}", f"app{i}")) for i in range(10)]
    rules += [
        Rule(
            f"pin{i}-home",
            "host-affinity",
            (f"pin{i}",),
            hosts=tuple(f"hv-{h:03d}" for h in range(i * 20, i * 20 + 20)),
        )
        for i in range(8)
    ]
    rules += [
        Rule(
            f"web{i}-off",
            "host-anti-affinity",
            (f"web{i}",),
            hosts=tuple(f"hv-{h:03d}" for h in range(190 - i * 10, 200 - i * 10)),
        )
        for i in range(6)
    ]
    rules += [Rule(f"grp{i}-together", "same-domain", (f"grp{i}",)) for i in range(4)]
    rules += [Rule(f"fe{i}-near-be", "max-hops", (f"fe{i}", f"be{i}"), hops=2) for i in range(2)]
    assert len(rules) == 50
    return Policy(services, domains, {r.name: r for r in rules})


def vm_ent(n: int, name: str, state: str) -> EntityObs:
    return EntityObs(f"vm:{n:05d}", "vm", {"name": name, "state": state, "vcpus": 2})


def runs(n: int, h: int) -> RelationObs:
    return RelationObs(RelKey(f"vm:{n:05d}", "runs_on", host(h)))


def changes(rng: random.Random, vms: list[str], placement: list[int]) -> Iterator[Observation]:
    """Migrations (60 %), stops and starts (30 %), renames (10 %), spread over the day,
    from the first snapshot's `placement`."""
    where = dict(enumerate(placement))
    running = set(range(VMS))
    step = DAY / CHANGES
    for i in range(CHANGES):
        t = T0 + step * (i + 1) + timedelta(microseconds=rng.randrange(1000))
        n = rng.randrange(VMS)
        roll = rng.random()
        entities: tuple[EntityObs, ...] = ()
        rels: tuple[RelationObs, ...] = ()
        gone: tuple[RelKey, ...] = ()
        if roll < 0.6 and n in running:
            new = (where[n] + 1 + rng.randrange(HOSTS - 1)) % HOSTS
            rels, gone = (runs(n, new),), (runs(n, where[n]).key,)
            where[n] = new
        elif roll < 0.9:
            if n in running:
                running.discard(n)
                entities, gone = (vm_ent(n, vms[n], "shutoff"),), (runs(n, where[n]).key,)
            else:
                running.add(n)
                where[n] = rng.randrange(HOSTS)
                entities, rels = (vm_ent(n, vms[n], "running"),), (runs(n, where[n]),)
        else:
            vms[n] = rng.choice(vms)  # takes another's name, and so its service
            state = "running" if n in running else "shutoff"
            entities = (vm_ent(n, vms[n], state),)
        yield Observation(SOURCE, t, "event", entities, rels, (), (), gone)


def fleet(vms: list[str], placement: list[int]) -> Observation:
    """The first snapshot: every host, every VM running where `placement` puts it."""
    return Observation(
        SOURCE,
        T0,
        "snapshot",
        tuple(EntityObs(host(h), "host", {"hostname": f"hv-{h:03d}"}) for h in range(HOSTS))
        + tuple(vm_ent(n, vms[n], "running") for n in range(VMS)),
        tuple(runs(n, placement[n]) for n in range(VMS)),
    )


def populate(path: Path) -> None:
    rng = random.Random(7)
    vms = names()
    rng.shuffle(vms)
    store = SqliteStore(path)
    rec = Recorder(store)
    placement = [rng.randrange(HOSTS) for _ in range(VMS)]
    start = time.perf_counter()
    rec.record([fleet(vms, placement)], validated=True)
    batch: list[Observation] = []
    for o in changes(rng, vms, placement):
        batch.append(o)
        if len(batch) == 10_000:
            rec.record(batch, validated=True)
            batch.clear()
    if batch:
        rec.record(batch, validated=True)
    took = time.perf_counter() - start
    print(f"  recorded {VMS:,} VMs on {HOSTS} hosts and {CHANGES:,} changes in {took:.0f}s")
    store.close()


def derive_cost(workdir: Path, events: int = 20_000, batch: int = 100) -> None:
    """Recording with membership derived beside recording without: the same fleet, the
    policy recorded at T0, then `events` changes in batches of `batch`, as live
    collectors hand them over (CPU seconds, so that other jobs blur it less)."""
    print(f"recording {events:,} changes in batches of {batch} (events per CPU-second)")
    rates = {}
    for derive in (False, True):
        rng = random.Random(7)
        vms = names()
        rng.shuffle(vms)
        path = workdir / f"derive-{derive}.db"
        for stale in store_files(path):
            stale.unlink(missing_ok=True)
        store = SqliteStore(path)
        store.derivers = derivers() if derive else []
        rec = Recorder(store)
        placement = [rng.randrange(HOSTS) for _ in range(VMS)]
        rec.record([fleet(vms, placement), to_observation(policy(), T0)], validated=True)
        stream = changes(rng, vms, placement)
        t = time.process_time()
        for _ in range(events // batch):
            rec.record([next(stream) for _ in range(batch)], validated=True)
        rates[derive] = events / (time.process_time() - t)
        n = store.conn.execute(
            "SELECT count(*) FROM relation WHERE rel IN ('member_of', 'in_domain')"
        ).fetchone()[0]
        store.close()
        label = "membership derived" if derive else "baseline, not derived"
        print(f"  {label:<24} {rates[derive]:>8,.0f}   ({n:,} membership relations)")
    print(f"  derived / baseline       {rates[True] / rates[False]:>8.2f}")


def breaches_at(answer: CheckAnswer, t: datetime) -> set[tuple[str, tuple[str, ...]]]:
    """The (rule, members) violated at `t`, read off a window's intervals."""
    return {
        (r.name, tuple(v.members))
        for r in answer.rules
        for v in r.violations
        if v.t_from <= t and (v.t_to is None or v.t_to > t)
    }


def bench(workdir: Path, naive_minutes: float) -> None:
    path = workdir / "check.db"
    if not path.exists():
        populate(path)
    p = policy()
    store = SqliteStore(path, readonly=True)
    mid = T0 + DAY / 2
    print("check --at T (middle of the day, 50 rules)")
    for label in ("first", "again"):
        t = time.perf_counter()
        at = check(store, p, "bench", at=mid)
        took = time.perf_counter() - t
        broken = sum(not r.holds for r in at.rules)
        print(
            f"  {label:<6} {took * 1000:8.0f} ms   ({broken} of 50 rules violated)     target <= 300 ms"
        )

    t = time.perf_counter()
    day = check(store, p, "bench", t_from=T0, t_to=T0 + DAY)
    took = time.perf_counter() - t
    n = sum(len(r.violations) for r in day.rules)
    print(
        f"check over 24 hours (walk)  {took:8.2f} s    ({n:,} violation intervals)     target <= 5 s"
    )

    lo, hi = mid, mid + timedelta(minutes=naive_minutes)
    points = _change_points(store, lo, hi)
    t = time.perf_counter()
    walked = check(store, p, "bench", t_from=lo, t_to=hi)
    walk_took = time.perf_counter() - t
    t = time.perf_counter()
    agree = True
    for at_us in points:
        when = from_us(at_us)
        naive = check(store, p, "bench", at=when)
        found = {(r.name, tuple(v.members)) for r in naive.rules for v in r.violations}
        agree &= found == breaches_at(walked, when)
    naive_took = time.perf_counter() - t
    per = naive_took / max(1, len(points))
    print(
        f"baseline: a full check at each of the {len(points):,} change points of {naive_minutes:g} minutes"
    )
    print(
        f"  naive    {naive_took:8.2f} s    ({per * 1000:.0f} ms a change point; 24 hours would take {per * CHANGES / 60:,.0f} min)"
    )
    print(f"  walk     {walk_took:8.2f} s    (same window)")
    print(f"  the two agree at every change point: {'yes' if agree else 'NO'}")
    store.close()
    derive_cost(workdir)


def _change_points(store: SqliteStore, lo: datetime, hi: datetime) -> list[int]:
    return TriageReader(store).change_instants(to_us(lo), to_us(hi), ("vm",), ("runs_on",))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="where the store goes (default: a temporary dir)")
    ap.add_argument("--naive-minutes", type=float, default=2.0)
    args = ap.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        bench(args.dir, args.naive_minutes)
        return
    with tempfile.TemporaryDirectory(prefix="vtrail-check-") as d:
        bench(Path(d), args.naive_minutes)


if __name__ == "__main__":
    main()
