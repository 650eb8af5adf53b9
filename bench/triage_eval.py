"""How often `vtrail triage` names the culprit: generated incident stories, each with a
known culprit and decoys, recorded through the recorder and asked as an operator would.

    python bench/triage_eval.py [--stories 40] [--seed 11]

Each story is an hour of a small fabric: a vantage namespace `h-web` whose veth
`vh-web` is a port of bridge `br0` on the switch `sw`; the target VM `db-1` on
`hv-1`, its NIC plugged into `vnet1` on `br0`; an isolated bridge `br1`; a far
switch `far` with bridges `brA` and `brB` and ports on them; a background fleet
of VMs on `hv-2` … `hv-6` that starts, stops and migrates all hour long. A probe
`web-to-db` runs from `netns:h-web` every 10 s (each round a few ms late or
early) and its results are gauge samples on db-1, loss 0 until the culprit
breaks the path, loss 1 after, as any monitor would push them.

The culprit (one of five kinds, in turn) breaks the path at a random instant:
db-1's port replugged to `br1`; the vantage's veth replugged to `br1`; db-1's
address withdrawn; db-1's port deleted; db-1 migrated to `hv-9`, whose port
is on `br1`. The decoys, in every story:

- at the culprit's very instant, a port of the far switch moves from `brA` to
  `brB` (the same kind of change, far from the path);
- 5 to 50 minutes before, `br0` (on the path) changes its attributes, and
  db-1 is paused and resumed;
- a ghost bridge elsewhere lives 20 to 90 s, in the 10 minutes before;
- an unrelated VM migrates in the 2 minutes before, to db-1's host one time in
  three (a neighbour) and elsewhere otherwise.

Printed: each story's culprit, its rank, the first suspect when it is not the
culprit; then how often the culprit ranked first and in the top 3, and the
time triage took.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.triage.incident import triage

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = 3600
SRC = "bench@fabric"
PROBE = "probe:web-to-db@netns:h-web"
DB = "vm:db-1"
DB_NIC = "nic:db-1/52:54:00:00:00:20"
KINDS = ("replug-target", "replug-vantage", "address", "port-deleted", "migration")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def ent(eid: str, **attrs: object) -> EntityObs:
    return EntityObs(eid, eid.split(":", 1)[0], attrs)  # type: ignore[arg-type]


def rel(a: str, r: str, b: str) -> RelationObs:
    return RelationObs(RelKey(a, r, b))


@dataclass
class Fabric:
    """What the snapshot source sees; each change edits it and is recorded as a snapshot."""

    entities: dict[str, EntityObs]
    relations: set[RelKey]

    def observe(self, s: float) -> Observation:
        return Observation(
            SRC,
            at(s),
            "snapshot",
            tuple(self.entities.values()),
            tuple(RelationObs(k) for k in sorted(self.relations, key=str)),
        )

    def put(self, e: EntityObs) -> None:
        self.entities[e.id] = e

    def drop(self, eid: str) -> None:
        self.entities.pop(eid, None)
        self.relations = {k for k in self.relations if eid not in (k.src, k.dst)}

    def link(self, a: str, r: str, b: str) -> None:
        self.relations.add(RelKey(a, r, b))

    def unlink(self, a: str, r: str, b: str) -> None:
        self.relations.discard(RelKey(a, r, b))

    def move(self, a: str, r: str, b: str) -> None:
        self.relations = {k for k in self.relations if not (k.src == a and k.rel == r)}
        self.relations.add(RelKey(a, r, b))


def fabric(fleet: int) -> Fabric:
    f = Fabric({}, set())
    for e in (
        ent("host:hv-1"), ent("host:hv-9"),
        ent("bridge:sw/br0", name="br0", stp=False), ent("bridge:sw/br1", name="br1"),
        ent("bridge:far/brA", name="brA"), ent("bridge:far/brB", name="brB"),
        ent("port:h-web/eth0", ifname="eth0"), ent("port:sw/vh-web", ifname="vh-web"),
        ent("ip:10.0.0.1", prefixlen=24, family="inet"),
        ent("ip:10.0.0.20", prefixlen=24, family="inet"),
        ent(DB, name="db-1", state="running"), ent(DB_NIC, mac="52:54:00:00:00:20"),
        ent("port:hv-1/vnet1", ifname="vnet1"),
    ):  # fmt: skip
        f.put(e)
    for a, r, b in (
        ("port:h-web/eth0", "peer", "port:sw/vh-web"),
        ("port:sw/vh-web", "port_of", "bridge:sw/br0"),
        ("port:h-web/eth0", "has_address", "ip:10.0.0.1"),
        (DB, "runs_on", "host:hv-1"),
        (DB, "has_nic", DB_NIC),
        (DB_NIC, "plugged_into", "port:hv-1/vnet1"),
        ("port:hv-1/vnet1", "port_of", "bridge:sw/br0"),
        (DB_NIC, "has_address", "ip:10.0.0.20"),
    ):
        f.link(a, r, b)
    for i in range(8):
        f.put(ent(f"port:far/p{i}", ifname=f"p{i}"))
        f.link(f"port:far/p{i}", "port_of", "bridge:far/brA" if i % 2 else "bridge:far/brB")
    for h in range(2, 7):
        f.put(ent(f"host:hv-{h}"))
    for n in range(fleet):
        f.put(ent(f"vm:bg-{n}", name=f"bg-{n}", state="running"))
        f.link(f"vm:bg-{n}", "runs_on", f"host:hv-{2 + n % 5}")
    return f


@dataclass(frozen=True)
class Story:
    kind: str
    culprit: str
    #: Seconds from the hour's start: when the culprit struck.
    t: float
    db: Path


def _culprit(f: Fabric, kind: str) -> str:
    if kind == "replug-target":
        f.move("port:hv-1/vnet1", "port_of", "bridge:sw/br1")
        return "port:hv-1/vnet1"
    if kind == "replug-vantage":
        f.move("port:sw/vh-web", "port_of", "bridge:sw/br1")
        return "port:sw/vh-web"
    if kind == "address":
        f.unlink(DB_NIC, "has_address", "ip:10.0.0.20")
        return DB_NIC
    if kind == "port-deleted":
        f.drop("port:hv-1/vnet1")
        return "port:hv-1/vnet1"
    f.drop("port:hv-1/vnet1")
    f.put(ent("port:hv-9/vnet1", ifname="vnet1"))
    f.link("port:hv-9/vnet1", "port_of", "bridge:sw/br1")
    f.move(DB_NIC, "plugged_into", "port:hv-9/vnet1")
    f.move(DB, "runs_on", "host:hv-9")
    return DB


def record(path: Path, rng: random.Random, kind: str, fleet: int) -> Story:
    """One story's hour, recorded through the recorder in the order it happened."""
    f = fabric(fleet)
    t_culprit = rng.uniform(HOUR * 0.6, HOUR * 0.95)
    # (instant, what it does to the fabric): the culprit, the decoys, the fleet's churn.
    steps: list[tuple[float, object]] = []
    culprit: list[str] = []
    steps.append((t_culprit, lambda: culprit.append(_culprit(f, kind))))
    p = rng.randrange(8)
    far = f"port:far/p{p}"
    steps.append(
        (
            t_culprit,
            lambda: f.move(far, "port_of", "bridge:far/brA" if p % 2 == 0 else "bridge:far/brB"),
        )
    )
    old = t_culprit - rng.uniform(300, 3000)
    steps.append((old, lambda: f.put(ent("bridge:sw/br0", name="br0", stp=True))))
    paused = t_culprit - rng.uniform(300, 3000)
    steps.append((paused, lambda: f.put(ent(DB, name="db-1", state="paused"))))
    steps.append((paused + 20, lambda: f.put(ent(DB, name="db-1", state="running"))))
    ghost_at = t_culprit - rng.uniform(100, 600)
    steps.append((ghost_at, lambda: f.put(ent("bridge:far/tmp", name="tmp"))))
    steps.append((ghost_at + rng.uniform(20, 90), lambda: f.drop("bridge:far/tmp")))
    mover = f"vm:bg-{rng.randrange(fleet)}"
    dest = "host:hv-1" if rng.random() < 1 / 3 else f"host:hv-{rng.randrange(2, 7)}"
    steps.append((t_culprit - rng.uniform(1, 120), lambda: f.move(mover, "runs_on", dest)))
    for _ in range(fleet):
        n = rng.randrange(fleet)
        vm = f"vm:bg-{n}"
        roll = rng.random()
        if roll < 0.5:
            h = f"host:hv-{rng.randrange(2, 7)}"
            steps.append((rng.uniform(1, HOUR), lambda vm=vm, h=h: f.move(vm, "runs_on", h)))
        else:
            state = "shutoff" if roll < 0.75 else "running"
            steps.append(
                (
                    rng.uniform(1, HOUR),
                    lambda vm=vm, n=n, s=state: f.put(ent(vm, name=f"bg-{n}", state=s)),
                )
            )
    steps.sort(key=lambda s: s[0])
    store = SqliteStore(path)
    rec = Recorder(store)
    rec.record([f.observe(0)])
    for t, do in steps:
        do()  # type: ignore[operator]
        rec.record([f.observe(t)])
    # The probe: a round every 10 s, a few ms off; loss 1 from the first round after.
    rounds = []
    for i in range(HOUR // 10):
        t = i * 10 + rng.uniform(-0.005, 0.005) + 0.5
        bad = t > t_culprit
        samples = [SampleObs(DB, "probe.loss", 1.0 if bad else 0.0, type="gauge")]
        if not bad:
            samples.append(SampleObs(DB, "probe.rtt_ms", rng.uniform(0.3, 0.6), type="gauge"))
        rounds.append(Observation(PROBE, at(t), "event", (), (), tuple(samples)))
    rec.record(rounds)
    store.close()
    return Story(kind, culprit[0], t_culprit, path)


def evaluate(stories: int, seed: int, fleet: int, workdir: Path) -> None:
    rng = random.Random(seed)
    firsts = top3 = 0
    took: list[float] = []
    for i in range(stories):
        kind = KINDS[i % len(KINDS)]
        s = record(workdir / f"story-{i}.db", rng, kind, fleet)
        store = SqliteStore(s.db, readonly=True)
        try:
            start = time.perf_counter()
            answer = triage(store, ["netns:h-web", "db-1"], at(HOUR))
            took.append(time.perf_counter() - start)
        finally:
            store.close()
        ranked = [x.entity for x in answer.suspects]
        rank = ranked.index(s.culprit) + 1 if s.culprit in ranked else None
        firsts += rank == 1
        top3 += rank is not None and rank <= 3
        line = f"  {i:>2} {kind:<15} {s.culprit:<28} rank {rank}"
        if rank != 1 and answer.suspects:
            line += f"   first: {answer.suspects[0].reason}"
        print(line)
    print(f"\n  stories                 {stories}")
    print(f"  culprit first           {firsts}/{stories} ({100 * firsts / stories:.0f} %)")
    print(f"  culprit in the top 3    {top3}/{stories} ({100 * top3 / stories:.0f} %)")
    took.sort()
    print(f"  triage, median          {1000 * took[len(took) // 2]:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--fleet", type=int, default=40, help="background VMs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vtrail-triage-eval-") as d:
        evaluate(args.stories, args.seed, args.fleet, Path(d))


if __name__ == "__main__":
    main()
