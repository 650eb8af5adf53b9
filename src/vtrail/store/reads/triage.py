"""The triage questions' SQL: the versions and relations a policy is evaluated on.

A policy is checked at T, or over a window by walking the changes in it, so
each read comes in two halves: the rows live at the window's start (from the
nearest checkpoint, as a snapshot reads them) and the rows that began inside
the window (one range on `version_from` or `relation_from`). Together they hold
every change in the window: a row live at the start ends inside it or after
it, a row that began inside it ends inside it or after it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from vtrail.model import JSONValue
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import LIVE_RELATIONS, LIVE_VERSIONS, bulk


@dataclass(frozen=True, slots=True)
class VersionRow:
    eid: str
    kind: str
    valid_from: int
    valid_to: int | None
    attrs: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class RelationRow:
    src: str
    rel: str
    dst: str
    valid_from: int
    valid_to: int | None


# Which entities to read: of these kinds, or with these ids, or (:every) all of them.
_WHICH = (
    "(:every OR e.kind IN (SELECT value FROM json_each(:kinds)) "
    "OR e.eid IN (SELECT value FROM json_each(:ids)))"
)
_RELS = "r.rel IN (SELECT value FROM json_each(:rels))"


class TriageReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn
        self.checkpoints = store.checkpoints
        self.codec = store.attrs

    def _args(
        self, kinds: Collection[str] | None, ids: Collection[str], **more: object
    ) -> dict[str, object]:
        return {
            "every": kinds is None,
            "kinds": json.dumps(sorted(kinds or ())),
            "ids": json.dumps(sorted(ids)),
            **more,
        }

    def _versions(self, sql: str, args: dict[str, object]) -> list[VersionRow]:
        rows = self.c.execute(sql, args).fetchall()
        with bulk():
            attrs = self.codec.decode_many([r[4] for r in rows])
            return [
                VersionRow(eid, kind, vf, vt, a)
                for (eid, kind, vf, vt, _), a in zip(rows, attrs, strict=True)
            ]

    def versions(
        self, lo: int, hi: int, kinds: Collection[str] | None, ids: Collection[str] = ()
    ) -> tuple[list[VersionRow], list[VersionRow]]:
        """Versions of the entities of `kinds` (None: of every kind) or `ids`: those live at
        `lo`, and those that began in `(lo, hi]`."""
        ts = self.checkpoints.load(lo)
        live = self._versions(
            f"WITH lv AS ({LIVE_VERSIONS}) SELECT e.eid, e.kind, v.valid_from, v.valid_to, "
            f"v.attrs FROM lv v JOIN entity e ON e.id = v.entity WHERE {_WHICH}",
            self._args(kinds, ids, ts=ts, t=lo),
        )
        began = (
            self._versions(
                "SELECT e.eid, e.kind, v.valid_from, v.valid_to, v.attrs FROM version v "
                f"JOIN entity e ON e.id = v.entity WHERE v.valid_from > :lo "
                f"AND v.valid_from <= :hi AND {_WHICH} ORDER BY v.valid_from",
                self._args(kinds, ids, lo=lo, hi=hi),
            )
            if hi > lo
            else []
        )
        return live, began

    def relations(
        self, lo: int, hi: int, rels: Collection[str]
    ) -> tuple[list[RelationRow], list[RelationRow]]:
        """Relations of these names: those live at `lo`, and those that began in `(lo, hi]`."""
        ts = self.checkpoints.load(lo)
        names = json.dumps(sorted(rels))
        live = self.c.execute(
            f"WITH lr AS ({LIVE_RELATIONS}) SELECT a.eid, r.rel, b.eid, r.valid_from, "
            f"r.valid_to FROM lr r JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            f"WHERE {_RELS}",
            {"ts": ts, "t": lo, "rels": names},
        ).fetchall()
        began = (
            self.c.execute(
                "SELECT a.eid, r.rel, b.eid, r.valid_from, r.valid_to FROM relation r "
                "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
                f"WHERE r.valid_from > :lo AND r.valid_from <= :hi AND {_RELS} "
                "ORDER BY r.valid_from",
                {"lo": lo, "hi": hi, "rels": names},
            ).fetchall()
            if hi > lo
            else []
        )
        with bulk():
            return [RelationRow(*r) for r in live], [RelationRow(*r) for r in began]

    def change_instants(
        self, lo: int, hi: int, kinds: Collection[str], rels: Collection[str]
    ) -> list[int]:
        """Every instant in `(lo, hi]` at which a version of `kinds` or a relation of `rels`
        began or ended, in order."""
        args = {
            "lo": lo,
            "hi": hi,
            "kinds": json.dumps(sorted(kinds)),
            "rels": json.dumps(sorted(rels)),
        }
        found: set[int] = set()
        for col in ("valid_from", "valid_to"):
            found.update(
                r[0]
                for r in self.c.execute(
                    f"SELECT DISTINCT v.{col} FROM version v JOIN entity e ON e.id = v.entity "
                    f"WHERE v.{col} > :lo AND v.{col} <= :hi "
                    "AND e.kind IN (SELECT value FROM json_each(:kinds))",
                    args,
                )
            )
            found.update(
                r[0]
                for r in self.c.execute(
                    f"SELECT DISTINCT r.{col} FROM relation r "
                    f"WHERE r.{col} > :lo AND r.{col} <= :hi AND {_RELS}",
                    args,
                )
            )
        return sorted(found)

    def changed_versions(
        self, lo: int, hi: int, kinds: Collection[str] | None, ids: Collection[str] = ()
    ) -> list[VersionRow]:
        """Versions of `kinds` (None: of every kind) or `ids` that began or ended in
        `(lo, hi]`, each once: a walk goes on from `lo` with these alone."""
        sql = (
            "SELECT e.eid, e.kind, v.valid_from, v.valid_to, v.attrs FROM version v "
            "JOIN entity e ON e.id = v.entity WHERE v.{col} > :lo AND v.{col} <= :hi "
            f"AND {_WHICH}"
        )
        args = self._args(kinds, ids, lo=lo, hi=hi)
        began = self._versions(sql.format(col="valid_from"), args)
        ended = self._versions(sql.format(col="valid_to") + " AND v.valid_from <= :lo", args)
        return began + ended

    def changed_relations(self, lo: int, hi: int, rels: Collection[str]) -> list[RelationRow]:
        """Relations of these names that began or ended in `(lo, hi]`, each once."""
        sql = (
            "SELECT a.eid, r.rel, b.eid, r.valid_from, r.valid_to FROM relation r "
            "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            "WHERE r.{col} > :lo AND r.{col} <= :hi AND " + _RELS
        )
        args = {"lo": lo, "hi": hi, "rels": json.dumps(sorted(rels))}
        rows = self.c.execute(sql.format(col="valid_from"), args).fetchall()
        rows += self.c.execute(
            sql.format(col="valid_to") + " AND r.valid_from <= :lo", args
        ).fetchall()
        with bulk():
            return [RelationRow(*r) for r in rows]

    def last_change(self) -> int | None:
        """The latest instant anything began or ended at (index seeks)."""
        found = [
            r[0]
            for table in ("version", "relation")
            for col in ("valid_from", "valid_to")
            for r in self.c.execute(f"SELECT max({col}) FROM {table}")
            if r[0] is not None
        ]
        return max(found) if found else None

    def has_kind(self, kinds: Collection[str]) -> bool:
        """Whether any entity of these kinds was ever recorded."""
        return any(
            self.c.execute("SELECT 1 FROM entity WHERE kind = ? LIMIT 1", (k,)).fetchone()
            for k in kinds
        )
