"""One JSON shape for every answer, shared by the CLI (`-o json`) and the REST API."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vtrail.model import Relation, RelKey, Statement, Version
from vtrail.store.reads.samples import SeriesTotal
from vtrail.timeexpr import from_us, iso


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


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, model objects and datetimes to plain JSON values."""
    if isinstance(obj, Version):
        return version_json(obj)
    if isinstance(obj, Relation):
        return relation_json(obj)
    if isinstance(obj, SeriesTotal):
        # The store keeps microseconds; an answer says instants.
        d = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        d["first_ts"], d["last_ts"] = iso(from_us(obj.first_ts)), iso(from_us(obj.last_ts))
        return d
    if isinstance(obj, Statement):
        return statement_json(obj)
    if isinstance(obj, RelKey):
        return {"src": obj.src, "rel": obj.rel, "dst": obj.dst}
    if isinstance(obj, datetime):
        return iso(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    return obj
