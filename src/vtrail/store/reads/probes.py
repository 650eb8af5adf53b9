"""The health questions' SQL: the `probe.*` series of some entities over a window.

A probe's results are gauge samples on its target (`probe.loss`, `probe.rtt_ms`,
`probe.ok`, …) from a source naming the probe and its vantage, so one target
probed from two vantages has two series of each metric. Most rounds are good:
a block of `probe.loss` readings that are all zero, or of `probe.ok` readings
that are all one, says so in its row (first reading and growth), and is
counted without being decoded.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

from vtrail.store.interfaces import Store
from vtrail.store.samples import Num, as_num, decode

#: Every probe metric starts so; `_PAST` sorts right after all of them.
PREFIX = "probe."
_PAST = "probe/"

_SQL = (
    "SELECT e.eid, s.metric, s.source, s.t0, s.t1, s.n, s.v_first, s.v_last, s.increase, "
    "s.data FROM {table} s JOIN entity e ON e.id = s.entity "
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


def probe_series(
    store: Store, entities: Collection[str], metrics: Collection[str], lo: int, hi: int
) -> list[ProbeSeries]:
    """The series of `metrics` (each starting `probe.`) on `entities` with readings in
    `[lo, hi]`, by entity, metric and source."""
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
    rows = [
        *store.conn.execute(_SQL.format(table="sample"), args),
        *store.conn.execute(_SQL.format(table="sample_open"), args),
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    found: dict[tuple[str, str, int], ProbeSeries] = {}
    for eid, metric, source, t0, t1, _n, v_first, v_last, increase, data in rows:
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
