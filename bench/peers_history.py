"""The synthetic fleet history bench/peers.py asks vtrail and Prometheus about, and its truth.

VMs over hosts, changing at random instants (to the millisecond): migrations,
state changes, VMs that vanish, VMs created for good and VMs that live under
five minutes. The same history is written as vtrail observations (the events
of one fleet-wide source, as an orchestrator's feed would give) and as the
`vm_info{vm,host,state}` samples a scrape every `SCRAPE_MS` would have taken.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vtrail.model import EntityObs, Observation, RelationObs, RelKey

T0 = datetime(2026, 11, 2, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
SCRAPE_MS = 15_000
SOURCE = "orchestrator@fleet"
#: How the changes are shared out; each VM changes about once an hour.
WEIGHTS = {"migrate": 40, "state": 40, "vanish": 8, "create": 6, "short": 6}


@dataclass(frozen=True, slots=True)
class Span:
    """A VM on one host in one state over [start, end) (milliseconds since the epoch)."""

    vm: str
    host: str
    state: str
    start: int
    end: int  # the history's end when it still held then


@dataclass(frozen=True, slots=True)
class Change:
    at: int
    vm: str
    what: str  # migrate, state, vanish, create or short (a create that vanishes soon)
    host_before: str | None


@dataclass
class History:
    hosts: list[str]
    end: int
    spans: dict[str, list[Span]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    _starts: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def at(self, vm: str, t: int) -> tuple[str, str] | None:
        """(host, state) of `vm` at `t`, or None where it did not exist."""
        spans = self.spans.get(vm, [])
        starts = self._starts.get(vm)
        if starts is None or len(starts) != len(spans):
            starts = self._starts[vm] = [s.start for s in spans]
        k = bisect.bisect_right(starts, t) - 1
        if k >= 0 and spans[k].start <= t < spans[k].end:
            return spans[k].host, spans[k].state
        return None

    def on_host(self, host: str, t: int) -> set[str]:
        return {vm for vm in self.spans if (x := self.at(vm, t)) is not None and x[0] == host}

    def changed(self, t_from: int, t_to: int) -> set[str]:
        """The VMs whose existence, host or state at `t_to` differs from `t_from`'s."""
        return {vm for vm in self.spans if self.at(vm, t_from) != self.at(vm, t_to)}

    def samples(self) -> Iterator[tuple[int, Span]]:
        """Each scrape's instant and every span it sees, scrape by scrape."""
        order = sorted((s for spans in self.spans.values() for s in spans), key=lambda s: s.start)
        live: list[Span] = []
        k = 0
        for tick in range(T0_MS, self.end, SCRAPE_MS):
            while k < len(order) and order[k].start <= tick:
                live.append(order[k])
                k += 1
            live = [s for s in live if s.end > tick]
            for s in live:
                yield tick, s

    def write_openmetrics(self, path: Path) -> int:
        """The scrapes as OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`."""
        n = 0
        with path.open("w") as f:
            f.write("# HELP vm_info A VM while it exists, with its host and state.\n")
            f.write("# TYPE vm_info gauge\n")
            for tick, s in self.samples():
                f.write(
                    f'vm_info{{vm="{s.vm}",host="{s.host}",state="{s.state}"}} 1 {tick / 1000:.3f}\n'
                )
                n += 1
            f.write("# EOF\n")
        return n


def vm_id(name: str) -> str:
    return f"vm:{name}"


class _Builder:
    """Plays the random changes forward, writing spans, changes and observations as it goes."""

    def __init__(self, h: History, rng: random.Random) -> None:
        self.h, self.rng = h, rng
        self.open: dict[str, Span] = {}
        self.seq = 0

    def emit(self, at: int, **kw: Any) -> None:
        when = T0 + timedelta(milliseconds=at - T0_MS)
        self.h.observations.append(Observation(SOURCE, when, "event", **kw))

    def close(self, name: str, at: int) -> Span:
        s = self.open.pop(name)
        self.h.spans[name][-1] = Span(s.vm, s.host, s.state, s.start, at)
        return s

    def begin(self, name: str, host: str, state: str, at: int) -> None:
        s = Span(name, host, state, at, self.h.end)
        self.open[name] = s
        self.h.spans.setdefault(name, []).append(s)

    def create(self, at: int) -> str:
        name, host = f"vm-{self.seq:06d}", self.rng.choice(self.h.hosts)
        self.seq += 1
        self.begin(name, host, "running", at)
        return name

    def vanish(self, name: str, at: int) -> None:
        s = self.close(name, at)
        self.emit(at, gone=(vm_id(name),))
        self.h.changes.append(Change(at, name, "vanish", s.host))

    def migrate(self, name: str, at: int) -> None:
        s = self.open[name]
        host = self.rng.choice([x for x in self.h.hosts if x != s.host])
        self.close(name, at)
        self.begin(name, host, s.state, at)
        self.emit(
            at,
            relations=(runs_on(name, host),),
            gone_relations=(RelKey(vm_id(name), "runs_on", f"host:{s.host}"),),
        )
        self.h.changes.append(Change(at, name, "migrate", s.host))

    def flip(self, name: str, at: int) -> None:
        s = self.open[name]
        state = "paused" if s.state == "running" else "running"
        self.close(name, at)
        self.begin(name, s.host, state, at)
        self.emit(at, entities=(vm_obs(name, state),))
        self.h.changes.append(Change(at, name, "state", s.host))


def vm_obs(name: str, state: str) -> EntityObs:
    return EntityObs(vm_id(name), "vm", {"name": name, "state": state, "vcpus": 2})


def runs_on(name: str, host: str) -> RelationObs:
    return RelationObs(RelKey(vm_id(name), "runs_on", f"host:{host}"))


def build(vms: int, hosts: int, hours: float, seed: int = 15) -> History:
    """`vms` VMs at the start over `hosts` hosts, about `vms` changes an hour for `hours`."""
    rng = random.Random(seed)
    h = History([f"hv-{k:03d}" for k in range(hosts)], T0_MS + int(hours * 3_600_000))
    b = _Builder(h, rng)
    first = [b.create(T0_MS) for _ in range(vms)]
    b.emit(
        T0_MS,
        entities=tuple(EntityObs(f"host:{x}", "host", {"hostname": x}) for x in h.hosts)
        + tuple(vm_obs(n, "running") for n in first),
        relations=tuple(runs_on(n, b.open[n].host) for n in first),
    )
    count = int(vms * hours)
    times = sorted(rng.randrange(T0_MS + 60_000, h.end) for _ in range(count))
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)
    # The short-lived VMs' ends, played as they come due between the random changes.
    due: list[tuple[int, str]] = []
    for at, what in zip(times, kinds, strict=True):
        while due and due[0][0] <= at:
            end_at, doomed_vm = heapq.heappop(due)
            b.vanish(doomed_vm, end_at)
        if what in ("create", "short"):
            name = b.create(at)
            b.emit(
                at,
                entities=(vm_obs(name, "running"),),
                relations=(runs_on(name, b.open[name].host),),
            )
            h.changes.append(Change(at, name, what, None))
            if what == "short":
                heapq.heappush(due, (at + rng.randrange(20_000, 290_000), name))
            continue
        doomed = {d[1] for d in due}
        candidates = [n for n in b.open if n not in doomed]
        name = candidates[rng.randrange(len(candidates))]
        {"vanish": b.vanish, "migrate": b.migrate, "state": b.flip}[what](name, at)
    for end_at, name in sorted(due):
        if end_at < h.end:
            b.vanish(name, end_at)
    return h
