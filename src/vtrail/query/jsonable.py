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
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vtrail.model import Relation, RelKey, Statement, Version
from vtrail.query.graph import Topology
from vtrail.timeexpr import from_us, iso

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


class Instants(dict[int | None, str | None]):
    """Microseconds to ISO text, for answers written from the store's rows: each
    distinct instant is written once, and most rows share a few."""

    def __missing__(self, us: int | None) -> str | None:
        text = self[us] = None if us is None else iso(from_us(us))
        return text


def relation_row_json(
    row: tuple[str, str, str, int, int | None, Any, str, int | None], when: Instants
) -> dict[str, Any]:
    """`relation_json` of a relation's row, its ends and source named, its attrs
    decoded, its instants in microseconds."""
    src, rel, dst, vf, vt, attrs, source, va = row
    d: dict[str, Any] = {
        "src": src,
        "rel": rel,
        "dst": dst,
        "from": when[vf],
        "to": when[vt],
        "source": source,
    }
    if attrs:
        d["attrs"] = attrs
    if va is not None:
        d["vanished_between"] = [when[va], when[vt]]
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
    return _dataclass_json(type(obj))(obj)


#: Values that are their own JSON, tested first: most of an answer's leaves are.
_SCALARS = frozenset({str, int, float, bool, type(None)})

#: How a value of each type becomes JSON, worked out once per type: an answer of a
#: thousand versions asks the same few types a thousand times, and the chain of
#: `isinstance` tests (an ABC's among them) cost a quarter of a `where` answer.
_CONVERTERS: dict[type, Callable[[Any], Any]] = {}


def to_jsonable(obj: Any) -> Any:
    """An answer (dataclasses, model objects, datetimes) as plain JSON values."""
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(obj)


def _converter(kind: type) -> Callable[[Any], Any]:
    for model, convert in _MODELS:
        if issubclass(kind, model):
            return convert
    if issubclass(kind, datetime):
        return iso
    if dataclasses.is_dataclass(kind):
        return _dataclass_json(kind)
    if issubclass(kind, Mapping):
        return lambda obj: {str(k): to_jsonable(v) for k, v in obj.items()}
    if issubclass(kind, list | tuple | set | frozenset):
        return lambda obj: [to_jsonable(v) for v in obj]
    return _itself


def _itself(obj: Any) -> Any:
    return obj


def _dataclass_json(kind: type) -> Callable[[Any], dict[str, Any]]:
    names = [(WINDOW_KEYS.get(f.name, f.name), f.name) for f in dataclasses.fields(kind)]
    return lambda obj: {key: to_jsonable(getattr(obj, name)) for key, name in names}


_MODELS: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (Version, version_json),
    (Relation, relation_json),
    (Statement, statement_json),
    (Topology, topology_json),
    (RelKey, lambda k: {"src": k.src, "rel": k.rel, "dst": k.dst}),
)
