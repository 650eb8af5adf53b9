"""The image questions' SQL: the images live at an instant, the edges between images and
VMs, and what a VM was called and who owned it.

Exposure walks from one image outwards: the images backed by it (`backed_by`, by
`relation_dst`), the VMs using any of them (`uses_image`, by `relation_dst`), each
VM's hosts (`runs_on`, by the relation key), so that it costs the images and VMs it
finds, never the size of the history. Times are integer microseconds; a window is
`[lo, hi)`, and an edge is in it when it began before `hi` and had not ended by `lo`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import NamedTuple

from vtrail.model import JSONValue
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import LIVE_AT, bulk

_OVERLAP = "r.valid_from < :hi AND (r.valid_to IS NULL OR r.valid_to > :lo)"
_IDS = "SELECT value FROM json_each(:ids)"


class Span(NamedTuple):
    """One version of an edge `src → dst`, from `valid_from` to `valid_to` (None: still)."""

    src: str
    dst: str
    valid_from: int
    valid_to: int | None


class ImageReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn
        self.codec = store.attrs

    def images_at(self, t: int) -> dict[str, dict[str, JSONValue]]:
        """Every image entity live at `t`, with its attributes."""
        rows = self.c.execute(
            "SELECT e.eid, v.attrs FROM entity e JOIN version v ON v.entity = e.id "
            f"WHERE e.kind = 'image' AND {LIVE_AT.format(a='v')}",
            {"t": t},
        ).fetchall()
        with bulk():
            attrs = self.codec.decode_many([r[1] for r in rows])
        return {str(r[0]): a for r, a in zip(rows, attrs, strict=True)}

    def edges_at(self, rel: str, t: int) -> list[tuple[str, str]]:
        """(src, dst) of every edge of `rel` live at `t`."""
        rows = self.c.execute(
            "SELECT a.eid, b.eid FROM relation r JOIN entity a ON a.id = r.src "
            f"JOIN entity b ON b.id = r.dst WHERE r.rel = :rel AND {LIVE_AT.format(a='r')}",
            {"rel": rel, "t": t},
        )
        return [(str(a), str(b)) for a, b in rows]

    def into(self, dsts: Collection[str], rel: str, lo: int, hi: int) -> list[Span]:
        """The edges of `rel` reaching any of `dsts` in the window."""
        return self._spans("r.dst", dsts, rel, lo, hi)

    def out_of(self, srcs: Collection[str], rel: str, lo: int, hi: int) -> list[Span]:
        """The edges of `rel` leaving any of `srcs` in the window."""
        return self._spans("r.src", srcs, rel, lo, hi)

    def _spans(self, end: str, eids: Collection[str], rel: str, lo: int, hi: int) -> list[Span]:
        if not eids:
            return []
        rows = self.c.execute(
            "SELECT a.eid, b.eid, r.valid_from, r.valid_to FROM entity x "
            f"JOIN relation r ON {end} = x.id AND r.rel = :rel "
            "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            f"WHERE x.eid IN ({_IDS}) AND {_OVERLAP}",
            {"ids": _json_list(eids), "rel": rel, "lo": lo, "hi": hi},
        )
        return [Span(str(a), str(b), int(f), None if t is None else int(t)) for a, b, f, t in rows]

    def last_attrs(self, eids: Collection[str], hi: int) -> dict[str, dict[str, JSONValue]]:
        """The attributes of each entity's last version that began before `hi`."""
        if not eids:
            return {}
        rows = self.c.execute(
            "SELECT e.eid, v.attrs FROM entity e JOIN version v ON v.entity = e.id "
            "AND v.valid_from = (SELECT max(valid_from) FROM version "
            "WHERE entity = e.id AND valid_from < :hi) "
            f"WHERE e.eid IN ({_IDS})",
            {"ids": _json_list(eids), "hi": hi},
        ).fetchall()
        with bulk():
            attrs = self.codec.decode_many([r[1] for r in rows])
        return {str(r[0]): a for r, a in zip(rows, attrs, strict=True)}


def _json_list(eids: Iterable[str]) -> str:
    return json.dumps(sorted(set(eids)))
