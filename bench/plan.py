"""Planning benchmark: `plan drain` and `plan rolling` on a 200-host, 10,000-VM fabric,
beside `check --at T` on the same store as the baseline measured in the same run.

    python bench/plan.py [--dir DIR] [--repeat 3]

The store is recorded through the recorder: 200 hosts of 64 cpus and 512 GiB in ten
racks of twenty (the policy's domains), 10,000 running VMs of 1 to 8 vCPUs and 2 to
16 GiB, each with an owner, and a policy of 580 services and 400 rules with CPU
overcommitted 4 times: 300 anti-affinity services of 3 replicas, 40 same-domain
groups of 20 (placed in one rack), 40 services kept off ten hosts each
(host-anti-affinity), 20 pairs that run together (affinity, on one host each), and
the rest of the fleet in services of 50 with no rule. The VMs are placed at random
within those constraints, about 70 % of the fleet's capacity used.

Figures: the baseline `check --at T` (every rule of the policy evaluated once over
the state at T, which a plan reads too); `plan drain` of the busiest host (every
candidate host listed for every VM); `plan rolling` of every host. The best of
`--repeat` runs of each.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from vtrail.maintenance.drain import drain
from vtrail.maintenance.fleet import Fleet
from vtrail.maintenance.rolling import rolling
from vtrail.model import EntityObs, Observation, RelationObs, RelKey, split_id
from vtrail.policy.maintenance import Maintenance
from vtrail.policy.model import Domain, Policy, Rule, Selector, Service
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.triage import check

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOSTS = 200
RACK = 20
VMS = 10_000
SOURCE = "libvirt+qemu:///system@bench"
T = TypeVar("T")
SIZES = [(1, 2048), (2, 4096), (4, 8192), (8, 16384)]


def hv(h: int) -> str:
    return f"hv-{h:03d}"


def policy() -> Policy:
    services: dict[str, Service] = {}
    rules: list[Rule] = []

    def service(name: str) -> None:
        services[name] = Service(name, Selector(kind="vm", name=f"{name}-*"), owner=f"team-{name}")

    for i in range(300):
        service(f"db{i}")
        rules.append(Rule(f"db{i}-apart", "anti-affinity", (f"db{i}",)))
    for i in range(40):
        service(f"grp{i}")
        rules.append(Rule(f"grp{i}-together", "same-domain", (f"grp{i}",)))
        service(f"web{i}")
        off = tuple(hv(h) for h in range(i * 5 % HOSTS, i * 5 % HOSTS + 10))
        rules.append(Rule(f"web{i}-off", "host-anti-affinity", (f"web{i}",), hosts=off))
    for i in range(20):
        service(f"pair{i}")
        rules.append(Rule(f"pair{i}-with", "affinity", (f"pair{i}",)))
    for i in range(160):
        service(f"misc{i}")
    domains = {
        f"rack-{r}": Domain(
            f"rack-{r}", hosts=tuple(hv(h) for h in range(r * RACK, r * RACK + RACK))
        )
        for r in range(HOSTS // RACK)
    }
    return Policy(services, domains, {r.name: r for r in rules}, maintenance=Maintenance(4.0, 1.0))


def fabric(rng: random.Random) -> Observation:
    """Every host and every VM, placed within the rules."""
    vms: list[tuple[str, int]] = []  # (name, host)
    for i in range(300):
        for n, h in enumerate(rng.sample(range(HOSTS), 3)):
            vms.append((f"db{i}-{n}", h))
    for i in range(40):
        rack = rng.randrange(HOSTS // RACK)
        vms += [(f"grp{i}-{n}", rack * RACK + rng.randrange(RACK)) for n in range(20)]
        off = set(range(i * 5 % HOSTS, i * 5 % HOSTS + 10))
        vms += [
            (f"web{i}-{n}", rng.choice([h for h in range(HOSTS) if h not in off]))
            for n in range(20)
        ]
    for i in range(20):
        h = rng.randrange(HOSTS)
        vms += [(f"pair{i}-0", h), (f"pair{i}-1", h)]
    n = 0
    while len(vms) < VMS:
        vms.append((f"misc{n // 50}-{n % 50}", rng.randrange(HOSTS)))
        n += 1
    entities = [
        EntityObs(f"host:{hv(h)}", "host", {"hostname": hv(h), "cpus": 64, "memory_mib": 524288})
        for h in range(HOSTS)
    ]
    relations = []
    for i, (name, h) in enumerate(vms):
        vcpus, mib = rng.choice(SIZES)
        attrs = {"name": name, "state": "running", "vcpus": vcpus, "memory_kib": mib * 1024}
        attrs["asset.owner"] = f"owner-{i % 37}"
        entities.append(EntityObs(f"vm:{i:05d}", "vm", attrs))
        relations.append(RelationObs(RelKey(f"vm:{i:05d}", "runs_on", f"host:{hv(h)}")))
    return Observation(SOURCE, T0, "snapshot", tuple(entities), tuple(relations))


def best(repeat: int, run: Callable[[], T]) -> tuple[str, T]:
    """The best of `repeat` runs, in wall-clock and CPU milliseconds (the CPU time is
    what a machine shared with other jobs blurs least)."""
    wall, cpu = [], []
    for _ in range(repeat):
        begun, used = time.perf_counter(), time.process_time()
        out = run()
        wall.append(time.perf_counter() - begun)
        cpu.append(time.process_time() - used)
    return f"{min(wall) * 1000:7.0f} ms ({min(cpu) * 1000:5.0f} ms CPU)", out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="vtrail-bench-plan-"))
    path = workdir / "plan.db"
    p = policy()
    if not path.exists():
        store = SqliteStore(path)
        start = time.perf_counter()
        Recorder(store).record([to_observation(p, T0), fabric(random.Random(13))], validated=True)
        store.close()
        print(f"recorded {HOSTS} hosts, {VMS:,} VMs, {len(p.rules)} rules in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    at = T0 + timedelta(minutes=1)
    store = SqliteStore(path, readonly=True)
    try:
        took, checked = best(args.repeat, lambda: check(store, p, "bench", at=at))
        broken = sum(not r.holds for r in checked.rules)
        print(f"baseline  check --at T            {took}  ({broken} rules broken)")
        on = Fleet(store, p, at).on
        busiest = split_id(max(on, key=lambda h: (len(on[h]), h)))[1]
        took, answer = best(args.repeat, lambda: drain(store, p, busiest, at))
        listed = sum(len(m.candidates) for m in answer.vms)
        print(
            f"plan      drain {busiest}           {took}  ({len(answer.vms)} VMs, "
            f"{listed:,} candidates listed, {len(answer.stuck)} with nowhere to go)"
        )
        took, plan = best(args.repeat, lambda: rolling(store, p, at))
        moves = sum(len(g.moves) for g in plan.groups)
        print(
            f"plan      rolling (every host)    {took}  ({len(plan.groups)} groups "
            f"from {plan.colours} colours, {len(plan.conflicts):,} conflicts, {moves:,} moves)"
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
