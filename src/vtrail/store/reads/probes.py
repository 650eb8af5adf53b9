"""The health questions' SQL: the `probe.*` series of some entities over a window.

A probe's results are gauge samples on its target (`probe.loss`, `probe.rtt_ms`,
`probe.ok`, …) from a source naming the probe and its vantage, so one target
probed from two vantages has two series of each metric. Most rounds are good,
and a block of gauge readings says so in its row: its least, greatest and
summed reading (0015_gauge_summaries), so that `probe_blocks` hands a question
the rows and lets it decode only the blocks it must. `probe_series` decodes
every block, but one of `probe.loss` readings that are all zero, or of
`probe.ok` readings that are all one, says so in its row (first reading and
growth) even from before the summaries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from vtrail.store.interfaces import Store
from vtrail.store.reads.samples import block_data
from vtrail.store.samples import Num, as_num, decode

#: Every probe metric starts so; `_PAST` sorts right after all of them.
PREFIX = "probe."
_PAST = "probe/"

_SQL = (
    "SELECT e.eid, s.metric, s.source, s.t0, s.t1, s.n, s.v_first, s.v_last, s.increase, "
    "{data}, s.v_min, s.v_max, s.v_sum, {rowid} FROM {table} s JOIN entity e ON e.id = s.entity "
    "WHERE e.eid IN (SELECT value FROM json_each(:ids)) AND s.metric >= :lo_m "
    "AND s.metric < :hi_m AND s.metric IN (SELECT value FROM json_each(:metrics)) "
    "AND s.t1 >= :lo AND s.t0 <= :hi"
)


@dataclass(slots=True)
class ProbeSeries:
    """One metric of one target as one source read it, within the window."""

    entity: str
    metric: str
    source: str
    #: (instant in µs, value), in time order; for a block known to hold only its
    #: steady value (all zero loss, all ok) only its first and last readings.
    points: list[tuple[int, Num]] = field(default_factory=list)


def _steady(metric: str, v_first: Num, v_last: Num, increase: Num) -> bool:
    """A block whose readings all equal its first, known from its row alone: loss never
    below 0 and ok only 0 or 1, so a block that starts at 0 (ok: 1) and never grew holds
    nothing else."""
    if metric == "probe.loss":
        return v_first == 0 and increase == 0
    if metric == "probe.ok":
        return v_first == 1 and v_last == 1 and increase == 0
    return False


@dataclass(frozen=True, slots=True)
class Block:
    """One block of readings as its row holds it."""

    t0: int
    t1: int
    n: int
    v_first: Num
    v_last: Num
    #: None for a block written before 0015_gauge_summaries: it must be decoded.
    v_min: Num | None
    v_max: Num | None
    v_sum: Num | None
    #: The readings after the first, read only when the block is decoded.
    data: Callable[[], bytes] = field(compare=False)

    def points(self) -> list[tuple[int, Num]]:
        return decode(self.t0, self.v_first, self.data())


@dataclass(slots=True)
class ProbeBlocks:
    """Every metric of one target as one source read it: its blocks by metric, in time
    order, for whoever judges them from their rows."""

    entity: str
    source: str
    blocks: dict[str, list[Block]] = field(default_factory=dict)


def _num(v: int | float | str | None) -> Num | None:
    return None if v is None else as_num(v)


def probe_blocks(
    store: Store, entities: Collection[str], metrics: Collection[str], lo: int, hi: int
) -> list[ProbeBlocks]:
    """The blocks of `metrics` (each starting `probe.`) on `entities` that reach into
    `[lo, hi]`, undecoded, by entity and source."""
    found: dict[tuple[str, int], ProbeBlocks] = {}
    rows = _rows(store, entities, metrics, lo, hi, data=False)
    for eid, metric, source, t0, t1, n, vf, vl, _inc, data, v_min, v_max, v_sum, rowid in rows:
        pb = found.get((eid, source))
        if pb is None:
            name = store.source_name(source) if source else ""
            pb = found[(eid, source)] = ProbeBlocks(eid, name)
        block = Block(
            t0,
            t1,
            n,
            as_num(vf),
            as_num(vl),
            _num(v_min),
            _num(v_max),
            _num(v_sum),
            _loader(store, rowid) if data is None else _held(data),
        )
        pb.blocks.setdefault(metric, []).append(block)
    return list(found.values())


def _held(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _loader(store: Store, rowid: int) -> Callable[[], bytes]:
    """A sealed block's readings, read when it is decoded: a day of a hundred members'
    rounds is tens of megabytes of blocks, of which a question decodes a few."""
    return lambda: block_data(store, rowid)


def _rows(
    store: Store,
    entities: Collection[str],
    metrics: Collection[str],
    lo: int,
    hi: int,
    *,
    data: bool = True,
) -> list[tuple[Any, ...]]:
    """The rows of both tables, by entity, metric, source and time; a sealed block's
    readings only with `data` (its rowid, to read them later, always). The block still
    filling has no rowid and is one per series: its readings always come along."""
    if not entities or not metrics:
        return []
    args = {
        "ids": json.dumps(sorted(entities)),
        "metrics": json.dumps(sorted(metrics)),
        "lo_m": PREFIX,
        "hi_m": _PAST,
        "lo": lo,
        "hi": hi,
    }
    sealed = _SQL.format(table="sample", data="s.data" if data else "NULL", rowid="s.rowid")
    rows = [
        *store.conn.execute(sealed, args),
        *store.conn.execute(_SQL.format(table="sample_open", data="s.data", rowid="NULL"), args),
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    return rows


def probe_series(
    store: Store, entities: Collection[str], metrics: Collection[str], lo: int, hi: int
) -> list[ProbeSeries]:
    """The series of `metrics` (each starting `probe.`) on `entities` with readings in
    `[lo, hi]`, by entity, metric and source."""
    found: dict[tuple[str, str, int], ProbeSeries] = {}
    for eid, metric, source, t0, t1, _n, v_first, v_last, increase, data, *_ in _rows(
        store, entities, metrics, lo, hi
    ):
        key = (eid, metric, source)
        s = found.get(key)
        if s is None:
            s = found[key] = ProbeSeries(eid, metric, store.source_name(source) if source else "")
        first = as_num(v_first)
        if _steady(metric, first, as_num(v_last), as_num(increase)):
            s.points += [(t0, first)] if t0 == t1 else [(t0, first), (t1, first)]
            continue
        s.points += decode(t0, first, data)
    for s in found.values():
        s.points = [p for p in s.points if lo <= p[0] <= hi]
    return list(found.values())
