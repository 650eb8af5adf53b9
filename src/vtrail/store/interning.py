"""Long ids to the store's integers and back, kept in memory once asked, and the labels
(names, MACs) an entity was recorded with; the same SQL on both stores (an INSERT's
`lastrowid` is PostgreSQL's RETURNING, store/dialect.py)."""

from __future__ import annotations

import json

from vtrail.model import split_id
from vtrail.store.attrs import AttrCodec
from vtrail.store.conn import Conn


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says why."""


class UnknownEntity(LookupError):
    """An entity id the store has never recorded."""


class Interned:
    conn: Conn
    attrs: AttrCodec

    def __init__(self) -> None:
        self.in_write = False
        #: Rows the interval writer added to (or took from) `version` and `relation`
        #: in the open write; added to `tally` as it commits (0012).
        self.tally: dict[str, int] = {}
        #: Labels known to be in `label`: a collector repeats a VM's name in every
        #: event, and asking the index each time cost a statement per observation.
        self.labelled: set[tuple[int, str, str]] = set()
        #: Labels `(key, value, entity)` met in the open write, not yet in `label`:
        #: written in one statement as it commits (`write_labels`), where one each,
        #: for a recorder meeting each of 10,000 entities for the first time, was a
        #: twentieth of a batch.
        self.labels_due: list[tuple[str, str, int]] = []
        #: Write transactions begun on this store object: the claim table keeps what
        #: a batch wrote for the next only while no write came between (claims.py).
        self.writes_begun = 0
        self._eid: dict[str, int] = {}
        self._eid_rev: dict[int, str] = {}
        self._src: dict[str, int] = {}
        self._src_rev: dict[int, str] = {}

    def forget_ids(self) -> None:
        """After a rolled-back write: ids it inserted are gone with it."""
        self._eid.clear()
        self._eid_rev.clear()
        self._src.clear()
        self._src_rev.clear()

    def _write_begun(self) -> None:
        self.writes_begun += 1
        self.tally.clear()
        self.labels_due.clear()

    def _write_undone(self) -> None:
        """After a rolled-back write: what was kept of it in memory went with it."""
        self.forget_ids()
        self.attrs.forget()
        self.labelled.clear()
        self.labels_due.clear()

    def write_labels(self) -> None:
        """Write `labels_due` (a write's, before it commits), in one order: two writers
        of a server never wait for each other's rows."""
        if self.labels_due:
            due = sorted(set(self.labels_due))
            self.labels_due.clear()
            self.conn.executemany("INSERT OR IGNORE INTO label VALUES (?, ?, ?)", due)

    def entity_id(self, eid: str, *, create: bool = False) -> int:
        """The integer behind an entity id; `UnknownEntity` if never recorded."""
        n = self._eid.get(eid)
        if n is not None:
            return n
        row = self.conn.execute("SELECT id FROM entity WHERE eid = ?", (eid,)).fetchone()
        if row is None:
            if not create:
                raise UnknownEntity(f"unknown entity {eid!r}: vtrail has never recorded it")
            cur = self.conn.execute(
                "INSERT INTO entity (eid, kind) VALUES (?, ?)", (eid, split_id(eid)[0])
            )
            n = int(cur.lastrowid or 0)
        else:
            n = int(row[0])
        self._eid[eid] = n
        self._eid_rev[n] = eid
        return n

    def entity_ids(self, eids: set[str]) -> dict[str, int]:
        """The integers of those of `eids` the store has recorded, asked in one statement
        for all that are not known here yet."""
        out = {e: n for e in eids if (n := self._eid.get(e)) is not None}
        missing = [e for e in eids if e not in out]
        if missing:
            rows = self.conn.execute(
                "SELECT id, eid FROM entity WHERE eid IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),),
            )
            for n, eid in rows:
                out[eid] = self._eid[eid] = int(n)
                self._eid_rev[int(n)] = eid
        return out

    def create_ids(self, eids: list[str]) -> None:
        """Intern entity ids the store has never recorded, a few thousand per statement
        (one round trip each on a server, where `entity_id` takes one per id)."""
        for i in range(0, len(eids), 5_000):
            chunk = eids[i : i + 5_000]
            marks = ", ".join(["(?, ?)"] * len(chunk))
            rows = self.conn.execute(
                f"INSERT INTO entity (eid, kind) VALUES {marks} RETURNING id, eid",
                [x for e in chunk for x in (e, split_id(e)[0])],
            ).fetchall()
            for n, eid in rows:
                self._eid[str(eid)] = int(n)
                self._eid_rev[int(n)] = str(eid)

    def entity_name(self, n: int) -> str:
        eid = self._eid_rev.get(n)
        if eid is None:
            row = self.conn.execute("SELECT eid FROM entity WHERE id = ?", (n,)).fetchone()
            if row is None:
                raise StoreError(f"store is inconsistent: no entity #{n}")
            eid = str(row[0])
            self._eid_rev[n] = eid
            self._eid[eid] = n
        return eid

    def source_id(self, name: str) -> int:
        n = self._src.get(name)
        if n is not None:
            return n
        row = self.conn.execute("SELECT id FROM source WHERE name = ?", (name,)).fetchone()
        if row is None:
            cur = self.conn.execute("INSERT INTO source (name) VALUES (?)", (name,))
            n = int(cur.lastrowid or 0)
        else:
            n = int(row[0])
        self._src[name] = n
        self._src_rev[n] = name
        return n

    def source_name(self, n: int) -> str:
        name = self._src_rev.get(n)
        if name is None:
            row = self.conn.execute("SELECT name FROM source WHERE id = ?", (n,)).fetchone()
            name = str(row[0]) if row else f"#{n}"
            self._src_rev[n] = name
        return name
