"""A VM's `where` answer made straight from the store's rows, for `vtrail serve`.

It is the value `to_jsonable(state.where(...))` makes, key for key, for a VM asked
by its id (the common question), without the `Version`, `Relation` and answer
objects and the walk over them: in the server that Python, not the one statement
it reads, was what kept `where` behind Prometheus's instant query
(docs/performance.md, "The warmest read thread first"). Anything else (a name, an
address, a space, a NIC's details) goes the long way. tests/api/test_short_reads.py
holds it to the same bytes as the route, which answers through `state.where`, and
tests/query/test_where_reads.py to `state.where` at every minute of the story.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from vtrail.query.jsonable import Instants, relation_row_json, to_jsonable
from vtrail.query.names import as_vm_id
from vtrail.query.state import nic_at, where
from vtrail.store import Store
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import iso, to_us


def where_jsonable(store: Store, query: str, at: datetime, space: str | None = None) -> Any:
    """`to_jsonable(state.where(store, query, at, space))`."""
    t = to_us(at)
    r = StateReader(store)
    found = r.rows_of(query, t) if as_vm_id(query, space) else None
    if found is None:
        return to_jsonable(where(store, query, at, space))
    version, edges = found
    # The VM's own number is in its version's row: no lookup to name it.
    names = {version[0]: query} if version is not None else {}
    relations: list[dict[str, Any]] = []
    host: str | None = None
    nics: list[str] = []
    addresses: set[str] = set()
    when = Instants()
    for a, rel, b, vf, vt, text, src, va in edges:
        src_id = names.get(a) or store.entity_name(a)
        dst_id = names.get(b) or store.entity_name(b)
        row = (src_id, rel, dst_id, vf, vt, json.loads(text), store.source_name(src), va)
        relations.append(relation_row_json(row, when))
        if src_id == query:
            if rel == "runs_on" and host is None:
                host = dst_id
            elif rel == "has_nic":
                nics.append(dst_id)
            elif rel == "has_address":
                addresses.add(dst_id)
    at_nics = [nic_at(store, r, nic, t, host) for nic in nics]
    addresses.update(a for nic in at_nics for a in nic.addresses)
    attrs = dict(store.attrs.decode(version[3])) if version is not None else {}
    return {
        "query": query,
        "at": iso(at),
        "entity": query,
        "kind": "vm",
        "alive": version is not None,
        "name": attrs.get("name"),
        "state": attrs.get("state"),
        "host": host,
        "nics": [to_jsonable(nic) for nic in at_nics],
        "addresses": sorted(addresses),
        "attrs": attrs,
        "relations": relations,
    }
