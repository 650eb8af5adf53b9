"""What the server remembers of collectors that push: per stream, the last batch committed.

A pushing collector (`vtrail record --push`) numbers its batches 1, 2, 3 … in
its stream and sends them strictly in order, the next only once the last was
acknowledged or refused. So the server needs one number per stream, not one
row per batch: a batch numbered at or below the stream's `last_seq` was
committed already and its reply lost; it is acknowledged again and not
recorded twice. `remember` runs inside the batch's own transaction, so that
the number and the observations commit together or not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vtrail.store.interfaces import Store


@dataclass(frozen=True, slots=True)
class Stream:
    stream: str
    last_seq: int
    batches: int
    observations: int
    #: When its last batch was committed, in microseconds.
    at: int


def committed(store: Store, stream: str, seq: int) -> bool:
    """Whether batch `seq` of `stream` was committed already (it is a re-send)."""
    row = store.conn.execute(
        "SELECT last_seq FROM push_stream WHERE stream = ?", (stream,)
    ).fetchone()
    return row is not None and seq <= int(row[0])


def remember(store: Store, stream: str, seq: int, observations: int) -> None:
    """Batch `seq` of `stream` is being committed; call inside its transaction."""
    assert store.in_write, "a batch's number commits with the batch"
    store.conn.execute(
        "INSERT INTO push_stream (stream, last_seq, batches, observations, at) "
        "VALUES (?, ?, 1, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
        "last_seq = excluded.last_seq, batches = push_stream.batches + 1, "
        "observations = push_stream.observations + excluded.observations, at = excluded.at",
        (stream, seq, observations, time.time_ns() // 1000),
    )


def streams(store: Store) -> list[Stream]:
    """Every stream that has pushed to this store, by name."""
    rows = store.conn.execute(
        "SELECT stream, last_seq, batches, observations, at FROM push_stream ORDER BY stream"
    ).fetchall()
    return [Stream(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]
