"""What the page needs beside the questions: change ticks, counter series, a search box.

Each is a plain question over the store with a typed answer, so the API
renders them through `to_jsonable` like every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vtrail.query.names import resolve_one
from vtrail.query.state import BadWindow, check_window
from vtrail.store import SqliteStore
from vtrail.store.graph_reads import GraphReader
from vtrail.store.reads import Reader
from vtrail.store.samples import metrics, series
from vtrail.timeexpr import from_us, to_us

MAX_BUCKETS = 2000
MAX_POINTS = 2000


@dataclass(frozen=True, slots=True)
class Timeline:
    #: The recorded span (first and last observation), None for an empty store.
    first: datetime | None
    last: datetime | None
    t_from: datetime | None
    t_to: datetime | None
    #: Versions and relations that began or ended in each equal slice of the window.
    changes: list[int]


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    #: `[time, value]` readings, evenly thinned to at most `MAX_POINTS`.
    points: list[tuple[datetime, int | float]]


@dataclass(frozen=True, slots=True)
class Counters:
    entity: str
    series: list[Series]


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    kind: str
    name: str | None


def timeline(
    store: SqliteStore,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
    buckets: int = 200,
) -> Timeline:
    """How much changed when, over `[t_from, t_to]` (default: the recorded span)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise BadWindow(f"buckets must be between 1 and {MAX_BUCKETS}, not {buckets}")
    span = Reader(store).span()
    if span is None:
        return Timeline(None, None, t_from, t_to, [0] * buckets)
    lo = to_us(t_from) if t_from else span[0]
    hi = to_us(t_to) if t_to else span[1]
    if hi <= lo:
        if t_from is not None or t_to is not None:
            # One end given, the other the recorded span's: refused as any window is.
            check_window(from_us(lo), from_us(hi))
        hi = lo + 1
    counts = GraphReader(store).change_counts(lo, hi, buckets)
    return Timeline(from_us(span[0]), from_us(span[1]), from_us(lo), from_us(hi), counts)


def counters(
    store: SqliteStore,
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
    for m in metrics(store, n):
        points = series(store, n, m, lo, hi)
        step = max(1, -(-len(points) // MAX_POINTS))
        thinned = points[::step]
        if points and thinned[-1] != points[-1]:
            thinned.append(points[-1])
        out.append(Series(m, [(from_us(t), v) for t, v in thinned]))
    return Counters(eid, out)


def search(store: SqliteStore, text: str, limit: int = 20) -> list[SearchHit]:
    """Entities whose id, name, MAC or address contains `text`, shortest ids first."""
    text = text.strip()
    if not text:
        return []
    return [SearchHit(e, k, n) for e, k, n in GraphReader(store).search(text, limit)]
