"""The graph questions' SQL: the fabric at an instant, and local walks in it.

`query.graph` wants the whole live set at T as cheaply as possible (ids joined
in SQL, attributes left as JSON text until needed); `query.path` wants the
opposite, a few neighbourhoods at T read on demand, so that a path costs the
same on a fabric of 100 or 100,000 entities. Times are integer microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from vtrail.model import JSONValue
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import LIVE_AT, LIVE_RELATIONS, LIVE_VERSIONS

# One parameter carries any number of ids: no 999-variable limit, one plan.
_IDS = "(SELECT e.id FROM entity e WHERE e.eid IN (SELECT value FROM json_each(:ids)))"


@dataclass(frozen=True, slots=True)
class NodeRow:
    eid: str
    kind: str
    valid_from: int
    attrs: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class EdgeRow:
    src: str
    rel: str
    dst: str
    attrs: str


class GraphReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn
        self.checkpoints = store.checkpoints
        self.codec = store.attrs

    def _nodes(self, rows: Iterable[Any]) -> list[NodeRow]:
        rows = list(rows)
        attrs = self.codec.decode_many([r[3] for r in rows])
        return [NodeRow(r[0], r[1], r[2], a) for r, a in zip(rows, attrs, strict=True)]

    # -- the whole fabric -----------------------------------------------------

    def live(self, t: int) -> tuple[list[NodeRow], list[EdgeRow]]:
        """Every entity and relation live at `t`: the nearest checkpoint plus the changes since."""
        ts = self.checkpoints.load(t)
        args = {"ts": ts, "t": t}
        nodes = self.c.execute(
            f"WITH lv AS ({LIVE_VERSIONS}) SELECT e.eid, e.kind, lv.valid_from, lv.attrs "
            "FROM lv JOIN entity e ON e.id = lv.entity",
            args,
        ).fetchall()
        edges = self.c.execute(
            f"WITH lr AS ({LIVE_RELATIONS}) SELECT a.eid, lr.rel, b.eid, lr.attrs FROM lr "
            "JOIN entity a ON a.id = lr.src JOIN entity b ON b.id = lr.dst",
            args,
        ).fetchall()
        return self._nodes(nodes), [EdgeRow(*r) for r in edges]

    # -- local reads ----------------------------------------------------------

    def nodes(self, eids: Collection[str], t: int) -> dict[str, NodeRow]:
        """The versions of these entities live at `t` (absent ones are left out)."""
        if not eids:
            return {}
        rows = self.c.execute(
            "SELECT e.eid, e.kind, v.valid_from, v.attrs FROM entity e "
            "JOIN version v ON v.entity = e.id AND v.valid_from = (SELECT max(valid_from) "
            "FROM version WHERE entity = e.id AND valid_from <= :t) "
            "WHERE e.eid IN (SELECT value FROM json_each(:ids)) "
            "AND (v.valid_to IS NULL OR v.valid_to > :t)",
            {"ids": json.dumps(list(eids)), "t": t},
        )
        return {n.eid: n for n in self._nodes(rows)}

    def edges(
        self, eids: Collection[str], t: int, rels: Iterable[str] | None = None
    ) -> list[EdgeRow]:
        """Relations live at `t` with any of `eids` at either end, optionally of some names."""
        if not eids:
            return []
        live = LIVE_AT.format(a="r")
        rel_sql = ""
        args: dict[str, object] = {"ids": json.dumps(list(eids)), "t": t}
        if rels is not None:
            rel_sql = " AND r.rel IN (SELECT value FROM json_each(:rels))"
            args["rels"] = json.dumps(list(rels))
        rows = self.c.execute(
            "WITH lr AS ("
            f"SELECT r.src, r.rel, r.dst, r.attrs FROM relation r WHERE r.src IN {_IDS} "
            f"AND {live}{rel_sql} UNION "
            f"SELECT r.src, r.rel, r.dst, r.attrs FROM relation r WHERE r.dst IN {_IDS} "
            f"AND {live}{rel_sql}) "
            "SELECT a.eid, lr.rel, b.eid, lr.attrs FROM lr "
            "JOIN entity a ON a.id = lr.src JOIN entity b ON b.id = lr.dst",
            args,
        )
        return [EdgeRow(*r) for r in rows]

    def with_prefix(self, prefix: str, t: int) -> list[str]:
        """Ids starting with `prefix` (e.g. every interface of a namespace) live at `t`.

        A range on the unique index of `entity.eid`, not LIKE, which SQLite
        would turn into a scan.
        """
        hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self.c.execute(
            "SELECT e.eid FROM entity e JOIN version v ON v.entity = e.id "
            "AND v.valid_from = (SELECT max(valid_from) FROM version WHERE entity = e.id "
            "AND valid_from <= :t) WHERE e.eid >= :lo AND e.eid < :hi "
            "AND (v.valid_to IS NULL OR v.valid_to > :t)",
            {"lo": prefix, "hi": hi, "t": t},
        )
        return [str(r[0]) for r in rows]

    def ever_with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with `prefix` ever recorded, alive or not (by the same index range)."""
        hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self.c.execute(
            "SELECT eid FROM entity WHERE eid >= ? AND eid < ? ORDER BY eid", (prefix, hi)
        )
        return [str(r[0]) for r in rows]

    # -- for the page ---------------------------------------------------------

    def change_counts(self, lo: int, hi: int, buckets: int) -> list[int]:
        """How many versions and relations began or ended in each of `buckets` equal slices
        of `[lo, hi]`: the ticks on the time slider."""
        width = max(1, (hi - lo + buckets - 1) // buckets)
        counts = [0] * buckets
        for table in ("version", "relation"):
            for col in ("valid_from", "valid_to"):
                rows = self.c.execute(
                    f"SELECT ({col} - :lo) / :w AS b, count(*) FROM {table} "
                    f"WHERE {col} >= :lo AND {col} <= :hi GROUP BY b",
                    {"lo": lo, "hi": hi, "w": width},
                )
                for b, n in rows:
                    counts[min(int(b), buckets - 1)] += int(n)
        return counts
