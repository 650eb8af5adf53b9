"""bench/soak.py's checks: a recorded store against the file it recorded.

- `journal_against_file`: the journal holds every line of the file exactly
  once and nothing else, each entry decoded and compared with its line as
  canonical JSON;
- `history_against_serial`: the history equals a serial ingest of the same
  file into a fresh store, table by table, as tests/test_recorder_order.py
  compares them (with the sample blocks still filling).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import Any

from vtrail.model import canonical
from vtrail.payload import decode
from vtrail.recording.ingest import ingest_lines
from vtrail.store import SqliteStore
from vtrail.store.journal import Journal
from vtrail.wire import to_dict


@dataclass(frozen=True)
class JournalCheck:
    missing: int
    doubled: int
    #: Entries that are no line of the file.
    unknown: int


@dataclass(frozen=True)
class HistoryCheck:
    #: Versions, relations and sample blocks of the serial ingest.
    rows: tuple[int, ...]
    #: None if equal, else which table differs and where.
    difference: str | None
    #: The serial ingest's observations per second of CPU time.
    serial_rate: float


def _digest(d: Any) -> bytes:
    return blake2b(canonical(d).encode(), digest_size=16).digest()


def journal_against_file(db: Path, path: Path) -> JournalCheck:
    want = Counter(_digest(json.loads(line)) for line in path.open() if line.strip())
    store = SqliteStore(db, readonly=True)
    try:
        got = Counter(_digest(to_dict(decode(p))) for p, _ in Journal(store).entries())
    finally:
        store.close()
    return JournalCheck(
        missing=sum((want - got).values()),
        doubled=sum(n - want[d] for d, n in got.items() if d in want and n > want[d]),
        unknown=sum(n for d, n in got.items() if d not in want),
    )


def history(store: SqliteStore) -> tuple[list[Any], ...]:
    c = store.conn
    return (
        [
            (eid, vf, vt, store.attrs.decode(attrs), src, va)
            for eid, vf, vt, attrs, src, va in c.execute(
                "SELECT e.eid, valid_from, valid_to, attrs, s.name, vanished_after FROM version v "
                "JOIN entity e ON e.id = v.entity JOIN source s ON s.id = v.source ORDER BY 1, 2"
            )
        ],
        c.execute(
            "SELECT a.eid, rel, b.eid, valid_from, valid_to, s.name, vanished_after FROM relation r "
            "JOIN entity a ON a.id = r.src JOIN entity b ON b.id = r.dst "
            "JOIN source s ON s.id = r.source ORDER BY 1, 2, 3, 4"
        ).fetchall(),
        c.execute(
            "SELECT e.eid, metric, t0, t1, n, v_first, v_last, increase, data, sealed FROM "
            "(SELECT *, 1 AS sealed FROM sample UNION ALL SELECT *, 0 FROM sample_open) x "
            "JOIN entity e ON e.id = x.entity ORDER BY 1, 2, 3"
        ).fetchall(),
    )


def chunks(path: Path, size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    with path.open() as f:
        for line in f:
            batch.append(line)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def history_against_serial(db: Path, path: Path, serial_db: Path) -> HistoryCheck:
    """`serial_db` is made by ingesting `path` in order, 10,000 lines a transaction."""
    serial = SqliteStore(serial_db)
    try:
        t0 = time.process_time()
        n = sum(ingest_lines(serial, chunk).observations for chunk in chunks(path, 10_000))
        rate = n / max(1e-9, time.process_time() - t0)
        expected = history(serial)
    finally:
        serial.close()
    store = SqliteStore(db, readonly=True)
    try:
        recorded = history(store)
    finally:
        store.close()
    rows = tuple(len(t) for t in expected)
    for name, a, b in zip(("versions", "relations", "samples"), recorded, expected, strict=True):
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            where = f"first difference at row {first:,}" if first is not None else "one is longer"
            return HistoryCheck(
                rows, f"{name}: {len(a):,} recorded, {len(b):,} serial; {where}", rate
            )
    return HistoryCheck(rows, None, rate)
