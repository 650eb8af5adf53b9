"""The journal: every raw observation, in a file of its own (`jnl`), and how far the
history holds it.

A row keeps who sent an observation, its kind, instant, arrival and content
hash for ever: that is its identity (the same `(observed_at, source, hash)`
twice is one observation) and what says when each source was last seen. Its
body, the text itself, is stored as store/bodies.py says (whole, packed, or a
delta from a keyframe of the same source), and `compact` may drop it once it
is old enough: the history derived from it stays, but it can no longer be
replayed, so a rebuild, or a late observation that would replay it, is refused.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vtrail.store.bodies import SMALL, Bodies
from vtrail.store.conn import send
from vtrail.store.interfaces import Store
from vtrail.store.interning import StoreError
from vtrail.store.sqlite import journal_path
from vtrail.timeexpr import from_us, iso_us

#: Bodies packed per transaction by `compact`, so that a recorder writing
#: beside it waits for one short transaction at a time.
PACK_BATCH = 200
#: A dropped body: an empty BLOB (a kept body is never empty).
DROPPED = b""


class BodiesDropped(StoreError):
    """A replay would need journal bodies that `vtrail compact` dropped."""


@dataclass(frozen=True, slots=True)
class JournalRow:
    seq: int
    source: str
    kind: str
    observed_at: int
    hash: int
    payload: str


@dataclass(frozen=True, slots=True)
class Compacted:
    """What one `compact` did."""

    packed: int
    dropped: int
    horizon: datetime | None
    bytes_before: int
    bytes_after: int


_APPEND = (
    "INSERT OR IGNORE INTO journal (source, kind, observed_at, recorded_at, hash, base, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Journal:
    """Appends to the journal and reads it back, bodies decoded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.c = store.conn
        self.bodies = Bodies(self.c, typed=store.dialect.typed_columns)
        cols = {r[0] for r in self.c.execute("SELECT name FROM pragma_table_info('journal')")}
        # A store opened read-only is not migrated: before 0009_journal_bodies every
        # body was the text itself, in `payload`.
        self._body = "payload, NULL" if "payload" in cols else "body, base"
        #: The identities in the journal of the batch being appended (`expect`).
        self._expected: set[tuple[int, int, int]] | None = None

    # -- appending ------------------------------------------------------------

    def expect(self, identities: list[tuple[int, int, int]]) -> None:
        """The next appends are these `(observed_at, source, hash)`: ask at once which
        the journal holds already, so that `journal_add` need not read each INSERT's
        answer (a round trip on a server). Until `expected()`."""
        instants = sorted({t for t, _, _ in identities})
        # PostgreSQL's dialect: only a server store asks ahead (`Dialect.remote`); each
        # instant by the journal's index, whatever the planner believes of its size
        # (`OFFSET 0`: the lookup stays one, not a join the planner may turn around).
        rows = self.c.execute(
            "SELECT j.observed_at, j.source, j.hash FROM unnest(CAST(? AS BIGINT[])) AS k(t) "
            "JOIN LATERAL (SELECT observed_at, source, hash FROM journal "
            "WHERE observed_at = k.t OFFSET 0) j ON true",
            (instants,),
        )
        self._expected = {(int(t), int(s), int(h)) for t, s, h in rows}

    def expected(self) -> None:
        self._expected = None

    def journal_add(
        self, source: int, kind: str, observed_at: int, recorded_at: int, h: int, payload: str
    ) -> bool:
        """Append a raw observation; False when this very observation is already there."""
        known = self._expected
        if known is not None:
            if (observed_at, source, h) in known:
                return False
            known.add((observed_at, source, h))
        elif len(payload) >= SMALL and self._known(observed_at, source, h):
            return False  # spares encoding a large body again (a file read again)
        base, body = self.bodies.encode(source, payload)
        row = (source, kind, observed_at, recorded_at, h, base, body)
        keyframe = base is None and isinstance(body, bytes)
        if known is not None and not keyframe:
            send(self.c, _APPEND, row)  # nothing of its answer is read
            return True
        cur = self.c.execute(_APPEND, row)
        if known is None and not cur.rowcount:
            return False
        if keyframe:
            self.bodies.appended(source, int(cur.lastrowid or 0), h, payload)
        return True

    def _known(self, observed_at: int, source: int, h: int) -> bool:
        row = self.c.execute(
            "SELECT 1 FROM journal WHERE observed_at = ? AND source = ? AND hash = ?",
            (observed_at, source, h),
        ).fetchone()
        return row is not None

    def count_observations(self, per_source: dict[int, int]) -> None:
        """Add a batch's newly journalled observations to each source's counter."""
        self.c.executemany(
            "UPDATE source SET observations = observations + ? WHERE id = ?",
            [(n, src) for src, n in per_source.items()],
        )

    def recount_observations(self) -> None:
        """Count again from the journal, after a repair took observations out of it."""
        self.c.execute(
            "UPDATE source SET observations = "
            "(SELECT count(*) FROM journal WHERE journal.source = source.id)"
        )

    # -- keeping in step with the history --------------------------------------

    def journal_top(self) -> int:
        """The seq of the newest journal entry (0 for none)."""
        return int(self.c.execute("SELECT ifnull(max(seq), 0) FROM journal").fetchone()[0])

    def journal_take_after(self, seq: int) -> list[tuple[str, int]]:
        """Remove and return `(payload, recorded_at)` of the entries after `seq`, in order."""
        rows = self.c.execute(
            f"SELECT seq, {self._body}, recorded_at FROM journal WHERE seq > ? ORDER BY seq",
            (seq,),
        ).fetchall()
        out = [(self._decode(s, body, base), int(t)) for s, body, base, t in rows]
        self.c.execute("DELETE FROM journal WHERE seq > ?", (seq,))
        self.c.execute("DELETE FROM journal_base WHERE seq > ?", (seq,))
        return out

    def applied(self) -> tuple[int, int]:
        """`(seq, since)`: the newest journal entry the history holds, and the earliest
        instant of the batch that brought it in."""
        row = self.c.execute("SELECT seq, since FROM applied").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def in_step(self) -> bool:
        """Whether the history holds exactly the journal (one statement: it runs per batch).
        On a server they commit in one transaction, so they always do: there is no
        `applied` there (0019_pg_writers_at_once), one row every writer would wait for."""
        if self.store.dialect.remote:
            return True
        row = self.c.execute(
            "SELECT ifnull((SELECT seq FROM applied), 0) = "
            "(SELECT ifnull(max(seq), 0) FROM journal)"
        ).fetchone()
        return bool(row[0])

    def mark_applied(self, since: int) -> None:
        """The history now holds the whole journal; its last batch began at `since`."""
        if self.store.dialect.remote:
            return
        self.c.execute(
            "INSERT INTO applied VALUES (1, (SELECT ifnull(max(seq), 0) FROM journal), ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, since = excluded.since",
            (since,),
        )

    # -- order and presence -----------------------------------------------------

    def watermark(self) -> tuple[int, str, int] | None:
        """The order key `(observed_at, source name, hash)` of the latest observation applied."""
        rows = self.c.execute(
            "SELECT j.observed_at, s.name, j.hash FROM journal j JOIN source s ON s.id = j.source "
            "WHERE j.observed_at = (SELECT max(observed_at) FROM journal)"
        ).fetchall()
        return max((int(t), str(n), int(h)) for t, n, h in rows) if rows else None

    def source_mark(self, source: int) -> tuple[int, int] | None:
        """The order key `(observed_at, hash)` of the source's latest observation."""
        row = self.c.execute(
            "SELECT max(observed_at), max(hash) FROM journal WHERE source = ? AND observed_at = "
            "(SELECT max(observed_at) FROM journal WHERE source = ?)",
            (source, source),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def previous_of_source(self, source: int, before: int) -> tuple[str, int] | None:
        """`(kind, observed_at)` of the source's last observation strictly before `before`."""
        row = self.c.execute(
            "SELECT kind, observed_at FROM journal WHERE source = ? AND observed_at < ? "
            "ORDER BY observed_at DESC, seq DESC LIMIT 1",
            (source, before),
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def last_seen_before(self, source: int, before: int) -> int | None:
        """When the source last reported anything (not a disconnect) before `before`."""
        row = self.c.execute(
            "SELECT max(observed_at) FROM journal WHERE source = ? AND observed_at < ? "
            "AND kind != 'disconnect'",
            (source, before),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    # -- replaying --------------------------------------------------------------

    def journal_since(self, t: int, source: int | None = None) -> list[JournalRow]:
        """Observations at or after `t` (of one source, or all), in the recorder's order.

        `BodiesDropped` if any of them can no longer be replayed: the caller's
        transaction then writes nothing."""
        only = "" if source is None else " AND j.source = ?"
        rows = self.c.execute(
            f"SELECT j.seq, s.name, j.kind, j.observed_at, j.hash, {_prefixed(self._body)} "
            f"FROM journal j JOIN source s ON s.id = j.source WHERE j.observed_at >= ?{only} "
            "ORDER BY j.seq",
            (t,) if source is None else (t, source),
        ).fetchall()
        if any(r[5] == DROPPED for r in rows):
            raise BodiesDropped(
                f"cannot put an observation of {iso_us(t)} in its place: the journal "
                f"bodies it would replay, from before {self._horizon_text()}, were dropped by "
                "vtrail compact"
            )
        out = [
            JournalRow(int(r[0]), r[1], r[2], int(r[3]), int(r[4]), self._decode(r[0], r[5], r[6]))
            for r in rows
        ]
        out.sort(key=lambda r: (r.observed_at, r.source, r.hash))
        return out

    def entries(self) -> Iterator[tuple[str, int]]:
        """`(payload, recorded_at)` of every raw observation, in arrival order, for a
        rebuild; `BodiesDropped` at once, before anything is read, if some were dropped."""
        if self.horizon() is not None:
            raise BodiesDropped(
                f"cannot rebuild {self.store.path}: the journal bodies of observations before "
                f"{self._horizon_text()} were dropped by vtrail compact (its history is kept, "
                "but can no longer be replayed from the start)"
            )
        return self._entries()

    def _entries(self) -> Iterator[tuple[str, int]]:
        rows = self.c.execute(f"SELECT seq, {self._body}, recorded_at FROM journal ORDER BY seq")
        for seq, body, base, t in rows:
            yield self._decode(seq, body, base), int(t)

    def _decode(self, seq: int, body: str | bytes, base: int | None) -> str:
        try:
            return self.bodies.decode(base, body)
        except (LookupError, ValueError) as e:
            raise StoreError(f"journal entry {seq} cannot be read: {e}") from None

    # -- compaction -------------------------------------------------------------

    def horizon(self) -> int | None:
        """Bodies of observations before this instant were dropped; None: all are kept."""
        try:
            row = self.c.execute("SELECT keep_from FROM journal_horizon").fetchone()
        except sqlite3.OperationalError:
            return None  # a store read before 0009_journal_bodies: nothing was ever dropped
        return int(row[0]) if row else None

    def _horizon_text(self) -> str:
        return iso_us(self.horizon()) or "its horizon"

    def compact(self, keep_from: int | None) -> Compacted:
        """Pack every body still kept as large text, drop the bodies of observations
        before `keep_from` (None: drop nothing), then give the space back to the disk.

        A dropped body's row stays: the observation is still known (a duplicate is
        still a duplicate) and its history is untouched. Keyframes that kept bodies
        are deltas of stay, and so does each source's current keyframe."""
        size = self._journal_bytes()
        dropped = self.drop_bodies(keep_from) if keep_from is not None else 0
        packed = self._pack()
        if dropped or packed:
            self.c.execute("PRAGMA temp_store=FILE")  # VACUUM copies the whole journal
            try:
                self.c.execute("VACUUM jnl")
                self.c.execute("PRAGMA jnl.wal_checkpoint(TRUNCATE)")
            finally:
                self.c.execute("PRAGMA temp_store=MEMORY")
        h = self.horizon()
        return Compacted(
            packed, dropped, from_us(h) if h is not None else None, size, self._journal_bytes()
        )

    def drop_bodies(self, keep_from: int) -> int:
        """Drop the bodies of observations before `keep_from`, but those a later delta
        or a source's current keyframe stands on, and move the horizon; how many went.
        Both stores' `compact` begin with it."""
        with self.store.write():
            n = self.c.execute(
                "UPDATE journal SET body = ?, base = NULL WHERE observed_at < ? AND body != ? "
                "AND seq NOT IN (SELECT base FROM journal WHERE observed_at >= ? "
                "AND base IS NOT NULL) AND seq NOT IN (SELECT seq FROM journal_base)",
                (DROPPED, keep_from, DROPPED, keep_from),
            ).rowcount
            if n:
                self.c.execute(
                    "INSERT INTO journal_horizon VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
                    "SET keep_from = max(keep_from, excluded.keep_from), at = excluded.at",
                    (keep_from, time.time_ns() // 1000),
                )
        return n

    def _pack(self) -> int:
        """Bodies kept as text (written before 0009, or small) of SMALL or more become
        keyframes and deltas, source by source, in order."""
        todo = self.c.execute(
            "SELECT source, seq FROM journal WHERE typeof(body) = 'text' AND length(body) >= ? "
            "ORDER BY source, seq",
            (SMALL,),
        ).fetchall()
        # Keyframes of its own: each source's current one stays the appends'.
        packer = Bodies(self.c, own_keyframes=True)
        for i in range(0, len(todo), PACK_BATCH):
            with self.store.write():
                for source, seq in todo[i : i + PACK_BATCH]:
                    h, text = self.c.execute(
                        "SELECT hash, body FROM journal WHERE seq = ?", (seq,)
                    ).fetchone()
                    base, body = packer.encode(source, text)
                    self.c.execute(
                        "UPDATE journal SET base = ?, body = ? WHERE seq = ?", (base, body, seq)
                    )
                    if base is None and isinstance(body, bytes):
                        packer.appended(source, seq, int(h), text)
        return len(todo)

    def _journal_bytes(self) -> int:
        path = journal_path(self.store.path)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _prefixed(body: str) -> str:
    return ", ".join(c if c == "NULL" else f"j.{c}" for c in body.split(", "))
