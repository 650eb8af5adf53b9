"""The asset questions' SQL: every life of one kind, with what it was born and ended as.

Continuity (`vtrail.assets.continuity`) compares the disks a VM ended with against
those another was born with, and the MACs each ever had: one row per VM and per
NIC, each found by seeks on the version key, never a scan of the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtrail.model import JSONValue
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import bulk

_LIVES = """
WITH b AS (
  SELECT e.id, e.eid,
         (SELECT min(valid_from) FROM version WHERE entity = e.id) AS lo,
         (SELECT max(valid_from) FROM version WHERE entity = e.id) AS hi
  FROM entity e WHERE e.kind = ?
)
SELECT b.eid, f.valid_from, f.attrs, l.valid_to, l.attrs
FROM b JOIN version f ON f.entity = b.id AND f.valid_from = b.lo
       JOIN version l ON l.entity = b.id AND l.valid_from = b.hi
ORDER BY b.eid
"""


@dataclass(frozen=True, slots=True)
class Life:
    """One entity from its first version to its last (microseconds; `end` None: alive)."""

    eid: str
    first: int
    end: int | None
    #: Its attributes when first recorded, and when last.
    born: dict[str, JSONValue]
    last: dict[str, JSONValue]


class AssetReader:
    def __init__(self, store: Store) -> None:
        self.s = store
        self.c = store.conn

    def lives(self, kind: str) -> list[Life]:
        """Every entity of `kind` ever recorded, by id."""
        rows = self.c.execute(_LIVES, (kind,)).fetchall()
        with bulk():
            born = self.s.attrs.decode_many([r[2] for r in rows])
            last = self.s.attrs.decode_many([r[4] for r in rows])
            return [
                Life(str(r[0]), int(r[1]), None if r[3] is None else int(r[3]), a, b)
                for r, a, b in zip(rows, born, last, strict=True)
            ]

    def firsts(self, kind: str) -> dict[str, int]:
        """When each entity of `kind` was first recorded."""
        rows = self.c.execute(
            "SELECT e.eid, (SELECT min(valid_from) FROM version WHERE entity = e.id) "
            "FROM entity e WHERE e.kind = ?",
            (kind,),
        )
        return {str(a): int(b) for a, b in rows if b is not None}
