"""The IPAM questions' SQL: who held an address or a MAC, what is taken in a pool, and
the edges the conflict scans read over a window.

Addresses are entities (`ip:<address>@<space>`), so an address's holders are found
by a range on the unique index of `entity.eid` (every space's id of one address
begins `ip:<address>@`), then each edge by the relation key (`allocated_to`,
`leased_to`: the address is the source) or by `relation_dst` (`has_address`: the
holder is the source). A window is `[lo, hi)` in microseconds; an edge is in it when
it began before `hi` and had not ended by `lo`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from vtrail.store.interfaces import Store


class Edge(NamedTuple):
    """One version of a relation: `(src, rel, dst)` from `valid_from` to `valid_to`
    (microseconds; None: still so), with its attributes' JSON text and its source."""

    src: str
    rel: str
    dst: str
    valid_from: int
    valid_to: int | None
    attrs: str
    source: str


#: `(address text, kind, address row id, address id, other end's row id, valid_from,
#: valid_to, pool)`: kind 0 `has_address`, 1 `leased_to`, 2 `allocated_to` (with the pool
#: its attributes name); the text is what an `ip:` id holds before its `@` (the whole id
#: of any other).
AddressEdge = tuple[str, int, int, str, int, int, int | None, str | None]


class Life(NamedTuple):
    """One version of an entity: `eid` from `valid_from` to `valid_to`, and its source."""

    eid: str
    valid_from: int
    valid_to: int | None
    source: str


_OVERLAP = "r.valid_from < :hi AND (r.valid_to IS NULL OR r.valid_to > :lo)"
_OVERLAP_FROM = "r.valid_from < :hi AND (r.valid_to IS NULL OR r.valid_to > :horizon)"
_EDGE = "a.eid, r.rel, b.eid, r.valid_from, r.valid_to, r.attrs, s.name"
_JOIN = (
    "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst JOIN source s ON s.id = r.source"
)


def _after(prefix: str) -> str:
    """The first text after every text that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class IpamReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn

    def ids_with_prefix(self, prefixes: Iterable[str]) -> list[tuple[int, str]]:
        """(row id, id) of every entity ever recorded whose id starts with one of these."""
        out: list[tuple[int, str]] = []
        for p in prefixes:
            rows = self.c.execute(
                "SELECT id, eid FROM entity WHERE eid >= ? AND eid < ?", (p, _after(p))
            )
            out.extend((int(a), str(b)) for a, b in rows)
        return out

    def ids_equal(self, eids: Iterable[str]) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for eid in eids:
            row = self.c.execute("SELECT id FROM entity WHERE eid = ?", (eid,)).fetchone()
            if row is not None:
                out.append((int(row[0]), eid))
        return out

    def edges_of(
        self, ids: Sequence[int], lo: int, hi: int, *, out: Sequence[str], into: Sequence[str]
    ) -> list[Edge]:
        """The edges in the window leaving these entities by the relations `out`, and
        reaching them by the relations `into`."""
        found: list[Edge] = []
        for n in ids:
            for rel in out:
                found.extend(
                    Edge(*r)
                    for r in self.c.execute(
                        f"SELECT {_EDGE} FROM relation r {_JOIN} "
                        f"WHERE r.src = :e AND r.rel = :rel AND {_OVERLAP}",
                        {"e": n, "rel": rel, "lo": lo, "hi": hi},
                    )
                )
            for rel in into:
                found.extend(
                    Edge(*r)
                    for r in self.c.execute(
                        f"SELECT {_EDGE} FROM relation r {_JOIN} "
                        f"WHERE r.dst = :e AND r.rel = :rel AND {_OVERLAP}",
                        {"e": n, "rel": rel, "lo": lo, "hi": hi},
                    )
                )
        return found

    def taken(self, prefix: str, at: int) -> list[tuple[str, str]]:
        """(address id, relation) of every `ip:`/`mac:` id starting with `prefix` that an
        edge holds at `at`: allocated, leased (an address leased, a MAC leased to), or
        observed on an interface."""
        rows = self.c.execute(
            "SELECT e.eid, r.rel FROM entity e JOIN relation r ON r.src = e.id "
            "AND r.rel IN ('allocated_to', 'leased_to') "
            "WHERE e.eid >= :lo AND e.eid < :hi AND r.valid_from <= :t "
            "AND (r.valid_to IS NULL OR r.valid_to > :t) "
            "UNION ALL SELECT e.eid, r.rel FROM entity e JOIN relation r ON r.dst = e.id "
            "AND r.rel IN ('has_address', 'leased_to') "
            "WHERE e.eid >= :lo AND e.eid < :hi AND r.valid_from <= :t "
            "AND (r.valid_to IS NULL OR r.valid_to > :t)",
            {"lo": prefix, "hi": _after(prefix), "t": at},
        )
        return [(str(a), str(b)) for a, b in rows]

    def edges_by_rel(self, rels: Sequence[str], lo: int, hi: int) -> list[Edge]:
        """Every edge of these relations in the window, each end named: what usage reads."""
        found: list[Edge] = []
        for rel in rels:
            found.extend(
                Edge(*r)
                for r in self.c.execute(
                    f"SELECT {_EDGE} FROM relation r {_JOIN} WHERE r.rel = :rel AND {_OVERLAP}",
                    {"rel": rel, "lo": lo, "hi": hi},
                )
            )
        return found

    def address_edges(self, horizon: int, lo: int, hi: int) -> list[AddressEdge]:
        """What the conflict scan reads: every `has_address` and `leased_to` edge from
        `horizon` to `hi`, and every `allocated_to` edge from `lo` to `hi`, in the order
        of the address's id, so that all the edges of one address text (every space's
        id of it begins `ip:<address>@`) come together. Only the address's id is read
        as text; the other end is named when it is in a conflict."""
        x = (
            "CASE WHEN instr(e.eid, '@') > 0 THEN substr(e.eid, 4, instr(e.eid, '@') - 4) "
            "ELSE e.eid END"
        )
        rows = self.c.execute(
            f"SELECT {x}, 0, r.dst, e.eid, r.src, r.valid_from, r.valid_to, NULL "
            "FROM relation r JOIN entity e ON e.id = r.dst "
            f"WHERE r.rel = 'has_address' AND {_OVERLAP_FROM} "
            f"UNION ALL SELECT {x}, 1, r.src, e.eid, r.dst, r.valid_from, r.valid_to, NULL "
            "FROM relation r JOIN entity e ON e.id = r.src "
            f"WHERE r.rel = 'leased_to' AND {_OVERLAP_FROM} "
            f"UNION ALL SELECT {x}, 2, r.src, e.eid, r.dst, r.valid_from, r.valid_to, "
            "json_extract(r.attrs, '$.pool') FROM relation r JOIN entity e ON e.id = r.src "
            f"WHERE r.rel = 'allocated_to' AND {_OVERLAP} ORDER BY 4",
            {"horizon": horizon, "lo": lo, "hi": hi},
        )
        return rows.fetchall()

    def nic_plugs(self, lo: int, hi: int) -> list[Edge]:
        """Every `plugged_into` edge of a NIC in the window: when each NIC was live on
        the fabric (libvirt plugs a NIC only while its domain runs)."""
        return [
            Edge(*r)
            for r in self.c.execute(
                f"SELECT {_EDGE} FROM relation r {_JOIN} WHERE r.rel = 'plugged_into' "
                f"AND a.kind = 'nic' AND {_OVERLAP}",
                {"lo": lo, "hi": hi},
            )
        ]

    def nics_with_mac(self, mac: str) -> list[tuple[int, str]]:
        """Every NIC whose id ends in `/<mac>`, by the index of migration 0011."""
        rows = self.c.execute(
            "SELECT id, eid FROM entity WHERE kind = 'nic' AND lower(substr(eid, -18)) = ?",
            ("/" + mac.lower(),),
        )
        return [(int(a), str(b)) for a, b in rows]

    def nic_macs(self, mac_prefix: str, at: int) -> list[str]:
        """The MACs of the NICs defined at `at` whose MAC starts with `mac_prefix`, by the
        index of migration 0011 on the MAC that ends a NIC's id."""
        lo = "/" + mac_prefix.lower()
        rows = self.c.execute(
            "SELECT substr(e.eid, -17) FROM entity e JOIN version v ON v.entity = e.id "
            "WHERE e.kind = 'nic' AND lower(substr(e.eid, -18)) >= :lo "
            "AND lower(substr(e.eid, -18)) < :hi AND v.valid_from <= :t "
            "AND (v.valid_to IS NULL OR v.valid_to > :t)",
            {"lo": lo, "hi": _after(lo), "t": at},
        )
        return [str(r[0]).lower() for r in rows]

    def journal_top(self) -> int:
        """The seq of the newest observation journalled (0 for none)."""
        return int(self.c.execute("SELECT ifnull(max(seq), 0) FROM journal").fetchone()[0])

    def others_since(self, seq: int, source: str) -> bool:
        """Whether the journal holds, after `seq`, an observation of a source other than
        `source`, or fewer observations than it did (a repair took some out)."""
        row = self.c.execute(
            "SELECT ifnull(max(seq), 0) < :seq OR EXISTS (SELECT 1 FROM journal j "
            "JOIN source s ON s.id = j.source WHERE j.seq > :seq AND s.name != :source) "
            "FROM journal",
            {"seq": seq, "source": source},
        ).fetchone()
        return bool(row[0])

    def stamp(self, prefix: str) -> tuple[int, int, int]:
        """What changes whenever a version of an id starting with `prefix` is added or
        closed: how many there are, how many are closed, and the last instant any began
        or ended (a range on the ids' index, then each one's versions)."""
        row = self.c.execute(
            "SELECT count(*), count(v.valid_to), "
            "max(ifnull(max(v.valid_from), 0), ifnull(max(v.valid_to), 0)) "
            "FROM entity e JOIN version v ON v.entity = e.id WHERE e.eid >= ? AND e.eid < ?",
            (prefix, _after(prefix)),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def lives(self, ids: Sequence[int], lo: int, hi: int) -> list[Life]:
        """The versions of these entities in the window."""
        found: list[Life] = []
        for n in ids:
            found.extend(
                Life(*r)
                for r in self.c.execute(
                    "SELECT e.eid, v.valid_from, v.valid_to, s.name FROM version v "
                    "JOIN entity e ON e.id = v.entity JOIN source s ON s.id = v.source "
                    "WHERE v.entity = :e "
                    "AND v.valid_from < :hi AND (v.valid_to IS NULL OR v.valid_to > :lo)",
                    {"e": n, "lo": lo, "hi": hi},
                )
            )
        return found
