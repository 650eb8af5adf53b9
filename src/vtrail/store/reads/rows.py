"""What the readers share: the live set at an instant in SQL, window bounds, batch decoding."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Row `{a}` is live at `:t`.
LIVE_AT = "{a}.valid_from <= :t AND ({a}.valid_to IS NULL OR {a}.valid_to > :t)"
# The live set at :t: the members of the checkpoint loaded at :ts (CheckpointCache)
# that are still live, and what began since. CROSS JOIN keeps the checkpoint
# driving: otherwise the planner may walk `*_from` over the whole history before T.
LIVE_VERSIONS = (
    "SELECT v.* FROM temp._cp_version m CROSS JOIN version v "
    "ON v.entity = m.entity AND v.valid_from = m.valid_from WHERE {live} "
    "UNION ALL SELECT v.* FROM version v WHERE v.valid_from >= :ts AND {live}"
).format(live=LIVE_AT.format(a="v"))
LIVE_RELATIONS = (
    "SELECT r.* FROM temp._cp_relation m CROSS JOIN relation r ON r.src = m.src "
    "AND r.rel = m.rel AND r.dst = m.dst AND r.valid_from = m.valid_from WHERE {live} "
    "UNION ALL SELECT r.* FROM relation r WHERE r.valid_from >= :ts AND {live}"
).format(live=LIVE_AT.format(a="r"))


@contextmanager
def bulk() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector for a block that makes many objects
    and forms no cycle that must go sooner; the pass that falls due runs after it.

    Turning 100k rows into objects sets it off dozens of times, and each pass
    walks the whole heap: 15 % of a snapshot in a small process, 35 % in one
    holding two million objects. The recorder holds it off for a batch, and an
    allocator for its turn (vtrail.ipam.queue), where one pass kept every
    allocator queued behind waiting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def loads_many(texts: list[str]) -> list[Any]:
    """Many JSON texts in one parse: far cheaper than a `json.loads` per row."""
    return list(json.loads("[" + ",".join(texts) + "]")) if texts else []


def bounds(t_from: int | None, t_to: int | None) -> tuple[int, int]:
    """A window whose open ends reach past any recorded instant."""
    return (t_from if t_from is not None else -(2**62), t_to if t_to is not None else 2**62)
