"""The triage question's SQL: the changes of a window, near some entities or newest first.

Triage scores every change before an incident, but only those near the affected
paths can be close, and of the others only the newest can rank high. So it
reads the changes of the near entities whole (their versions, and the relations
with either end among them), and the rest newest first, a slice at a time, until
nothing older could rank; `count` says how many the whole window held.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import bulk
from vtrail.store.reads.triage import RelationRow, VersionRow

_IDS = "(SELECT id FROM entity WHERE eid IN (SELECT value FROM json_each(:ids)))"
_RELS = "r.rel IN (SELECT value FROM json_each(:rels))"
#: Row `{a}` began or ended in the window.
_IN = (
    "(({a}.valid_from > :lo AND {a}.valid_from <= :hi) "
    "OR ({a}.valid_to > :lo AND {a}.valid_to <= :hi))"
)


def near_changes(
    store: Store, ids: Collection[str], rels: Collection[str], lo: int, hi: int
) -> tuple[list[VersionRow], list[RelationRow]]:
    """The versions of `ids` that began or ended in `(lo, hi]`, and the relations of
    `rels` with an end among `ids` that did, each row once."""
    if not ids:
        return [], []
    args = {"ids": json.dumps(sorted(ids)), "rels": json.dumps(sorted(rels)), "lo": lo, "hi": hi}
    c = store.conn
    rows = c.execute(
        "SELECT e.eid, e.kind, v.valid_from, v.valid_to, v.attrs FROM version v "
        f"JOIN entity e ON e.id = v.entity WHERE v.entity IN {_IDS} AND {_IN.format(a='v')}",
        args,
    ).fetchall()
    rel_rows = c.execute(
        "WITH r AS (SELECT * FROM relation r WHERE r.src IN {ids} UNION "
        "SELECT * FROM relation r WHERE r.dst IN {ids}) "
        "SELECT a.eid, r.rel, b.eid, r.valid_from, r.valid_to FROM r "
        "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
        f"WHERE {_RELS} AND {_IN.format(a='r')}".format(ids=_IDS),
        args,
    ).fetchall()
    with bulk():
        attrs = store.attrs.decode_many([r[4] for r in rows])
        versions = [
            VersionRow(eid, kind, vf, vt, a)
            for (eid, kind, vf, vt, _), a in zip(rows, attrs, strict=True)
        ]
        return versions, [RelationRow(*r) for r in rel_rows]


def count(store: Store, rels: Collection[str], lo: int, hi: int) -> int:
    """How many versions, and relations of `rels`, began or ended in `(lo, hi]`."""
    args = {"lo": lo, "hi": hi, "rels": json.dumps(sorted(rels))}
    total = 0
    for col in ("valid_from", "valid_to"):
        total += store.conn.execute(
            f"SELECT count(*) FROM version WHERE {col} > :lo AND {col} <= :hi", args
        ).fetchone()[0]
        total += store.conn.execute(
            f"SELECT count(*) FROM relation r WHERE r.{col} > :lo AND r.{col} <= :hi AND {_RELS}",
            args,
        ).fetchone()[0]
    return int(total)
