"""The state questions' SQL: one entity at an instant or over a window, and the whole
fabric at an instant or between two, as model objects (or, for the snapshot's
JSON, as rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from vtrail.model import JSONValue, Relation, RelKey, Statement, Version
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import LIVE_AT, LIVE_RELATIONS, LIVE_VERSIONS, bounds, bulk, loads_many
from vtrail.timeexpr import from_us, to_us

_V = "v.entity, e.eid, e.kind, v.valid_from, v.valid_to, v.attrs, v.source, v.vanished_after"
_R = "r.src, r.rel, r.dst, r.valid_from, r.valid_to, r.attrs, r.source, r.vanished_after"
#: An entity's version row at an instant (or None) and its edges' rows then.
StateRows = tuple[tuple[Any, ...] | None, list[tuple[Any, ...]]]


def _edges_at(columns: str, entity: str) -> str:
    """The edges from and to `entity` (a parameter or a subquery) live at `:t`, from
    first, as `relations_at` gives them."""
    live = LIVE_AT.format(a="r")
    return (
        f"SELECT {columns} FROM relation r WHERE r.src = {entity} AND {live} "
        f"UNION ALL SELECT {columns} FROM relation r WHERE r.dst = {entity} AND {live}"
    )


def _state_sql(entity: str) -> str:
    """The latest version of `entity` begun by `:t`, then its edges live at `:t`; the
    first column tells them apart."""
    return (
        "SELECT 0, v.entity, NULL, NULL, v.valid_from, v.valid_to, v.attrs, v.source, "
        f"v.vanished_after FROM (SELECT * FROM version WHERE entity = {entity} "
        "AND valid_from <= :t ORDER BY valid_from DESC LIMIT 1) v "
        f"UNION ALL {_edges_at(f'1, {_R}', entity)}"
    )


# Each written once: formatted for every read, the text cost a `where` 15 to 35 µs
# with the caches evicted before it (bench/cold.py).
#: `state_at`'s statement, by the entity's number `:e`.
_STATE_AT = _state_sql(":e")
#: `rows_of`'s, by the entity's id `:eid`, which it looks up itself.
_STATE_OF = _state_sql("(SELECT id FROM entity WHERE eid = :eid)")
#: `relations_at`'s.
_EDGES_AT = _edges_at(_R, ":e")


#: (id, kind, valid_from, valid_to, attrs, source, vanished_after)
LiveVersion = tuple[str, str, int, int | None, dict[str, JSONValue], str, int | None]
#: (src, rel, dst, valid_from, valid_to, attrs, source, vanished_after)
LiveRelation = tuple[str, str, str, int, int | None, dict[str, JSONValue], str, int | None]


def _opt(us: int | None) -> Any:
    return None if us is None else from_us(us)


class _Names(dict[int, str]):
    """Row ids to names, each asked of `name_of` once."""

    def __init__(self, name_of: Callable[[int], str], known: dict[int, str] | None = None):
        super().__init__(known or {})
        self.name_of = name_of

    def __missing__(self, n: int) -> str:
        name = self[n] = self.name_of(n)
        return name


class StateReader:
    """One per store; cheap to make."""

    def __init__(self, store: Store) -> None:
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

    def version_of(self, eid: str, t: int) -> Version | None:
        """`version_at` by the entity's id, in one statement: a lookup of an entity not
        yet interned costs one round trip to a server, not two (a second only when
        nothing is found, to tell an unknown id, `UnknownEntity`, from one not alive)."""
        row = self.c.execute(
            "SELECT valid_from, valid_to, attrs, source, vanished_after, entity FROM version "
            "WHERE entity = (SELECT id FROM entity WHERE eid = ?) AND valid_from <= ? "
            "ORDER BY valid_from DESC LIMIT 1",
            (eid, t),
        ).fetchone()
        if row is None:
            self.s.entity_id(eid)
            return None
        vf, vt, text, src, va, e = row
        if vt is not None and vt <= t:
            return None
        return self._version((e, eid, eid.partition(":")[0], vf, vt, text, src, va))

    def state_at(self, e: int, t: int) -> tuple[Version | None, list[Relation]]:
        """`version_at` and `relations_at` in one statement."""
        found = self._state(self._rows(_STATE_AT, {"e": e, "t": t}, t), self.s.entity_name(e))
        return found if found is not None else (None, [])

    def state_of(self, eid: str, t: int) -> tuple[Version | None, list[Relation]] | None:
        """`state_at` by the entity's id, which the statement looks up itself: a `where`
        by id is one statement (a server's one round trip), interned or not. None when
        nothing is found: an id never recorded, or no version begun by `t` and no edge
        live then (the caller asks again the long way, which tells the two apart)."""
        return self._state(self.rows_of(eid, t), eid)

    def rows_of(self, eid: str, t: int) -> StateRows | None:
        """What `state_of` reads, as the store's rows: the version live at `t` (entity,
        valid_from, valid_to, attrs, source, vanished_after) or None, and the edges'
        rows (src, rel, dst, valid_from, valid_to, attrs, source, vanished_after)."""
        return self._rows(_STATE_OF, {"eid": eid, "t": t}, t)

    def _rows(self, sql: str, args: dict[str, Any], t: int) -> StateRows | None:
        rows = self.c.execute(sql, args).fetchall()
        if not rows:
            return None
        version = None
        if rows[0][0] == 0:
            _, e, _, _, vf, vt, text, src, va = rows[0]
            if vt is None or vt > t:
                version = (e, vf, vt, text, src, va)
        return version, [r[1:] for r in rows if r[0] == 1]

    def _state(
        self, rows: StateRows | None, eid: str
    ) -> tuple[Version | None, list[Relation]] | None:
        if rows is None:
            return None
        v, rels = rows
        version = None
        if v is not None:
            e, vf, vt, text, src, va = v
            version = self._version((e, eid, eid.partition(":")[0], vf, vt, text, src, va))
        return version, self._relations(rels)

    def versions(self, e: int, t_from: int | None = None, t_to: int | None = None) -> list[Version]:
        lo, hi = bounds(t_from, t_to)
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
        lo, hi = bounds(t_from, t_to)
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
        rows = self.c.execute(_EDGES_AT, {"e": e, "t": t}).fetchall()
        return self._relations(rows)

    def relations(
        self, e: int, t_from: int | None = None, t_to: int | None = None
    ) -> list[Relation]:
        lo, hi = bounds(t_from, t_to)
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

    # -- the whole fabric -----------------------------------------------------

    def _live(self, t: int, kind: str | None) -> tuple[list[Any], list[Any]]:
        """Raw version and relation rows live at `t`: from the nearest checkpoint plus the
        changes since. With `kind`, versions of that kind and the relations touching one."""
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
        if kind:
            keep = {r[0] for r in vrows}
            rrows = [r for r in rrows if r[0] in keep or r[2] in keep]
        return vrows, rrows

    def snapshot(self, t: int, kind: str | None = None) -> tuple[list[Version], list[Relation]]:
        """Everything live at `t`, as model objects."""
        vrows, rrows = self._live(t, kind)
        return self._versions(vrows), self._relations(rrows)

    def snapshot_rows(
        self, t: int, kind: str | None = None
    ) -> tuple[list[LiveVersion], list[LiveRelation]]:
        """Everything live at `t` as plain tuples, for an answer that goes straight to
        JSON: ids and sources named, attributes decoded, instants left in microseconds.

        The relations' ends are named from the versions' rows (an end not live at `t`,
        or not of `kind`, by the store's cache), not by a seek each.
        """
        vrows, rrows = self._live(t, kind)
        eids = {r[0]: r[1] for r in vrows}
        with bulk():
            sources = _Names(self.s.source_name)
            ends = _Names(self.s.entity_name, eids)
            attrs = self.s.attrs.decode_many([r[5] for r in vrows])
            versions = [
                (eid, k, vf, vt, a, sources[src], va)
                for (_, eid, k, vf, vt, _text, src, va), a in zip(vrows, attrs, strict=True)
            ]
            rattrs = loads_many([r[5] for r in rrows])
            relations = [
                (ends[a], rel, ends[b], vf, vt, ra, sources[src], va)
                for (a, rel, b, vf, vt, _text, src, va), ra in zip(rrows, rattrs, strict=True)
            ]
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
        # In the order of the time index and the key it carries, which SQLite reads
        # them in anyway: both stores then answer in the same order.
        began = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.valid_from > ? AND r.valid_from <= ? "
            "ORDER BY r.valid_from, r.src, r.rel, r.dst",
            (t1, t2),
        ).fetchall()
        ended = self.c.execute(
            f"SELECT {_R} FROM relation r WHERE r.valid_to > ? AND r.valid_to <= ? "
            "ORDER BY r.valid_to, r.src, r.rel, r.dst",
            (t1, t2),
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
