"""Write-side SQL for the interval tables (version, relation); the journal's is in
store/journal.py, which `HistoryWriter` extends so that the recorder has one writer.

The recorder decides; this module only says how it is stored. Keys are interned
integers: an entity is `(e,)`, a relation `(src, rel, dst)`. A claim is keyed
`(a, rel, b)` with `rel = ''` and `b = 0` for an entity.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from vtrail.store import checkpoints
from vtrail.store.claims import ClaimTable
from vtrail.store.conn import send
from vtrail.store.interfaces import Store
from vtrail.store.journal import Journal

#: How many labels the writer remembers having written before it forgets them all.
LABELS_KNOWN = 1 << 20

EntityKey = tuple[int]
RelationKey = tuple[int, str, int]


class Current(NamedTuple):
    """The latest interval of a key: open when `valid_to` is None. A tuple, made twice
    for every statement recorded: a frozen dataclass took twice as long."""

    valid_from: int
    valid_to: int | None
    attrs: str
    source: int = 0
    vanished_after: int | None = None


class Intervals:
    """Open/close/latest on one interval table, with its SQL built once."""

    def __init__(
        self,
        store: Store,
        table: str,
        keycols: tuple[str, ...],
        claims: ClaimTable | None = None,
    ) -> None:
        self.c = store.conn
        self.table = table
        # A write makes what the claim table fetched ahead of the key stale.
        self._claims = claims
        self._entity = keycols == ("entity",)
        self._tally = store.tally
        where = " AND ".join(f"{k} = ?" for k in keycols)
        cols = ", ".join(keycols)
        marks = ", ".join("?" for _ in keycols)
        cur = "SELECT valid_from, valid_to, attrs, source, vanished_after"
        self._latest = f"{cur} FROM {table} WHERE {where} ORDER BY valid_from DESC LIMIT 1"
        self._before = (
            f"{cur} FROM {table} WHERE {where} AND valid_from < ? ORDER BY valid_from DESC LIMIT 1"
        )
        self._overlapping = (
            f"{cur} FROM {table} WHERE {where} AND valid_from < ? "
            "AND (valid_to IS NULL OR valid_to > ?) ORDER BY valid_from"
        )
        self._delete_from = f"DELETE FROM {table} WHERE {where} AND valid_from >= ?"
        self._update = (
            f"UPDATE {table} SET valid_to = ?, vanished_after = ?, source = ?, attrs = ? "
            f"WHERE {where} AND valid_from = ?"
        )
        self._open = (
            f"INSERT INTO {table} ({cols}, valid_from, valid_to, source, vanished_after, attrs) "
            f"VALUES ({marks}, ?, NULL, ?, NULL, ?)"
        )
        self._reopen = (
            f"UPDATE {table} SET valid_to = NULL, source = ?, vanished_after = NULL, attrs = ? "
            f"WHERE {where} AND valid_from = ?"
        )
        self._close = (
            f"UPDATE {table} SET valid_to = ?, vanished_after = ? WHERE {where} AND valid_from = ?"
        )
        self._drop_after = f"DELETE FROM {table} WHERE valid_from >= ?"
        self._reopen_after = (
            f"UPDATE {table} SET valid_to = NULL, vanished_after = NULL WHERE valid_to >= ?"
        )

    def latest(self, key: tuple[int | str, ...]) -> Current | None:
        row = self.c.execute(self._latest, key).fetchone()
        return Current(*row) if row else None

    def before(self, key: tuple[int | str, ...], t: int) -> Current | None:
        """The last interval that began before `t`."""
        row = self.c.execute(self._before, (*key, t)).fetchone()
        return Current(*row) if row else None

    def overlapping(self, key: tuple[int | str, ...], start: int, end: int | None) -> list[Current]:
        """The intervals that hold at some instant of `[start, end)` (`end` None: on and on)."""
        rows = self.c.execute(self._overlapping, (*key, 2**62 if end is None else end, start))
        return [Current(*r) for r in rows]

    def _forget(self, key: tuple[int | str, ...]) -> None:
        if self._claims is not None:
            k = (int(key[0]), "", 0) if self._entity else key
            self._claims.forget(k)  # type: ignore[arg-type]

    def delete_from(self, key: tuple[int | str, ...], t: int) -> None:
        self._forget(key)
        self._count(-self.c.execute(self._delete_from, (*key, t)).rowcount)

    def _count(self, n: int) -> None:
        self._tally[self.table] = self._tally.get(self.table, 0) + n

    def rewrite(self, key: tuple[int | str, ...], row: Current) -> None:
        """Set the end, source and attrs of the interval that begins at `row.valid_from`."""
        self._forget(key)
        self.c.execute(
            self._update,
            (row.valid_to, row.vanished_after, row.source, row.attrs, *key, row.valid_from),
        )

    def open(self, key: tuple[int | str, ...], t: int, source: int, attrs: str) -> None:
        self._forget(key)
        try:
            send(self.c, self._open, (*key, t, source, attrs), (self.table, *key, t))
        except sqlite3.IntegrityError:
            # An interval of the key began at `t` already: it is that one, open again.
            if not self.c.execute(self._reopen, (source, attrs, *key, t)).rowcount:
                raise
            return
        self._count(1)

    def close(
        self, key: tuple[int | str, ...], valid_from: int, t: int, vanished_after: int | None
    ) -> None:
        self._forget(key)
        send(
            self.c,
            self._close,
            (t, vanished_after, *key, valid_from),
            (self.table, *key, valid_from),
        )

    def rollback(self, t: int) -> None:
        """Forget what was derived at or after `t` (the journal re-derives it)."""
        if self._claims is not None:
            self._claims.forget_all()
        self._count(-self.c.execute(self._drop_after, (t,)).rowcount)
        self.c.execute(self._reopen_after, (t,))


class HistoryWriter(Journal):
    """All writes the recorder makes, grouped by table."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.claims = ClaimTable(store)
        self.versions = Intervals(store, "version", ("entity",), self.claims)
        self.relations = Intervals(store, "relation", ("src", "rel", "dst"), self.claims)

    def label(self, entity: int, key: str, value: str) -> None:
        known = self.store.labelled
        if (entity, key, value) in known:
            return
        if len(known) >= LABELS_KNOWN:
            known.clear()
        self.store.labels_due.append((key, value, entity))
        known.add((entity, key, value))

    # -- checkpoints ----------------------------------------------------------

    def since_checkpoint(self) -> tuple[int, int]:
        """(size of the latest checkpoint, versions and relations begun since it)."""
        row = self.c.execute("SELECT ts, size FROM checkpoint ORDER BY ts DESC LIMIT 1").fetchone()
        ts, size = (int(row[0]), int(row[1])) if row else (-(2**62), 0)
        n = self.c.execute(
            "SELECT (SELECT count(*) FROM version WHERE valid_from >= ?) "
            "+ (SELECT count(*) FROM relation WHERE valid_from >= ?)",
            (ts, ts),
        ).fetchone()[0]
        return size, int(n)

    def drop_checkpoints(self, ts: int) -> None:
        """Forget checkpoints at or after `ts`: history before them changed."""
        checkpoints.drop_from(self.c, ts)

    def checkpoint(self, ts: int) -> int | None:
        """Save the live set as of just before `ts`; its size, or None if one exists there."""
        return checkpoints.take(self.c, ts)

    # -- rollback -------------------------------------------------------------

    def rollback(self, t: int) -> None:
        """Undo everything derived from observations at or after `t`."""
        self.versions.rollback(t)
        self.relations.rollback(t)
        self.claims.rollback(t)
        checkpoints.drop_from(self.c, t)
