"""One JSON shape for every answer, shared by the CLI (`-o json`) and the REST API.

Every answer is a dataclass of `vtrail.query`; `to_jsonable` is the only way
one becomes JSON. Two rules hold for every answer:

- an instant is ISO 8601 with its zone (`2026-11-20T03:12:00.000Z`), never
  a number: an answer holds datetimes, not the store's microseconds;
- a window is `from` and `to`. `from` is a Python keyword, so the attributes
  are `t_from` and `t_to` and `WINDOW_KEYS` names them in JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vtrail.model import Relation, RelKey, Statement, Version
from vtrail.query.graph import Topology
from vtrail.timeexpr import iso

#: Attribute names written otherwise in JSON, the same in every answer.
WINDOW_KEYS = {"t_from": "from", "t_to": "to"}


def version_json(v: Version) -> dict[str, Any]:
    d: dict[str, Any] = {
        "entity": v.entity,
        "kind": v.kind,
        "from": iso(v.valid_from),
        "to": iso(v.valid_to),
        "attrs": dict(v.attrs),
        "source": v.source,
    }
    if v.vanished_after is not None:
        d["vanished_between"] = [iso(v.vanished_after), iso(v.valid_to)]
    return d


def relation_json(r: Relation) -> dict[str, Any]:
    d: dict[str, Any] = {
        "src": r.key.src,
        "rel": r.key.rel,
        "dst": r.key.dst,
        "from": iso(r.valid_from),
        "to": iso(r.valid_to),
        "source": r.source,
    }
    if r.attrs:
        d["attrs"] = dict(r.attrs)
    if r.vanished_after is not None:
        d["vanished_between"] = [iso(r.vanished_after), iso(r.valid_to)]
    return d


def statement_json(s: Statement) -> dict[str, Any]:
    return {
        "source": s.source,
        "from": iso(s.valid_from),
        "to": iso(s.valid_to),
        "attrs": dict(s.attrs),
        "reporting_since": iso(s.reporting_since),
    }


def topology_json(t: Topology) -> dict[str, Any]:
    """The JSON of a `Topology`, equal to `fields_json(t)` and written out by hand
    because a fabric has tens of thousands of nodes and the generic walk is slow."""
    return {
        "at": iso(t.at),
        "around": t.around,
        "depth": t.depth,
        "kind": t.kind,
        "counts": t.counts,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "group": n.group,
                "since": iso(n.since),
                "attrs": n.attrs,
            }
            for n in t.nodes
        ],
        "edges": [{"src": e.src, "rel": e.rel, "dst": e.dst, "attrs": e.attrs} for e in t.edges],
    }


def fields_json(obj: Any) -> dict[str, Any]:
    """A dataclass, field by field, under the names of `WINDOW_KEYS`."""
    return {
        WINDOW_KEYS.get(f.name, f.name): to_jsonable(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
    }


#: Values that are their own JSON, tested first: most of an answer's leaves are.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_jsonable(obj: Any) -> Any:
    """An answer (dataclasses, model objects, datetimes) as plain JSON values."""
    if type(obj) in _SCALARS:
        return obj
    if isinstance(obj, Version):
        return version_json(obj)
    if isinstance(obj, Relation):
        return relation_json(obj)
    if isinstance(obj, Statement):
        return statement_json(obj)
    if isinstance(obj, Topology):
        return topology_json(obj)
    if isinstance(obj, RelKey):
        return {"src": obj.src, "rel": obj.rel, "dst": obj.dst}
    if isinstance(obj, datetime):
        return iso(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return fields_json(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    return obj
