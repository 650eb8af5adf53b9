"""An entity's counter series over a window, thinned for drawing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vtrail.query.names import resolve_one
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.samples import metrics, series
from vtrail.timeexpr import from_us, to_us

MAX_POINTS = 2000


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    #: The source that read it; None for readings recorded before sources were told apart.
    source: str | None
    #: A level (a probe's loss, an RTT) rather than a count.
    gauge: bool
    #: `[time, value]` readings, evenly thinned to at most `MAX_POINTS`.
    points: list[tuple[datetime, int | float]]


@dataclass(frozen=True, slots=True)
class Counters:
    entity: str
    series: list[Series]


def counters(
    store: Store,
    entity: str,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> Counters:
    """Every counter series of an entity, optionally within a window."""
    check_window(t_from, t_to)
    eid = resolve_one(store, entity)
    n = store.entity_id(eid)
    lo = to_us(t_from) if t_from else None
    hi = to_us(t_to) if t_to else None
    out = []
    for k in metrics(store, n):
        points = series(store, n, k.metric, lo, hi, k.source)
        step = max(1, -(-len(points) // MAX_POINTS))
        thinned = points[::step]
        if points and thinned[-1] != points[-1]:
            thinned.append(points[-1])
        source = store.source_name(k.source) if k.source else None
        out.append(Series(k.metric, source, k.gauge, [(from_us(t), v) for t, v in thinned]))
    return Counters(eid, out)
