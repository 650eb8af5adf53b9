"""The snapshot's JSON made straight from the store's rows, for the API's workers.

It is the value `to_jsonable(state.snapshot(...))` makes, key for key, without
the `Version` and `Relation` objects, two datetimes a row and the walk over
them in between: that was two thirds of a 20,000-entity snapshot's second of
CPU. An instant is written once per distinct value, and most rows share the
few instants their snapshots were observed at. tests/api/test_snapshot_json.py
holds the two to the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

from vtrail.query.jsonable import Instants, relation_row_json
from vtrail.query.state import check_kind
from vtrail.store import Store
from vtrail.store.reads.rows import bulk
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import iso, to_us


def snapshot_jsonable(store: Store, at: datetime, kind: str | None = None) -> dict[str, Any]:
    """Everything live at `at`, as `to_jsonable(state.snapshot(store, at, kind))` has it."""
    check_kind(store, kind)
    versions, relations = StateReader(store).snapshot_rows(to_us(at), kind)
    when = Instants()
    entities: list[dict[str, Any]] = []
    with bulk():
        for eid, k, vf, vt, attrs, source, va in sorted(versions, key=itemgetter(0)):
            v: dict[str, Any] = {
                "entity": eid,
                "kind": k,
                "from": when[vf],
                "to": when[vt],
                "attrs": attrs,
                "source": source,
            }
            if va is not None:
                v["vanished_between"] = [when[va], when[vt]]
            entities.append(v)
        edges = [relation_row_json(r, when) for r in sorted(relations, key=itemgetter(0, 1, 2))]
    return {"at": iso(at), "entities": entities, "relations": edges}
