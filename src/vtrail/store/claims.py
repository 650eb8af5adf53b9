"""Write-side SQL for per-source statements: the `claim` table.

A claim row says that one source reported one entity or relation over
`[since, until)`, and what it said then (`attrs`). A source that is the only
one reporting a key keeps one row for as long as it reports it, with `attrs`
NULL: its statement is then the merged version itself, so a single-source
history costs no second copy. Once another source reports the same key, each
row holds its source's statement, and a change of statement starts a new row.
`first` is when the source's unbroken reporting of the key began; the merge
(`vtrail.recording.merge`) uses it to rank sources.

Keys are interned integers: `(a, rel, b)` with `rel = ''` and `b = 0` for an
entity.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtrail.store.conn import NeedsWholeStore, send
from vtrail.store.interfaces import Store

ClaimKey = tuple[int, str, int]
#: A source's open claims: `(first, attrs)` by key.
OpenClaims = dict[ClaimKey, tuple[int, str | None]]

_COLS = "source, since, until, first, attrs, vanished_after"


@dataclass(frozen=True, slots=True)
class Claim:
    source: int
    since: int
    until: int | None
    #: When the source's unbroken reporting of the key began (the merge's rank).
    first: int
    #: The source's statement; None while it was the only source (see the module).
    attrs: str | None
    vanished_after: int | None = None

    def active_at(self, t: int) -> bool:
        return self.since <= t and (self.until is None or self.until > t)


def _claim(row: tuple[int, int, int | None, int | None, str | None, int | None]) -> Claim:
    source, since, until, first, attrs, va = row
    return Claim(source, since, until, since if first is None else first, attrs, va)


#: What `with_latest` answers for a key: its rows from some instant on, and its latest
#: version or relation interval.
Latest = tuple[int, int | None, str, int, int | None]


#: How many keys a recorder keeps the statements and latest version of between
#: batches (`keep`), about 450 bytes each (60 MB when full): a VM whose state
#: changes again is then written without asking the store first. Past it, all are
#: dropped at once.
KEPT_MAX = 1 << 17
#: A kept row: `Claim`'s fields in its order. Plain tuples of numbers and text are
#: left out of the cyclic collector's passes; a hundred thousand kept `Claim`s
#: made each pass of a process that also reads (`vtrail serve`) walk them.
_Row = tuple[int, int, int | None, int, str | None, int | None]


class ClaimTable:
    def __init__(self, store: Store) -> None:
        self.c = store.conn
        self._store = store
        #: `with_latest`'s answers for a batch's keys, fetched in one statement each for
        #: entities and relations (`fetch_ahead`), from `_ahead_t` on. A key leaves
        #: it when it is asked or written, whichever comes first.
        self._ahead: dict[ClaimKey, tuple[list[Claim], Latest | None]] = {}
        self._ahead_t = 0
        #: `with_latest`'s answers as this table's own writes left them, `(t, rows,
        #: latest)` with the rows that hold at `t` or later, kept across batches while
        #: no one else writes (`begin`). A write to the key drops it (`forget`).
        self._kept: dict[ClaimKey, tuple[int, tuple[_Row, ...], Latest | None]] = {}
        #: `(commits_elsewhere, writes_begun)` as this table's batch began, or None
        #: while nothing may be kept.
        self._seen: tuple[int, int] | None = None
        #: The entities a write that locked only what its batch names may touch (None:
        #: any). A key of another raises `NeedsWholeStore` before anything is written
        #: to it; so does a write of a whole source.
        self.scope: set[int] | None = None

    def begin(self, own: bool) -> None:
        """A batch begins, in a write of its own (`own`) or in one it joined. What was
        kept stands only if the last write to the store was this table's previous
        batch: no other connection committed since, and no other writer of this
        store object wrote."""
        seen, self._seen = self._seen, None
        if own:
            elsewhere = self._store.commits_elsewhere()
            if elsewhere is not None:
                self._seen = (elsewhere, self._store.writes_begun)
        if seen is None or self._seen != (seen[0], seen[1] + 1):
            self._kept.clear()

    def keep(self, key: ClaimKey, t: int, rows: list[Claim], latest: Latest | None) -> None:
        """`with_latest(key, t)` answers `rows, latest` now; kept for later batches."""
        if self._seen is None:
            return
        if len(self._kept) >= KEPT_MAX:
            self._kept.clear()
        kept = tuple((r.source, r.since, r.until, r.first, r.attrs, r.vanished_after) for r in rows)
        self._kept[key] = (t, kept, latest)

    def of_key(self, key: ClaimKey, t: int) -> list[Claim]:
        """The key's rows that hold at `t` or later (open, or ending at or after `t`)."""
        rows = self.c.execute(
            f"SELECT {_COLS} FROM claim WHERE a = ? AND rel = ? AND b = ? "
            "AND (until IS NULL OR until >= ?)",
            (*key, t),
        )
        return [_claim(r) for r in rows]

    def with_latest(self, key: ClaimKey, t: int) -> tuple[list[Claim], Latest | None]:
        """`of_key(key, t)` and the key's latest version or relation interval
        (`valid_from, valid_to, attrs, source, vanished_after`), in one statement:
        the recorder asks both for every statement it records."""
        ahead = self._ahead.pop(key, None)
        if ahead is not None and t >= self._ahead_t:
            return [r for r in ahead[0] if r.until is None or r.until >= t], ahead[1]
        kept = self._kept.get(key)
        if kept is not None and t >= kept[0]:
            return [Claim(*r) for r in kept[1] if r[2] is None or r[2] >= t], kept[2]
        sql = self._with_latest_entity if key[1] == "" else self._with_latest_relation
        args = (*key, t, key[0]) if key[1] == "" else (*key, t, *key)
        rows: list[Claim] = []
        latest: Latest | None = None
        for tag, a, b, c, d, e, f in self.c.execute(sql, args):
            if tag:
                latest = (a, b, e, d, f)
            else:
                rows.append(_claim((a, b, c, d, e, f)))
        return rows, latest

    _CLAIMS = (
        f"SELECT 0, {_COLS} FROM claim WHERE a = ? AND rel = ? AND b = ? "
        "AND (until IS NULL OR until >= ?)"
    )
    _with_latest_entity = (
        f"{_CLAIMS} UNION ALL SELECT * FROM (SELECT 1, valid_from, valid_to, "
        "CAST(NULL AS BIGINT), source, attrs, vanished_after FROM version WHERE entity = ? "
        "ORDER BY valid_from DESC LIMIT 1) AS latest"
    )
    _with_latest_relation = (
        f"{_CLAIMS} UNION ALL SELECT * FROM (SELECT 1, valid_from, valid_to, "
        "CAST(NULL AS BIGINT), source, attrs, vanished_after FROM relation "
        "WHERE src = ? AND rel = ? AND dst = ? ORDER BY valid_from DESC LIMIT 1) AS latest"
    )

    def fetch_ahead(self, keys: set[ClaimKey], t: int) -> None:
        """Ask `with_latest(key, t')` for every key at once, for any `t' >= t`; a key
        with no rows and no interval is answered too. One statement per kind of key,
        so that a batch costs a round trip here, not one per observation. A server
        store's only (its SQL is PostgreSQL's)."""
        self._ahead.clear()
        self._ahead_t = t
        if not keys:
            return
        found: dict[ClaimKey, tuple[list[Claim], Latest | None]] = {k: ([], None) for k in keys}
        entities = [k[0] for k in keys if k[1] == ""]
        rels = [k for k in keys if k[1] != ""]
        asks: list[tuple[str, tuple[object, ...]]] = []
        if entities:
            asks.append((self._ahead_entities, (entities, t, entities)))
        if rels:
            cols = ([k[0] for k in rels], [k[1] for k in rels], [k[2] for k in rels])
            asks.append((self._ahead_relations, (*cols, t, *cols)))
        for sql, args in asks:
            for tag, a, rel, b, *rest in self.c.execute(sql, args):
                key = (int(a), str(rel), int(b))
                if tag:
                    vf, vt, attrs, source, va = rest[1], rest[2], rest[4], rest[0], rest[5]
                    found[key] = (found[key][0], (vf, vt, attrs, source, va))
                else:
                    found[key][0].append(_claim(tuple(rest)))
        self._ahead = found

    def forget(self, key: ClaimKey) -> None:
        """`key` is being written: what was fetched ahead of it no longer holds."""
        self._mine(key)
        self._ahead.pop(key, None)
        self._kept.pop(key, None)

    def _mine(self, key: ClaimKey) -> None:
        scope = self.scope
        if scope is not None and (key[0] not in scope or (key[1] != "" and key[2] not in scope)):
            raise NeedsWholeStore(f"the batch writes key {key}, which it did not lock")

    def nothing_yet(self, key: ClaimKey) -> None:
        """`key` has no rows and no interval (its entity was new to the store)."""
        self._ahead[key] = ([], None)

    def batch_done(self) -> None:
        """What was fetched ahead for a batch is not for the next."""
        self._ahead.clear()

    def forget_all(self) -> None:
        """A write was rolled back, or history taken back: nothing kept holds."""
        self._ahead.clear()
        self._kept.clear()

    # In PostgreSQL's own dialect: only a server store asks ahead (`Dialect.remote`).
    # Each key is looked up by its index (LATERAL), whatever the planner believes of
    # the tables' sizes: a freshly grown table's statistics would have it scan them.
    # `OFFSET 0` keeps a plain subquery from being pulled up into a join the planner
    # may then turn around (a scan of every open claim, each against every key).
    _C = ", ".join("c." + x for x in _COLS.split(", "))
    _ahead_entities = (
        f"SELECT 0, k.e, '', 0, {_C} FROM unnest(CAST(? AS BIGINT[])) AS k(e) "
        "JOIN LATERAL (SELECT * FROM claim WHERE a = k.e AND rel = '' AND b = 0 "
        "AND (until IS NULL OR until >= ?) OFFSET 0) c ON true "
        "UNION ALL SELECT 1, k.e, '', 0, v.source, v.valid_from, v.valid_to, "
        "CAST(NULL AS BIGINT), v.attrs, v.vanished_after "
        "FROM unnest(CAST(? AS BIGINT[])) AS k(e) JOIN LATERAL (SELECT * FROM version "
        "WHERE entity = k.e ORDER BY valid_from DESC LIMIT 1) v ON true"
    )
    _ahead_relations = (
        f"SELECT 0, k.a, k.r, k.b, {_C} "
        "FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS k(a, r, b) "
        "JOIN LATERAL (SELECT * FROM claim WHERE a = k.a AND rel = k.r AND b = k.b "
        "AND (until IS NULL OR until >= ?) OFFSET 0) c ON true "
        "UNION ALL SELECT 1, k.a, k.r, k.b, v.source, v.valid_from, v.valid_to, "
        "CAST(NULL AS BIGINT), v.attrs, v.vanished_after "
        "FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS k(a, r, b) "
        "JOIN LATERAL (SELECT * FROM relation WHERE src = k.a AND rel = k.r AND dst = k.b "
        "ORDER BY valid_from DESC LIMIT 1) v ON true"
    )

    def ends_named(self, sources: list[str], gone: list[tuple[str, str]]) -> set[str]:
        """The entities a batch may end without naming them: each of `sources` reports
        now (a snapshot of theirs ends what it leaves out), and those joined to a gone
        entity by what its source reports (`(source, entity)`: an edge ends with it).
        In one statement, in PostgreSQL's dialect: for a server store's locks."""
        rows = self.c.execute(
            "SELECT e.eid FROM claim c JOIN source s ON s.id = c.source "
            "JOIN entity e ON e.id = c.a OR e.id = c.b "
            "WHERE c.until IS NULL AND s.name = ANY(CAST(? AS TEXT[])) "
            "UNION SELECT e.eid FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS g(src, eid) "
            "JOIN source s ON s.name = g.src JOIN entity x ON x.eid = g.eid "
            "JOIN claim c ON c.source = s.id AND c.until IS NULL AND c.rel != '' "
            "AND (c.a = x.id OR c.b = x.id) JOIN entity e ON e.id = c.a OR e.id = c.b",
            (sources, [s for s, _ in gone], [e for _, e in gone]),
        )
        return {str(r[0]) for r in rows}

    def at(self, key: ClaimKey, t: int) -> list[Claim]:
        """The key's rows in force at `t`."""
        rows = self.c.execute(
            f"SELECT {_COLS} FROM claim WHERE a = ? AND rel = ? AND b = ? AND since <= ? "
            "AND (until IS NULL OR until > ?)",
            (*key, t, t),
        )
        return [_claim(r) for r in rows]

    def open_of_source(self, source: int) -> OpenClaims:
        """What `source` reports now: `(first, attrs)` by key. Plain tuples: a
        snapshot of thousands of things reads this each time."""
        rows = self.c.execute(
            "SELECT a, rel, b, ifnull(first, since), attrs FROM claim "
            "WHERE source = ? AND until IS NULL",
            (source,),
        )
        return {(a, rel, b): (first, attrs) for a, rel, b, first, attrs in rows}

    def open_one(self, key: ClaimKey, source: int) -> Claim | None:
        row = self.c.execute(
            f"SELECT {_COLS} FROM claim WHERE a = ? AND rel = ? AND b = ? AND source = ? "
            "AND until IS NULL",
            (*key, source),
        ).fetchone()
        return _claim(row) if row else None

    def relation_keys_of(self, entity: int, source: int) -> list[ClaimKey]:
        """The source's open relation claims with `entity` at either end."""
        rows = self.c.execute(
            "SELECT a, rel, b FROM claim WHERE a = ? AND rel != '' AND source = ? "
            "AND until IS NULL UNION SELECT a, rel, b FROM claim WHERE b = ? AND rel != '' "
            "AND source = ? AND until IS NULL",
            (entity, source, entity, source),
        )
        return [(int(a), str(rel), int(b)) for a, rel, b in rows]

    def keys_of_source_from(self, source: int, t: int) -> set[ClaimKey]:
        """Keys whose rows from `source` hold at or after `t`: begin or end then, or
        are still open."""
        rows = self.c.execute(
            "SELECT a, rel, b FROM claim WHERE source = ? AND since >= ? "
            "UNION SELECT a, rel, b FROM claim WHERE source = ? AND until >= ? "
            "UNION SELECT a, rel, b FROM claim WHERE source = ? AND until IS NULL",
            (source, t, source, t, source),
        )
        return {(int(a), str(rel), int(b)) for a, rel, b in rows}

    # -- writes ---------------------------------------------------------------

    def open(
        self,
        key: ClaimKey,
        source: int,
        since: int,
        first: int,
        attrs: str | None,
        until: int | None = None,
        vanished_after: int | None = None,
    ) -> None:
        self.forget(key)
        send(
            self.c,
            "INSERT INTO claim (a, rel, b, source, since, until, first, attrs, vanished_after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (a, rel, b, source, since) "
            "DO UPDATE SET until = excluded.until, first = excluded.first, "
            "attrs = excluded.attrs, vanished_after = excluded.vanished_after",
            (*key, source, since, until, first, attrs, vanished_after),
            ("claim", *key, source, since),
        )

    def close(self, key: ClaimKey, row: Claim, t: int, vanished_after: int | None = None) -> None:
        """End `row` at `t`; a row that would hold for no time at all is removed."""
        self.forget(key)
        row_id = ("claim", *key, row.source, row.since)
        if row.since >= t:
            send(
                self.c,
                "DELETE FROM claim WHERE a = ? AND rel = ? AND b = ? AND source = ? AND since = ?",
                (*key, row.source, row.since),
                row_id,
            )
            return
        send(
            self.c,
            "UPDATE claim SET until = ?, vanished_after = ? WHERE a = ? AND rel = ? AND b = ? "
            "AND source = ? AND since = ?",
            (t, vanished_after, *key, row.source, row.since),
            row_id,
        )

    def rollback(self, t: int, source: int | None = None) -> None:
        """Undo what was derived from observations at or after `t` (of one source, or all)."""
        if self.scope is not None:
            raise NeedsWholeStore("the batch takes back what a source said")
        self.forget_all()
        only = "" if source is None else " AND source = ?"
        args: tuple[int, ...] = (t,) if source is None else (t, source)
        self.c.execute(f"DELETE FROM claim WHERE since >= ?{only}", args)
        self.c.execute(
            f"UPDATE claim SET until = NULL, vanished_after = NULL WHERE until >= ?{only}", args
        )
