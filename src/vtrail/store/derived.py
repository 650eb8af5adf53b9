"""Relations derived from the history rather than observed (membership of services and
domains): written straight into the relation table under a source of their own, and
taken back and written again from any instant, so that they stay a pure function of
what was observed.

No source reports them, so they have no claims and no journal lines: `vtrail rebuild`
derives them again as it replays the journal.
"""

from __future__ import annotations

from collections.abc import Collection

from vtrail.store import checkpoints
from vtrail.store.history import Intervals
from vtrail.store.interfaces import Store

#: A derived relation by entity ids: (src, rel, dst).
Edge = tuple[str, str, str]


class DerivedRelations:
    """The derived relations of one source, for a deriver to bring up to date."""

    def __init__(self, store: Store, source: str, rels: Collection[str]) -> None:
        self.store = store
        self.c = store.conn
        self.source = store.source_id(source)
        self.rels = tuple(sorted(rels))
        self.rows = Intervals(store, "relation", ("src", "rel", "dst"))
        self.opened = 0

    def _key(self, e: Edge) -> tuple[int, str, int]:
        s = self.store
        return (s.entity_id(e[0], create=True), e[1], s.entity_id(e[2], create=True))

    def open(self, e: Edge, t: int) -> None:
        self.rows.open(self._key(e), t, self.source, "{}")
        self.opened += 1

    def close(self, e: Edge, since: int, t: int) -> None:
        key = self._key(e)
        if since >= t:
            # Opened and closed at one instant (a policy replaced then): it never held.
            self.rows.delete_from(key, since)
            self.opened -= 1
        else:
            self.rows.close(key, since, t, None)

    def take_back(self, t: int) -> None:
        """Forget what was derived at or after `t`: rows begun then go, rows ended then
        are open again. The checkpoints from `t` on held them, so they go too."""
        marks = ",".join("?" for _ in self.rels)
        gone = self.c.execute(
            f"DELETE FROM relation WHERE valid_from >= ? AND source = ? AND rel IN ({marks})",
            (t, self.source, *self.rels),
        ).rowcount
        self.store.tally["relation"] = self.store.tally.get("relation", 0) - gone
        self.c.execute(
            "UPDATE relation SET valid_to = NULL, vanished_after = NULL "
            f"WHERE valid_to >= ? AND source = ? AND rel IN ({marks})",
            (t, self.source, *self.rels),
        )
        checkpoints.drop_from(self.c, t)

    def open_now(self) -> dict[Edge, int]:
        """The derived relations still open, with the instant each began."""
        marks = ",".join("?" for _ in self.rels)
        rows = self.c.execute(
            "SELECT a.eid, r.rel, b.eid, r.valid_from FROM relation r "
            "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            f"WHERE r.valid_to IS NULL AND r.source = ? AND r.rel IN ({marks})",
            (self.source, *self.rels),
        )
        return {(a, rel, b): int(vf) for a, rel, b, vf in rows}
