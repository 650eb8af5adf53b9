"""Write-side SQL for the interval tables (version, relation, claim); the journal's is in
store/journal.py, which `HistoryWriter` extends so that the recorder has one writer.

The recorder decides; this module only says how it is stored. Keys are interned
integers: an entity is `(e,)`, a relation `(src, rel, dst)`. A claim is keyed
`(a, rel, b)` with `rel = ''` and `b = 0` for an entity.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtrail.store import checkpoints
from vtrail.store.journal import Journal
from vtrail.store.sqlite import SqliteStore

EntityKey = tuple[int]
RelationKey = tuple[int, str, int]
ClaimKey = tuple[int, str, int]


@dataclass(frozen=True, slots=True)
class Current:
    """The latest interval of a key: open when `valid_to` is None."""

    valid_from: int
    valid_to: int | None
    attrs: str


class Intervals:
    """Open/close/latest on one interval table, with its SQL built once."""

    def __init__(self, store: SqliteStore, table: str, keycols: tuple[str, ...]) -> None:
        self.c = store.conn
        where = " AND ".join(f"{k} = ?" for k in keycols)
        cols = ", ".join(keycols)
        marks = ", ".join("?" for _ in keycols)
        self._latest = (
            f"SELECT valid_from, valid_to, attrs FROM {table} WHERE {where} "
            "ORDER BY valid_from DESC LIMIT 1"
        )
        self._open = (
            f"INSERT INTO {table} ({cols}, valid_from, valid_to, source, vanished_after, attrs) "
            f"VALUES ({marks}, ?, NULL, ?, NULL, ?) "
            f"ON CONFLICT ({cols}, valid_from) DO UPDATE SET valid_to = NULL, "
            "source = excluded.source, vanished_after = NULL, attrs = excluded.attrs"
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
        return Current(row[0], row[1], row[2]) if row else None

    def open(self, key: tuple[int | str, ...], t: int, source: int, attrs: str) -> None:
        self.c.execute(self._open, (*key, t, source, attrs))

    def close(
        self, key: tuple[int | str, ...], valid_from: int, t: int, vanished_after: int | None
    ) -> None:
        self.c.execute(self._close, (t, vanished_after, *key, valid_from))

    def rollback(self, t: int) -> None:
        """Forget what was derived at or after `t` (the journal re-derives it)."""
        self.c.execute(self._drop_after, (t,))
        self.c.execute(self._reopen_after, (t,))


class HistoryWriter(Journal):
    """All writes the recorder makes, grouped by table."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.versions = Intervals(store, "version", ("entity",))
        self.relations = Intervals(store, "relation", ("src", "rel", "dst"))

    def label(self, entity: int, key: str, value: str) -> None:
        self.c.execute("INSERT OR IGNORE INTO label VALUES (?, ?, ?)", (key, value, entity))

    # -- claims ---------------------------------------------------------------

    def open_claims(self, source: int) -> dict[ClaimKey, int]:
        """What `source` reports now, each with the instant it started to."""
        rows = self.c.execute(
            "SELECT a, rel, b, since FROM claim WHERE source = ? AND until IS NULL", (source,)
        )
        return {(a, rel, b): since for a, rel, b, since in rows}

    def has_claim(self, key: ClaimKey, source: int) -> bool:
        row = self.c.execute(
            "SELECT 1 FROM claim WHERE a = ? AND rel = ? AND b = ? AND source = ? "
            "AND until IS NULL",
            (*key, source),
        ).fetchone()
        return row is not None

    def claim_since(self, key: ClaimKey, source: int) -> int | None:
        row = self.c.execute(
            "SELECT since FROM claim WHERE a = ? AND rel = ? AND b = ? AND source = ? "
            "AND until IS NULL",
            (*key, source),
        ).fetchone()
        return int(row[0]) if row else None

    def open_claim(self, key: ClaimKey, source: int, t: int) -> None:
        self.c.execute(
            "INSERT INTO claim (a, rel, b, source, since, until, vanished_after) "
            "VALUES (?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (a, rel, b, source, since) "
            "DO UPDATE SET until = NULL, vanished_after = NULL",
            (*key, source, t),
        )

    def close_claim(self, key: ClaimKey, source: int, t: int, vanished_after: int | None) -> None:
        self.c.execute(
            "UPDATE claim SET until = ?, vanished_after = ? WHERE a = ? AND rel = ? AND b = ? "
            "AND source = ? AND until IS NULL",
            (t, vanished_after, *key, source),
        )

    def claimed_by_others(self, key: ClaimKey, source: int) -> bool:
        row = self.c.execute(
            "SELECT 1 FROM claim WHERE a = ? AND rel = ? AND b = ? AND source != ? "
            "AND until IS NULL LIMIT 1",
            (*key, source),
        ).fetchone()
        return row is not None

    def relation_claims_of(self, entity: int, source: int) -> list[ClaimKey]:
        """The source's open relation claims with `entity` at either end."""
        rows = self.c.execute(
            "SELECT a, rel, b FROM claim WHERE a = ? AND rel != '' AND source = ? "
            "AND until IS NULL UNION SELECT a, rel, b FROM claim WHERE b = ? AND rel != '' "
            "AND source = ? AND until IS NULL",
            (entity, source, entity, source),
        )
        return [(int(a), str(rel), int(b)) for a, rel, b in rows]

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

    def checkpoint(self, ts: int) -> int | None:
        """Save the live set as of just before `ts`; its size, or None if one exists there."""
        return checkpoints.take(self.c, ts)

    # -- rollback -------------------------------------------------------------

    def rollback(self, t: int) -> None:
        """Undo everything derived from observations at or after `t`."""
        self.versions.rollback(t)
        self.relations.rollback(t)
        self.c.execute("DELETE FROM claim WHERE since >= ?", (t,))
        self.c.execute(
            "UPDATE claim SET until = NULL, vanished_after = NULL WHERE until >= ?", (t,)
        )
        checkpoints.drop_from(self.c, t)
