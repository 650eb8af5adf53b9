"""How much changed when: the ticks under the page's time slider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vtrail.query.state import BadWindow, check_window
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.stats import StatsReader
from vtrail.timeexpr import from_us, to_us

MAX_BUCKETS = 2000


@dataclass(frozen=True, slots=True)
class Timeline:
    #: The recorded span (first and last observation), None for an empty store.
    first: datetime | None
    last: datetime | None
    t_from: datetime | None
    t_to: datetime | None
    #: Versions and relations that began or ended in each equal slice of the window.
    changes: list[int]


def timeline(
    store: Store,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
    buckets: int = 200,
) -> Timeline:
    """How much changed when, over `[t_from, t_to]` (default: the recorded span)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise BadWindow(f"buckets must be between 1 and {MAX_BUCKETS}, not {buckets}")
    span = StatsReader(store).span()
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
