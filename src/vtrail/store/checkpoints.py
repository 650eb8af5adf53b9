"""Checkpoints of the live set, so that a snapshot at T costs the same whatever the history.

A checkpoint at `ts` holds every version and relation that began before `ts`
and had not ended when it was taken. Members are packed as zlib-compressed
arrays (sorted ids as deltas, ages as `ts - valid_from`), a few bytes each
instead of an indexed row each. Readers unpack the checkpoint they need into a
temporary table once and keep it while later questions use the same one, as a
time slider does.
"""

from __future__ import annotations

import json
import zlib
from array import array
from itertools import accumulate

from vtrail.store.conn import Conn

_Q = "q"


def _pack(*columns: list[int]) -> bytes:
    # Level 1: a twentieth larger than 6 and a quarter of its time, which the writer pays.
    return zlib.compress(b"".join(array(_Q, c).tobytes() for c in columns), 1)


def _unpack(blob: bytes, width: int) -> list[list[int]]:
    raw = array(_Q)
    raw.frombytes(zlib.decompress(blob))
    n = len(raw) // width
    return [raw[i * n : (i + 1) * n].tolist() for i in range(width)]


def _deltas(xs: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *xs], xs, strict=False)]


def take(c: Conn, ts: int) -> int | None:
    """Save the live set as of just before `ts`; its size, or None if one exists there."""
    if c.execute("SELECT 1 FROM checkpoint WHERE ts >= ?", (ts,)).fetchone():
        return None
    vs = c.execute(
        "SELECT entity, valid_from FROM version WHERE valid_to IS NULL AND valid_from < ? "
        "ORDER BY entity",
        (ts,),
    ).fetchall()
    rs = c.execute(
        "SELECT src, rel, dst, valid_from FROM relation WHERE valid_to IS NULL "
        "AND valid_from < ? ORDER BY src, rel, dst",
        (ts,),
    ).fetchall()
    names = sorted({r[1] for r in rs})
    index = {name: i for i, name in enumerate(names)}
    versions = _pack(_deltas([v[0] for v in vs]), [ts - v[1] for v in vs])
    relations = _pack(
        _deltas([r[0] for r in rs]),
        [r[2] for r in rs],
        [index[r[1]] for r in rs],
        [ts - r[3] for r in rs],
    )
    c.execute(
        "INSERT INTO checkpoint (ts, size, versions, relations, rel_names) VALUES (?, ?, ?, ?, ?)",
        (ts, len(vs) + len(rs), versions, relations, json.dumps(names)),
    )
    return len(vs) + len(rs)


def drop_from(c: Conn, ts: int) -> None:
    """Forget checkpoints at or after `ts` (history before them changed)."""
    c.execute("DELETE FROM checkpoint WHERE ts >= ?", (ts,))


class CheckpointCache:
    """Unpacks the checkpoint nearest before T into temp tables `_cp_version(entity,
    valid_from)` and `_cp_relation(src, rel, dst, valid_from)`; returns its instant."""

    def __init__(self, c: Conn) -> None:
        self.c = c
        self._loaded: int | None = None

    def load(self, t: int) -> int:
        row = self.c.execute(
            "SELECT id, ts FROM checkpoint WHERE ts <= ? ORDER BY ts DESC LIMIT 1", (t,)
        ).fetchone()
        cp, ts = (int(row[0]), int(row[1])) if row else (-1, -(2**62))
        if cp == self._loaded and self._present():
            return ts
        self.c.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _cp_version "
            "(entity INTEGER PRIMARY KEY, valid_from INTEGER NOT NULL)"
        )
        self.c.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _cp_relation (src INTEGER, rel TEXT, dst INTEGER, "
            "valid_from INTEGER NOT NULL, PRIMARY KEY (src, rel, dst)) WITHOUT ROWID"
        )
        # One transaction for the refill: row by row in autocommit it is four times slower.
        self.c.execute("SAVEPOINT checkpoint_load")
        try:
            self._fill(cp, ts)
        except BaseException:
            self.c.execute("ROLLBACK TO checkpoint_load")
            raise
        finally:
            self.c.execute("RELEASE checkpoint_load")
        self._loaded = cp
        return ts

    def _fill(self, cp: int, ts: int) -> None:
        self.c.execute("DELETE FROM temp._cp_version")
        self.c.execute("DELETE FROM temp._cp_relation")
        if cp >= 0:
            versions, relations, names_text = self.c.execute(
                "SELECT versions, relations, rel_names FROM checkpoint WHERE id = ?", (cp,)
            ).fetchone()
            names = json.loads(names_text)
            ents, ages = _unpack(versions, 2)
            self.c.executemany(
                "INSERT INTO temp._cp_version VALUES (?, ?)",
                zip(accumulate(ents), (ts - a for a in ages), strict=True),
            )
            srcs, dsts, rels, rages = _unpack(relations, 4)
            self.c.executemany(
                "INSERT INTO temp._cp_relation VALUES (?, ?, ?, ?)",
                zip(
                    accumulate(srcs),
                    (names[i] for i in rels),
                    dsts,
                    (ts - a for a in rages),
                    strict=True,
                ),
            )

    def _present(self) -> bool:
        row = self.c.execute(
            "SELECT 1 FROM temp.sqlite_schema WHERE name = '_cp_version'"
        ).fetchone()
        return row is not None
