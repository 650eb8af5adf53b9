"""Read-side SQL: rows of the interval tables as model objects, at an instant or over a window.

Times are integer microseconds here; `vtrail.query` speaks datetimes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from vtrail.model import Relation, RelKey, Statement, Version
from vtrail.store.journal import Journal
from vtrail.store.sqlite import SqliteStore
from vtrail.timeexpr import from_us, to_us

_V = "v.entity, e.eid, e.kind, v.valid_from, v.valid_to, v.attrs, v.source, v.vanished_after"
_R = "r.src, r.rel, r.dst, r.valid_from, r.valid_to, r.attrs, r.source, r.vanished_after"
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


def _opt(us: int | None) -> Any:
    return None if us is None else from_us(us)


@contextmanager
def bulk() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while rows become objects.

    Turning 100k rows into objects sets it off dozens of times, and each pass
    walks the whole heap: 15 % of a snapshot in a small process, 35 % in one
    holding two million objects. Nothing built here forms a cycle, so the
    collection can wait until the objects are built.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Reader:
    """Every question's SQL. One per store; cheap to make."""

    def __init__(self, store: SqliteStore) -> None:
        self.s = store
        self.c = store.conn
        self.checkpoints = store.checkpoints

    # -- row mapping ----------------------------------------------------------

    def _version(self, row: Sequence[Any], attrs: Any = None) -> Version:
        _, eid, kind, vf, vt, text, src, va = row
        return Version(
            eid,
            kind,
            from_us(vf),
            _opt(vt),
            self.s.attrs.decode(text) if attrs is None else attrs,
            self.s.source_name(src),
            _opt(va),
        )

    def _versions(self, rows: Sequence[Sequence[Any]]) -> list[Version]:
        with bulk():
            return self._build_versions(rows)

    def _build_versions(self, rows: Sequence[Sequence[Any]]) -> list[Version]:
        # The snapshot's hot loop: names resolved once per source, not once per row.
        attrs = self.s.attrs.decode_many([r[5] for r in rows])
        names: dict[int, str] = {}
        out = []
        at = from_us
        for (_, eid, kind, vf, vt, _text, src, va), a in zip(rows, attrs, strict=True):
            name = names.get(src)
            if name is None:
                name = names[src] = self.s.source_name(src)
            out.append(
                Version(
                    eid,
                    kind,
                    at(vf),
                    None if vt is None else at(vt),
                    a,
                    name,
                    None if va is None else at(va),
                )
            )
        return out

    def _relation(self, row: Sequence[Any], attrs: Any = None) -> Relation:
        a, rel, b, vf, vt, text, src, va = row
        return Relation(
            RelKey(self.s.entity_name(a), rel, self.s.entity_name(b)),
            from_us(vf),
            _opt(vt),
            json.loads(text) if attrs is None else attrs,
            self.s.source_name(src),
            _opt(va),
        )

    def _relations(self, rows: Sequence[Sequence[Any]]) -> list[Relation]:
        with bulk():
            attrs = loads_many([r[5] for r in rows])
            return [self._relation(r, a) for r, a in zip(rows, attrs, strict=True)]

    # -- one entity -----------------------------------------------------------

    def version_at(self, e: int, t: int) -> Version | None:
        # One seek on the version key and nothing else: the caller has just
        # resolved the id, so its name is cached, and the kind is its prefix
        # (ids are checked when recorded).
        row = self.c.execute(
            "SELECT valid_from, valid_to, attrs, source, vanished_after FROM version "
            "WHERE entity = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
            (e, t),
        ).fetchone()
        if row is None or (row[1] is not None and row[1] <= t):
            return None
        eid = self.s.entity_name(e)
        vf, vt, text, src, va = row
        return self._version((e, eid, eid.partition(":")[0], vf, vt, text, src, va))

    def versions(self, e: int, t_from: int | None = None, t_to: int | None = None) -> list[Version]:
        lo, hi = _bounds(t_from, t_to)
        rows = self.c.execute(
            f"SELECT {_V} FROM version v JOIN entity e ON e.id = v.entity WHERE v.entity = ? "
            "AND v.valid_from < ? AND (v.valid_to IS NULL OR v.valid_to > ?) ORDER BY v.valid_from",
            (e, hi, lo),
        )
        return [self._version(r) for r in rows]

    def statements(
        self, e: int, t_from: int | None = None, t_to: int | None = None
    ) -> list[Statement]:
        """What each source said of the entity over the window, in order. A source
        that was alone kept no copy of its own (store/claims.py): its statements
        are the versions of its interval."""
        lo, hi = _bounds(t_from, t_to)
        rows = self.c.execute(
            "SELECT source, since, until, ifnull(first, since), attrs FROM claim "
            "WHERE a = ? AND rel = '' AND b = 0 AND since < ? AND (until IS NULL OR until > ?) "
            "ORDER BY since, source",
            (e, hi, lo),
        ).fetchall()
        out: list[Statement] = []
        for src, since, until, first, text in rows:
            name = self.s.source_name(src)
            if text is not None:
                out.append(
                    Statement(
                        name, from_us(since), _opt(until), self.s.attrs.decode(text), from_us(first)
                    )
                )
                continue
            end = hi if until is None else min(until, hi)
            for v in self.versions(e, max(since, lo), end):
                vf, vt = max(to_us(v.valid_from), since), v.valid_to
                if until is not None and (vt is None or to_us(vt) > until):
                    vt = from_us(until)
                out.append(Statement(name, from_us(vf), vt, v.attrs, from_us(first)))
        # A statement split only because another source came or went is one statement.
        out.sort(key=lambda s: (s.source, s.valid_from))
        joined: list[Statement] = []
        for s in out:
            last = joined[-1] if joined else None
            if (
                last is not None
                and last.source == s.source
                and last.valid_to == s.valid_from
                and last.attrs == s.attrs
            ):
                joined[-1] = replace(last, valid_to=s.valid_to)
            else:
                joined.append(s)
        return sorted(joined, key=lambda s: (s.valid_from, s.source))

    def relations_at(self, e: int, t: int) -> list[Relation]:
        """Edges live at `t` with `e` at either end."""
        live = LIVE_AT.format(a="r")
        rows = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.src = :e AND {live} "
            f"UNION ALL SELECT {_R} FROM relation r WHERE r.dst = :e AND {live}",
            {"e": e, "t": t},
        )
        return [self._relation(r) for r in rows]

    def relations(
        self, e: int, t_from: int | None = None, t_to: int | None = None
    ) -> list[Relation]:
        lo, hi = _bounds(t_from, t_to)
        cond = "r.valid_from < :hi AND (r.valid_to IS NULL OR r.valid_to > :lo)"
        rows = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.src = :e AND {cond} "
            f"UNION ALL SELECT {_R} FROM relation r WHERE r.dst = :e AND {cond}",
            {"e": e, "lo": lo, "hi": hi},
        )
        return sorted((self._relation(r) for r in rows), key=lambda r: r.valid_from)

    def first_last(self, e: int) -> tuple[int, int | None, int | None] | None:
        """(first valid_from, last valid_to or None if alive, vanished_after of the end)."""
        row = self.c.execute(
            "SELECT min(valid_from), max(valid_from) FROM version WHERE entity = ?", (e,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        last = self.c.execute(
            "SELECT valid_to, vanished_after FROM version WHERE entity = ? AND valid_from = ?",
            (e, row[1]),
        ).fetchone()
        return int(row[0]), last[0], last[1]

    # -- finding --------------------------------------------------------------

    def by_attr(self, name: str, value: str) -> list[int]:
        rows = self.c.execute("SELECT entity FROM label WHERE key = ? AND value = ?", (name, value))
        return [int(r[0]) for r in rows]

    def by_id_pattern(self, pattern: str) -> list[str]:
        """Ids matching a LIKE pattern: a scan of every id, for tests and tools, not questions."""
        rows = self.c.execute("SELECT eid FROM entity WHERE eid LIKE ? LIMIT 50", (pattern,))
        return [str(r[0]) for r in rows]

    def nics_with_mac(self, mac: str) -> list[str]:
        """Every NIC whose id ends in `/<mac>` (nic:<uuid>/<mac>), by the index of 0011."""
        rows = self.c.execute(
            "SELECT eid FROM entity WHERE kind = 'nic' AND lower(substr(eid, -18)) = ? LIMIT 50",
            ("/" + mac.lower(),),
        )
        return [str(r[0]) for r in rows]

    def kind(self, e: int) -> str:
        row = self.c.execute("SELECT kind FROM entity WHERE id = ?", (e,)).fetchone()
        return str(row[0]) if row else ""

    # -- the whole fabric -----------------------------------------------------

    def snapshot(self, t: int, kind: str | None = None) -> tuple[list[Version], list[Relation]]:
        """Everything live at `t`: from the nearest checkpoint plus the changes since."""
        ts = self.checkpoints.load(t)
        args = {"ts": ts, "t": t, "kind": kind}
        kind_sql = " WHERE e.kind = :kind" if kind else ""
        vrows = self.c.execute(
            f"WITH lv AS ({LIVE_VERSIONS}) SELECT {_V} FROM lv v "
            f"JOIN entity e ON e.id = v.entity{kind_sql}",
            args,
        ).fetchall()
        rrows = self.c.execute(
            f"WITH lr AS ({LIVE_RELATIONS}) SELECT {_R} FROM lr r", args
        ).fetchall()
        versions = self._versions(vrows)
        relations = self._relations(rrows)
        if kind:
            keep = {v.entity for v in versions}
            relations = [r for r in relations if r.key.src in keep or r.key.dst in keep]
        return versions, relations

    def window_edges(
        self, t1: int, t2: int, kind: str | None
    ) -> tuple[dict[int, tuple[Any, ...]], dict[int, tuple[Any, ...]]]:
        """Raw version rows live at `t1` that end in `(t1, t2]`, and rows that start in
        `(t1, t2]` and are live at `t2`: the before and after of every entity that
        changed in the window, each found by one index range scan."""
        kind_sql = " AND e.kind = :kind" if kind else ""
        args = {"a": t1, "b": t2, "kind": kind}
        before = self.c.execute(
            f"SELECT {_V} FROM version v JOIN entity e ON e.id = v.entity "
            f"WHERE v.valid_to > :a AND v.valid_to <= :b AND v.valid_from <= :a{kind_sql}",
            args,
        )
        after = self.c.execute(
            f"SELECT {_V} FROM version v JOIN entity e ON e.id = v.entity "
            "WHERE v.valid_from > :a AND v.valid_from <= :b "
            f"AND (v.valid_to IS NULL OR v.valid_to > :b){kind_sql}",
            args,
        )
        return {r[0]: r for r in before}, {r[0]: r for r in after}

    def to_versions(self, rows: Sequence[Sequence[Any]]) -> list[Version]:
        return self._versions(rows)

    def relation_changes(self, t1: int, t2: int) -> tuple[list[Relation], list[Relation]]:
        """Edges that began in `(t1, t2]`, and edges that ended in it."""
        began = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.valid_from > ? AND r.valid_from <= ?", (t1, t2)
        ).fetchall()
        ended = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.valid_to > ? AND r.valid_to <= ?", (t1, t2)
        ).fetchall()
        return [self._relation(r) for r in began], [self._relation(r) for r in ended]

    def ghosts(self, t1: int, t2: int) -> list[tuple[int, int, int]]:
        """(entity, first, last) for entities whose whole recorded life lies in `[t1, t2]`."""
        rows = self.c.execute(
            "SELECT entity, min(valid_from), max(ifnull(valid_to, 9223372036854775807)) "
            "FROM version WHERE entity IN (SELECT entity FROM version "
            "WHERE valid_from >= :a AND valid_from <= :b) GROUP BY entity "
            "HAVING min(valid_from) >= :a AND max(ifnull(valid_to, 9223372036854775807)) <= :b",
            {"a": t1, "b": t2},
        )
        return [(int(e), int(f), int(last)) for e, f, last in rows]

    # -- bookkeeping ----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table. The history tables' are kept as they change (`tally`, 0011) and
        the journal's per source (0006): no count runs over millions of rows."""
        kept = {str(k): int(n) for k, n in self.c.execute("SELECT name, n FROM tally")}
        journal, sources = self.c.execute(
            "SELECT ifnull(sum(observations), 0), count(*) FROM source"
        ).fetchone()
        return {
            "entity": kept["entity"],
            "version": kept["version"],
            "relation": kept["relation"],
            "sample": kept["sample"],
            "journal": int(journal),
            "source": int(sources),
            "checkpoint": int(self.c.execute("SELECT count(*) FROM checkpoint").fetchone()[0]),
            # The open blocks are one per series; the sealed ones are kept in `tally`.
            "sample_readings": kept["sample_readings"]
            + int(self.c.execute("SELECT ifnull(sum(n), 0) FROM sample_open").fetchone()[0]),
            # A range of the `version_to` index: as long as the live set, not the history.
            "live_entities": int(
                self.c.execute("SELECT count(*) FROM version WHERE valid_to IS NULL").fetchone()[0]
            ),
        }

    def span(self) -> tuple[int, int] | None:
        # Two subqueries: SQLite answers a lone min() or max() from the index's
        # ends, but scans the whole journal for both in one.
        row = self.c.execute(
            "SELECT (SELECT min(observed_at) FROM journal), (SELECT max(observed_at) FROM journal)"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def has_kind(self, kind: str) -> bool:
        """Whether any entity of `kind` was ever recorded: one seek in `entity_kind`."""
        row = self.c.execute("SELECT 1 FROM entity WHERE kind = ? LIMIT 1", (kind,))
        return row.fetchone() is not None

    def recorded_kinds(self) -> list[str]:
        return [str(k) for (k,) in self.c.execute("SELECT DISTINCT kind FROM entity")]

    def kinds(self) -> dict[str, int]:
        rows = self.c.execute(
            "SELECT e.kind, count(*) FROM version v JOIN entity e ON e.id = v.entity "
            "WHERE v.valid_to IS NULL GROUP BY e.kind ORDER BY e.kind"
        )
        return {str(k): int(n) for k, n in rows}

    def sources(self) -> list[tuple[str, int, int, str, int]]:
        """(name, observations, last observed_at, last kind, what it reports alive now)
        per source."""
        # Each a seek, whatever the journal's length: counts are kept per batch, the
        # last observation is the end of the (source, observed_at) index.
        rows = self.c.execute(
            "SELECT * FROM (SELECT s.name, s.observations, "
            "(SELECT max(observed_at) FROM journal WHERE source = s.id) AS last, "
            "(SELECT kind FROM journal WHERE source = s.id ORDER BY observed_at DESC LIMIT 1), "
            "EXISTS (SELECT 1 FROM claim WHERE source = s.id AND until IS NULL) "
            "FROM source s) WHERE last IS NOT NULL ORDER BY name"
        )
        return [(str(n), int(c), int(t), str(k), int(a)) for n, c, t, k, a in rows]

    def journal(self) -> Iterable[tuple[str, int]]:
        """(payload, recorded_at) of every raw observation, in arrival order; `BodiesDropped`
        once `vtrail compact` has dropped some."""
        return Journal(self.s).entries()

    def journal_horizon(self) -> int | None:
        """Bodies of observations before this instant were dropped; None: all are kept."""
        return Journal(self.s).horizon()


def loads_many(texts: list[str]) -> list[Any]:
    return list(json.loads("[" + ",".join(texts) + "]")) if texts else []


def _bounds(t_from: int | None, t_to: int | None) -> tuple[int, int]:
    return (t_from if t_from is not None else -(2**62), t_to if t_to is not None else 2**62)
