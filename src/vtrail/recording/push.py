"""`vtrail record --push`: what the sources emit, sent to a server's `POST /api/observations`.

`PushWriter` stands where the runner's `BatchWriter` stands (`writer.Writer`),
with two threads:

- the intake drains the queue into batches (up to `max_batch` observations or
  `max_batch_bytes`), in time order as the local writer records them (a stable
  sort: one source's events keep the order they were emitted in), and writes
  each to the spool (recording/spool.py) before anything is sent;
- the sender sends the spool's oldest batch, and the next only once the server
  has answered it, each under `Idempotency-Key: STREAM:SEQ`.

The server's answer decides:
- 2xx: committed, and durable (api/ingest.py): the batch leaves the spool;
- no answer (unreachable, timeout, connection cut), 5xx, 408, 429, or a refusal
  that is not the batch's fault (401/403: the token; 404/405: the URL): kept,
  and sent again after a pause that doubles up to `backoff_cap`; a batch whose
  reply was lost is known to the server by its key and not recorded twice;
- any other 4xx (422: an observation the server cannot read; 413: too large):
  the batch is malformed for that server and sending it again would fail the
  same way for ever. It goes to the spool's `quarantine/` with the server's
  reason, logged in one line and counted as dropped, and the next is sent.

When the spool holds `--spool-max` bytes, the intake stops taking batches:
the queue fills and the sources wait (back-pressure), nothing is dropped. At
`close()`, what is queued goes to the spool even past its bound (at most one
queue's worth), and the sender has until the timeout to deliver; what it could
not is sent by the next start on the same spool.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from vtrail.model import Observation
from vtrail.recording.spool import Spool, SpooledBatch
from vtrail.recording.writer import Tallies, WriterStats
from vtrail.wire import ObservationError, check, to_line

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)

#: Refusals that say nothing about the batch: kept and sent again.
RETRIED = frozenset({401, 403, 404, 405, 408, 425, 429})
#: Well under the server's default `--max-body` (16 MiB).
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PushStats(WriterStats):
    #: Batches and observations waiting in the spool, and its size.
    spooled_batches: int = 0
    spooled: int = 0
    spool_bytes: int = 0
    #: Batches the server refused as malformed (in the spool's quarantine/).
    quarantined: int = 0
    #: Batches the server had committed already (a reply lost, the batch sent again).
    replayed: int = 0


@dataclass(slots=True)
class _Times:
    """When a batch's observations were put, for the latency to their acknowledgement."""

    count: int
    total: float
    first: float
    last: float


_STOP = object()


class PushWriter:
    def __init__(
        self,
        url: str,
        token: str,
        spool: Spool,
        *,
        queue_size: int = 10_000,
        max_batch: int = 1000,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        timeout: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_cap: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/") + "/api/observations"
        self.spool = spool
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        # Imported here: `vtrail[push]` brings it, and a recorder that writes locally,
        # or the CLI showing these stats, does without.
        import httpx2

        self._unreachable = httpx2.HTTPError
        self._client = httpx2.Client(
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/x-ndjson",
            },
        )
        self._queue: queue.Queue[tuple[Observation, float, bool] | object] = queue.Queue(queue_size)
        self._cond = threading.Condition()
        self._pending = 0  # put, not yet in the spool
        self._intake_done = threading.Event()
        self._closing = threading.Event()
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._times: dict[int, _Times] = {}
        self._t = Tallies()
        self._quarantined = self._replayed = 0
        #: The last error is the server's or the spool's, and lasts until a batch goes through.
        self._failing = False

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        for target, name in ((self._intake, "intake"), (self._send_all, "sender")):
            t = threading.Thread(target=target, name=f"vtrail-push-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def put(self, o: Observation, *, checked: bool = False) -> bool:
        """Queue `o` to be pushed; False once the writer has stopped."""
        with self._cond:
            self._pending += 1
        if self._put((o, time.monotonic(), checked)):
            return True
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()
        return False

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far (and all the spool held) is acknowledged or
        quarantined; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self.spool.counts()[0]:
                left = deadline - time.monotonic()
                if left <= 0 or self._done.is_set():
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self, timeout: float) -> None:
        """Spool everything put so far, give the sender until `timeout` to deliver it,
        then stop; what is still spooled waits for the next start."""
        deadline = time.monotonic() + timeout
        self._put(_STOP)
        self._intake_done.wait(max(0.1, deadline - time.monotonic()))
        # Everything is on disk now; waiting on a server that does not answer is no use.
        with self._cond:
            while self.spool.counts()[0] and not self._failing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self._client.close()
        self._done.set()
        batches, n, _ = self.spool.counts()
        if batches:
            log.warning(
                "push: %d observations in %d batches left in %s, sent at the next start",
                n, batches, self.spool.path,
            )  # fmt: skip
        self.spool.close()

    def stats(self) -> PushStats:
        batches, spooled, size = self.spool.counts()
        with self._cond:
            return PushStats(
                queued=self._queue.qsize(),
                **asdict(self._t),
                spooled_batches=batches,
                spooled=spooled,
                spool_bytes=size,
                quarantined=self._quarantined,
                replayed=self._replayed,
            )

    # -- the intake: queue → spool -------------------------------------------------------

    def _put(self, item: object) -> bool:
        while not self._intake_done.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _intake(self) -> None:
        try:
            stopping = False
            while not stopping:
                item = self._queue.get()
                batch: list[tuple[Observation, str, float]] = []
                taken = size = 0
                while True:
                    if isinstance(item, tuple):
                        taken += 1
                        line = self._line(item[0], item[2])
                        if line is not None:
                            batch.append((item[0], line, item[1]))
                            size += len(line) + 1
                    else:
                        stopping = True
                    if stopping or len(batch) >= self.max_batch or size >= self.max_batch_bytes:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                self._spool(batch, taken, stopping)
        finally:
            self._intake_done.set()
            with self._cond:
                self._cond.notify_all()

    def _line(self, o: Observation, checked: bool) -> str | None:
        """`o` as a JSON line; None (counted, said) for one that breaks the format's rules,
        a collector's bug, so that it does not make the server refuse a whole batch."""
        try:
            return to_line(o if checked else check(o))
        except ObservationError as e:
            self._fail(f"refused an {e}")
            with self._cond:
                self._t.dropped += 1
            return None

    def _spool(
        self, batch: list[tuple[Observation, str, float]], taken: int, stopping: bool
    ) -> None:
        # Back-pressure: while the spool is full nothing more is taken from the queue,
        # so that the sources wait; at the stop, what was put is kept all the same.
        with self._cond:
            while self.spool.full and not stopping and not self._closing.is_set():
                self._cond.wait(0.5)
        batch.sort(key=lambda i: i[0].observed_at)
        body = "".join(f"{line}\n" for _, line, _ in batch).encode()
        seq = None
        while batch and seq is None:
            try:
                seq = self.spool.append(body, len(batch))
            except OSError as e:
                # A full or failing disk: hold the batch (and so the sources) until it clears.
                self._fail(f"cannot write to the spool {self.spool.path}: {e}", transient=True)
                if self._closing.wait(1.0):
                    self._fail(f"{len(batch)} observations lost: the spool cannot be written")
                    break
        enq = [t for _, _, t in batch]
        with self._cond:
            if seq is not None:
                self._times[seq] = _Times(len(batch), sum(enq), min(enq), max(enq))
            elif batch:
                self._t.dropped += len(batch)
            self._pending -= taken
            self._cond.notify_all()

    # -- the sender: spool → server ------------------------------------------------------

    def _send_all(self) -> None:
        backoff = self.backoff_initial
        while not self._closing.is_set():
            batch = self.spool.oldest()
            if batch is None:
                with self._cond:
                    if not self._closing.is_set() and not self.spool.counts()[0]:
                        self._cond.wait(0.2)
                continue
            if self._send(batch):
                backoff = self.backoff_initial
                continue
            self._closing.wait(backoff)
            backoff = min(self.backoff_cap, backoff * 2)

    def _send(self, batch: SpooledBatch) -> bool:
        """Send one batch; True once it has left the spool (acknowledged or quarantined)."""
        key = f"{self.spool.stream}:{batch.seq}"
        try:
            r = self._client.post(self.url, content=batch.body, headers={"Idempotency-Key": key})
        except self._unreachable as e:
            self._fail(
                f"{self.url} unreachable ({type(e).__name__}: {e}); batches kept", transient=True
            )
            return False
        if r.is_success:
            self.spool.acked(batch.seq)
            self._acknowledged(batch, r)
            return True
        detail = _detail(r)
        if r.status_code in RETRIED or r.status_code >= 500:
            self._fail(
                f"{self.url} answered {r.status_code} ({detail}); batches kept", transient=True
            )
            return False
        kept = self.spool.quarantine(batch.seq, f"{r.status_code} {detail}")
        self._fail(
            f"batch {batch.seq} ({batch.observations} observations) refused by the server "
            f"({r.status_code}: {detail}); set aside in {kept}, not sent again"
        )
        with self._cond:
            self._quarantined += 1
            self._t.dropped += batch.observations
            self._times.pop(batch.seq, None)
            self._cond.notify_all()
        return True

    def _acknowledged(self, batch: SpooledBatch, r: httpx2.Response) -> None:
        answer: dict[str, Any] = r.json()
        done = time.monotonic()
        with self._cond:
            self._t.recorded += batch.observations
            self._t.duplicates += int(answer.get("duplicates", 0))
            self._t.rows_written += int(answer.get("rows_written", 0))
            self._t.samples += int(answer.get("samples", 0))
            self._t.replays += int(answer.get("late_arrivals", 0))
            self._t.batches += 1
            if r.headers.get("Idempotency-Replayed") == "true":
                self._replayed += 1
            t = self._times.pop(batch.seq, None)
            if t is not None:
                self._t.latency_sum_s += done * t.count - t.total
                self._t.latency_count += t.count
                self._t.latency_max_s = max(self._t.latency_max_s, done - t.first)
                self._t.latency_last_s = done - t.last
            if self._failing:
                self._t.error, self._failing = None, False
            self._cond.notify_all()

    def _fail(self, message: str, *, transient: bool = False) -> None:
        """Say what went wrong, once; `transient`: it clears when a batch goes through."""
        with self._cond:
            repeated = message == self._t.error
            self._t.error, self._failing = message, transient
        if not repeated:
            log.warning("push: %s", message)


def _detail(r: httpx2.Response) -> str:
    """The server's one line (`{"detail": …}`), or the start of whatever it sent."""
    try:
        body = r.json()
    except ValueError:
        return " ".join(r.text.split())[:200] or r.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return " ".join(r.text.split())[:200]
