"""What each VM used in a window, from its counters, billed to the place it was then.

A counter's growth between two readings is billed at the later reading: to the window
when that reading is in `(from, to]`, and to the stretch of the VM's life it falls in,
`(start, end]`. A reading lower than the one before is a reset (the process restarted,
the VM was stopped and started): what it reads is counted whole, as `lifetime` counts
it (docs/observations.md). A series' first reading counts nothing, but for one that
takes over from another series of the same counter (a VM that moved, read by its new
host's collector): the counter restarted with the VM's new process, so its first
reading is counted whole too.

A block whose readings all fall in one stretch is counted from its row. One cut by the
window's start or end, or by a stretch's (a single-source series across a migration),
is counted from its growth up to each cut, which its marks give for a few readings
decoded (store/marks.py): the growth of its readings in `(a, b]` is the growth up to
`b` less the growth up to `a`. A block without marks (one holding floats, or written
before them) is decoded whole and each reading billed in turn.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from vtrail.accounting.stretches import Fabric, Place
from vtrail.store import Store
from vtrail.store.marks import growth_at
from vtrail.store.reads.account import Block, before, blocks, contents
from vtrail.store.samples import Num, as_num, decode

CPU, DISK_READ, DISK_WRITE, NET_RX, NET_TX = range(5)


def kind_of(metric: str) -> int | None:
    if metric == "cpu_time_ns":
        return CPU
    if metric == "rx_bytes":
        return NET_RX
    if metric == "tx_bytes":
        return NET_TX
    if metric.startswith("disk."):
        return DISK_READ if metric.endswith(".rd_bytes") else DISK_WRITE
    return None


@dataclass(slots=True)
class Used:
    #: CPU nanoseconds, disk bytes read and written, network bytes received and sent.
    counts: list[int | float] = field(default_factory=lambda: [0, 0, 0, 0, 0])


def _step(prev: Num | None, v: Num) -> Num:
    if prev is None:
        return 0
    return v - prev if v >= prev else v


class _Places:
    """A VM's places in time order: which one a reading at `t` is billed to."""

    def __init__(self, fabric: Fabric, vm: str) -> None:
        found = fabric.stretches[vm]
        self.starts = [s.start for s in found]
        self.places = [s.place for s in found]

    def index(self, t: int) -> int:
        return max(0, bisect.bisect_left(self.starts, t) - 1)

    def walk(
        self,
        readings: list[tuple[int, Num]],
        prev: Num | None,
        lo: int,
        hi: int,
        kind: int,
        out: dict[Place, Used],
    ) -> Num | None:
        """Bill each reading's growth in `(lo, hi]` to its place; the last reading."""
        grown: Num = 0
        k = -1
        for t, v in readings:
            if lo < t <= hi:
                if k < 0 or (k + 1 < len(self.starts) and self.starts[k + 1] < t):
                    if k >= 0:
                        out[self.places[k]].counts[kind] += grown
                    k, grown = self.index(t), 0
                grown += _step(prev, v)
            prev = v
        if k >= 0:
            out[self.places[k]].counts[kind] += grown
        return prev

    def cut(
        self,
        b: Block,
        data: bytes,
        marks: bytes,
        prev: Num | None,
        lo: int,
        hi: int,
        kind: int,
        out: dict[Place, Used],
    ) -> None:
        """As `walk`, for a block of integers with marks: its growth between each two cuts
        (the window's ends, the starts of stretches) billed to the stretch it falls in."""
        first = int(as_num(b.first))
        if lo < b.t0 <= hi:
            out[self.places[self.index(b.t0)]].counts[kind] += _step(prev, first)
        a, end = max(lo, b.t0), min(hi, b.t1)
        if a >= end:
            return
        starts = self.starts
        if len(starts) == 1:
            cuts = [a, end]  # one place: the window's ends only
        else:
            inside = starts[bisect.bisect_right(starts, a) : bisect.bisect_left(starts, end)]
            cuts = [a, *inside, end]
        # Up to the block's first reading it has grown by nothing, up to its last by all.
        within = [x for x in cuts if b.t0 < x < b.t1]
        found = iter(growth_at(b.t0, first, data, marks, within))
        total = int(as_num(b.increase))
        grown = [0 if x <= b.t0 else total if x >= b.t1 else next(found) for x in cuts]
        for k in range(1, len(cuts)):
            out[self.places[self.index(cuts[k])]].counts[kind] += grown[k] - grown[k - 1]

    def one(self, t0: int, t1: int) -> Place | None:
        """The one place every reading in `[t0, t1]` is billed to, if there is one."""
        if len(self.places) == 1:
            return self.places[0]
        i, j = self.index(t0), self.index(t1)
        first = self.places[i]
        return first if all(self.places[k] == first for k in range(i + 1, j + 1)) else None


def _series(group: Iterable[Block]) -> list[list[Block]]:
    """A counter's blocks (in source, then time order) as one list per source."""
    out: list[list[Block]] = []
    for b in group:
        if out and out[-1][0].source == b.source:
            out[-1].append(b)
        else:
            out.append([b])
    return out


def usage(store: Store, fabric: Fabric, lo: int, hi: int) -> dict[Place, Used]:
    """Each place's counted growth of CPU time, disk and network bytes in `(lo, hi]`."""
    prior = {(b.entity, b.metric, b.source): b.value for b in before(store, lo)}
    seen_before = {(e, m) for e, m, _s in prior}
    out: dict[Place, Used] = defaultdict(Used)
    places: dict[str, _Places] = {}
    for (entity, metric), group in itertools.groupby(
        blocks(store, lo, hi), key=lambda b: (b.entity, b.metric)
    ):
        kind = kind_of(metric)
        vm = fabric.nic_vm.get(entity, entity)
        if kind is None or vm is None or vm not in fabric.stretches:
            continue
        where = places.get(vm) or places.setdefault(vm, _Places(fabric, vm))
        found = _series(group)
        began = [lo if (entity, metric, x[0].source) in prior else x[0].t0 for x in found]
        first = min(began, default=hi) if (entity, metric) not in seen_before else lo
        for series, start in zip(found, began, strict=True):
            prev: Num | None = prior.get((entity, metric, series[0].source))
            if prev is None and first < start:
                prev = float("inf")  # taking over: the first reading counts whole
            for b in series:
                one = where.one(b.t0, b.t1) if lo <= b.t0 and b.t1 <= hi else None
                if one is not None:
                    # A first reading on the window's start is where counting starts from.
                    head = _step(prev, as_num(b.first)) if b.t0 > lo else 0
                    out[one].counts[kind] += head + as_num(b.increase)
                else:
                    data, marks = contents(store, b)
                    if marks is None:
                        where.walk(decode(b.t0, as_num(b.first), data), prev, lo, hi, kind, out)
                    else:
                        where.cut(b, data, marks, prev, lo, hi, kind, out)
                prev = as_num(b.last)
    return out
