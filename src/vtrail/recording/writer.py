"""The runner's single writer: a queue drained into the `Recorder` in batches.

Collectors' threads `put()` observations; one thread owns the `Recorder` and
records whatever has queued up meanwhile as one transaction. `close()`
records everything put before it, then stops. A full queue blocks `put()`:
the sources slow down rather than the process growing without bound.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import Store
from vtrail.wire import ObservationError, check

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Tallies:
    """What a writer has done so far, as `WriterStats` reports it (the queue aside)."""

    recorded: int = 0
    duplicates: int = 0
    rows_written: int = 0
    samples: int = 0
    batches: int = 0
    replays: int = 0
    dropped: int = 0
    latency_last_s: float = 0.0
    latency_max_s: float = 0.0
    latency_sum_s: float = 0.0
    latency_count: int = 0
    error: str | None = None


#: How often a batch that hit a busy store is retried before it is given up.
BUSY_RETRIES = 5


@dataclass(frozen=True, slots=True)
class WriterStats:
    #: Observations waiting for the writer.
    queued: int
    #: Observations committed (duplicates included) and what they cost.
    recorded: int
    duplicates: int
    rows_written: int
    samples: int
    batches: int
    replays: int
    #: Observations the recorder refused (a collector bug) or a dead store lost.
    dropped: int
    #: Seconds from `put()` to commit: the last one, the worst, and sum/count for a mean.
    latency_last_s: float
    latency_max_s: float
    latency_sum_s: float
    latency_count: int
    error: str | None


@runtime_checkable
class Writer(Protocol):
    """Where the runner hands what its sources emit: this module's `BatchWriter` (into
    a local store) or `recording.push.PushWriter` (to a server, through a spool)."""

    @property
    def done(self) -> bool: ...

    def start(self) -> None: ...

    def put(self, o: Observation, *, checked: bool = False) -> bool: ...

    def close(self, timeout: float) -> None: ...

    def flush(self, timeout: float) -> bool: ...

    def stats(self) -> WriterStats: ...


@dataclass(frozen=True, slots=True)
class _Item:
    obs: Observation
    enqueued: float


_STOP = object()


class BatchWriter:
    def __init__(self, store: Store, *, queue_size: int = 10_000, max_batch: int = 1000):
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[_Item | object] = queue.Queue(queue_size)
        self._idle = threading.Condition()
        self._pending = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._t = Tallies()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vtrail-writer", daemon=True)
        self._thread.start()

    def put(self, o: Observation, *, checked: bool = False) -> bool:
        """Queue `o` for recording; False once the writer has stopped.

        `checked=True` only for what `vtrail.wire`'s parser gave: it is recorded
        without being held to the format's rules a second time. Anything else is
        held to them here, in the caller's thread (a source's), so that the writer's
        thread spends itself on the store alone; one that breaks them is refused and
        counted as dropped, and the writer goes on.
        """
        with self._idle:
            self._pending += 1
        item = _Item(o, time.monotonic())
        if not checked:
            try:
                check(o)
            except ObservationError as e:
                # A collector's bug, and its message says which field breaks which rule.
                self._failed(f"refused an {e}", [item])
                return True
        if self._put(item):
            return True
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()
        return False

    def close(self, timeout: float) -> None:
        """Record everything put so far, then stop the thread."""
        self._put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or self._done.is_set():
                    return False
                self._idle.wait(min(left, 0.5))
        return True

    def stats(self) -> WriterStats:
        with self._idle:
            return WriterStats(
                queued=self._queue.qsize(),
                **asdict(self._t),
            )

    # -- the writer thread ---------------------------------------------------------

    def _put(self, item: _Item | object) -> bool:
        # Block while the writer is behind (backpressure), never past its end.
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _loop(self) -> None:
        recorder = Recorder(self.store)
        try:
            stopping = False
            while not stopping:
                batch: list[_Item] = []
                item = self._queue.get()
                while True:
                    if isinstance(item, _Item):
                        batch.append(item)
                    else:
                        stopping = True
                    if stopping or len(batch) >= self.max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._commit(recorder, batch)
        finally:
            self._done.set()
            with self._idle:
                self._idle.notify_all()

    def _commit(self, recorder: Recorder, batch: list[_Item]) -> None:
        # In time order, so that a batch seldom makes the recorder replay.
        batch.sort(key=lambda i: i.obs.observed_at)
        for attempt in range(BUSY_RETRIES):
            try:
                # Checked by `put`, so that parsed observations skip a second pass
                # (an eighth of a file's cost) and the others cost this thread nothing.
                st = recorder.record([i.obs for i in batch], validated=True)
                break
            except sqlite3.OperationalError as e:
                # Another process holds the store longer than its busy timeout.
                if attempt == BUSY_RETRIES - 1:
                    self._failed(f"store unusable, {len(batch)} observations lost: {e}", batch)
                    return
                self._failed(f"store busy ({e}); retrying", [])
                time.sleep(1.0)
            except Exception as e:
                if len(batch) > 1:
                    for item in batch:  # find the one that spoils the batch; record the rest
                        self._commit(recorder, [item])
                    return
                source = batch[0].obs.source
                log.exception("the recorder refused an observation from %s", source)
                self._failed(
                    f"refused an observation from {source}: {type(e).__name__}: {e}", batch
                )
                return
        done = time.monotonic()
        with self._idle:
            self._t.recorded += len(batch)
            self._t.duplicates += st.duplicates
            self._t.rows_written += st.rows_written
            self._t.samples += st.samples
            self._t.replays += st.replays
            self._t.batches += 1
            for item in batch:
                lat = done - item.enqueued
                self._t.latency_sum_s += lat
                self._t.latency_max_s = max(self._t.latency_max_s, lat)
            self._t.latency_last_s = done - batch[-1].enqueued
            self._t.latency_count += len(batch)
            self._pending -= len(batch)
            self._idle.notify_all()

    def _failed(self, message: str, lost: list[_Item]) -> None:
        log.warning("writer: %s", message)
        with self._idle:
            self._t.error = message
            self._t.dropped += len(lost)
            self._pending -= len(lost)
            self._idle.notify_all()
