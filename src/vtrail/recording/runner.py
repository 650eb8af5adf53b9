"""The runner behind `vtrail record`: many sources, one writer.

Threads:
- one supervisor per source: opens its collector, starts `watch()` in a helper
  thread, then takes a snapshot, and another every `interval`; on
  `SourceError` it records a `disconnect`, backs off (doubling, capped) and
  reconnects; the
  snapshot taken on reconnect lets the recorder close what vanished meanwhile
  with `vanished_after` instead of a false instant (DESIGN.md, gaps);
- one writer owning the `Recorder`: drains the queue and records in batches,
  one transaction per batch. Everything handed to `emit` before `stop()` is
  recorded before `stop()` returns.

A source is also marked disconnected when recording starts (before its first
snapshot) and when it stops: while nobody watched, vanishings are of unknown
time, never the instant we looked again.

`stats()` returns a frozen `RunnerStats` for the status display and /metrics.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from vtrail.collectors.base import Collector, SourceError
from vtrail.model import Observation
from vtrail.recording.writer import BatchWriter, Writer, WriterStats
from vtrail.store import Store

log = logging.getLogger(__name__)

#: A collector's way to say "one thing went wrong, I carry on" (a bad line in a file).
Report = Callable[[str], None]
#: Builds a collector for one source; may raise `SourceError` (e.g. nothing listens yet).
Opener = Callable[[Report], Collector]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One `--source`, ready to open.

    `reconcile=False` is for sources whose observations carry their own
    sources (a tailed JSONL file): no snapshots, no disconnect marks.
    `parsed=True` says that its collector's observations come out of
    `vtrail.wire`'s parser, so the writer need not hold them to the rules again.
    """

    uri: str
    open: Opener
    reconcile: bool = True
    parsed: bool = False
    #: For a member of a `SourceGroup`: False once it is gone for good (its
    #: namespace deleted), which makes a failure its end, not a disconnect.
    exists: Callable[[], bool] | None = None


#: A group's way to start recording a member, and to end one (with the observation
#: that closes what it held, or None if its own watch already emitted that).
AddMember = Callable[[SourceSpec], None]
RemoveMember = Callable[[str, Observation | None], None]


@dataclass(frozen=True, slots=True)
class SourceGroup:
    """A `--source` whose members come and go (`netlink`: one per namespace).

    `follow(stop, add, remove)` runs in a thread of its own until `stop` is
    set; `close()` runs after every member has stopped.
    """

    uri: str
    follow: Callable[[threading.Event, AddMember, RemoveMember], None]
    close: Callable[[], None]


@dataclass(frozen=True, slots=True)
class SourceStatus:
    uri: str
    #: The collector's own name for itself (`libvirt+test:///default@hv-a`) once known.
    source: str | None
    connected: bool
    observations: int
    snapshots: int
    events: int
    disconnects: int
    connects: int
    last_observed_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunnerStats:
    started_at: datetime
    uptime_s: float
    sources: tuple[SourceStatus, ...]
    writer: WriterStats


@dataclass(slots=True)
class _Source:
    spec: SourceSpec
    source: str | None = None
    connected: bool = False
    observations: int = 0
    snapshots: int = 0
    events: int = 0
    disconnects: int = 0
    connects: int = 0
    last_observed_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    #: Bumped on every (dis)connection: emits from an older watch are dropped.
    generation: int = 0
    #: The instant the last events were stamped with, and how many shared it.
    tie_at: datetime | None = None
    ties: int = 0
    wake: threading.Event = field(default_factory=threading.Event)
    retire: threading.Event = field(default_factory=threading.Event)
    poke: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def status(self) -> SourceStatus:
        return SourceStatus(
            self.spec.uri,
            self.source,
            self.connected,
            self.observations,
            self.snapshots,
            self.events,
            self.disconnects,
            self.connects,
            self.last_observed_at,
            self.last_error,
            self.last_error_at,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _describe(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, SourceError) else f"{type(e).__name__}: {text}"


class _WatchEnded(SourceError):
    """A watch that returned while it should still be running."""


class Runner:
    """Record `sources` into `into` until `stop()`: a store, of which it is the only writer
    meanwhile, or a `Writer` that takes them elsewhere (`recording.push`)."""

    def __init__(
        self,
        into: Store | Writer,
        sources: Sequence[SourceSpec | SourceGroup],
        *,
        interval: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_cap: float = 30.0,
        queue_size: int = 10_000,
        max_batch: int = 1000,
    ) -> None:
        if interval <= 0:
            raise ValueError("the snapshot interval must be positive")
        self.interval = interval
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.max_batch = max_batch
        self._specs = list(sources)
        self._writer: Writer = (
            into
            if isinstance(into, Writer)
            else BatchWriter(into, queue_size=queue_size, max_batch=max_batch)
        )
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = _now()
        self._started_mono = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._started_at, self._started_mono = _now(), time.monotonic()
        self._writer.start()
        for spec in self._specs:
            if isinstance(spec, SourceGroup):
                t = threading.Thread(
                    target=self._follow, args=(spec,), name=f"vtrail-group {spec.uri}", daemon=True
                )
                self._threads.append(t)
                t.start()
            else:
                self._add(spec)

    def stop(self, timeout: float = 15.0) -> RunnerStats:
        """Stop every source, record what they emitted, then stop the writer."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        with self._lock:
            sources = list(self._sources.values())
        for s in sources:
            s.wake.set()
        for t in [*self._threads, *(s.thread for s in sources if s.thread)]:
            t.join(max(0.1, deadline - time.monotonic()))
        for spec in self._specs:
            if isinstance(spec, SourceGroup):
                try:
                    spec.close()
                except Exception as e:
                    log.debug("%s: close failed: %s", spec.uri, e)
        self._writer.close(max(0.1, deadline - time.monotonic()))
        return self.stats()

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything emitted so far is committed; False on timeout."""
        return self._writer.flush(timeout)

    def reconcile_now(self) -> None:
        """Ask every connected source for a snapshot now instead of at its next tick."""
        with self._lock:
            for s in self._sources.values():
                s.poke.set()
                s.wake.set()

    def stats(self) -> RunnerStats:
        with self._lock:
            sources = tuple(s.status() for s in self._sources.values())
        return RunnerStats(
            self._started_at, time.monotonic() - self._started_mono, sources, self._writer.stats()
        )

    # -- sources -------------------------------------------------------------------

    def _add(self, spec: SourceSpec) -> None:
        s = _Source(spec)
        with self._lock:
            self._sources[spec.uri] = s
        s.thread = threading.Thread(
            target=self._supervise, args=(s,), name=f"vtrail-source {spec.uri}", daemon=True
        )
        s.thread.start()

    def _follow(self, group: SourceGroup) -> None:
        """Run the group's follower; if it fails, say so and start it again."""
        while not self._stop.is_set():
            try:
                group.follow(self._stop, self._add, self._remove)
            except Exception as e:
                log.warning("%s: following members failed: %s", group.uri, _describe(e))
                self._stop.wait(self.backoff_initial)

    def _remove(self, uri: str, final: Observation | None) -> None:
        """A member ended for good (its namespace was deleted): its end, not a disconnect."""
        with self._lock:
            s = self._sources.get(uri)
        if s is None:
            return
        s.retire.set()
        s.wake.set()
        if s.thread is not None:
            s.thread.join(5)
        if final is not None:
            self._emit(s, final, "event")
        with self._lock:
            if self._sources.get(uri) is s:
                del self._sources[uri]

    def _supervise(self, s: _Source) -> None:
        backoff = self.backoff_initial
        while not self._done(s):
            up_since = time.monotonic()
            try:
                collector = s.spec.open(lambda msg: self._problem(s, msg))
                with self._lock:
                    s.source = collector.source
                self._session(s, collector)
            except Exception as e:
                if not isinstance(e, SourceError):
                    log.exception("%s: unexpected failure", s.spec.uri)
                self._problem(s, _describe(e))
            self._end_session(s)
            if self._done(s):
                break
            if time.monotonic() - up_since >= self.backoff_cap:
                backoff = self.backoff_initial  # it was up a good while: a fresh failure
            delay = backoff * random.uniform(0.9, 1.1)  # spread many sources' retries
            backoff = min(self.backoff_cap, backoff * 2)
            self._wait(s, delay)

    def _done(self, s: _Source) -> bool:
        return self._stop.is_set() or s.retire.is_set()

    def _wait(self, s: _Source, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._done(s) and (left := deadline - time.monotonic()) > 0:
            s.wake.wait(left)
            s.wake.clear()

    def _session(self, s: _Source, collector: Collector) -> None:
        """One connection's life: snapshot, watch, snapshot every interval; raises on loss."""
        with self._lock:
            s.generation += 1
            gen = s.generation
        watch_stop = threading.Event()
        outcome: list[BaseException | None] = []
        watcher: threading.Thread | None = None

        def emit(o: Observation) -> None:
            with self._lock:
                current = s.generation == gen
            if current:
                self._emit(s, o, "event")

        def run_watch() -> None:
            err: BaseException | None = None
            try:
                collector.watch(emit, watch_stop)
            except BaseException as e:
                err = e
            outcome.append(err)
            s.wake.set()

        try:
            if s.spec.reconcile:
                with self._lock:
                    first = s.connects == 0
                if first:
                    # Recording starts: until this snapshot nobody watched.
                    self._emit(s, Observation(collector.source, _now(), "disconnect"), "disconnect")
            # Watch first, snapshot second: a change between the two is then an event
            # with its own instant, not a surprise in the next interval's snapshot.
            watcher = threading.Thread(
                target=run_watch, name=f"vtrail-watch {s.spec.uri}", daemon=True
            )
            watcher.start()
            self._await_watching(collector, outcome)
            if s.spec.reconcile:
                s.poke.clear()
                self._emit(s, collector.snapshot(), "snapshot")
            with self._lock:
                s.connected = True
                s.connects += 1
            next_snap = time.monotonic() + self.interval
            while not self._done(s):
                s.wake.wait(max(0.0, next_snap - time.monotonic()))
                s.wake.clear()
                if self._done(s):
                    break
                if outcome:
                    if outcome[0] is None:
                        raise _WatchEnded(f"{s.spec.uri}: the watch ended by itself")
                    raise outcome[0]
                if s.poke.is_set() or time.monotonic() >= next_snap:
                    s.poke.clear()
                    if s.spec.reconcile:
                        self._emit(s, collector.snapshot(), "snapshot")
                    # Re-armed for a source without snapshots too: a deadline left in
                    # the past would make the wait above return at once, for ever.
                    next_snap = time.monotonic() + self.interval
        finally:
            watch_stop.set()
            try:
                collector.close()  # also unblocks a watch waiting on its connection
            except Exception as e:
                log.debug("%s: close failed: %s", s.spec.uri, e)
            if watcher is not None:
                watcher.join(5)
            with self._lock:
                s.generation += 1  # whatever the old watch still emits is dropped

    def _await_watching(
        self, collector: Collector, outcome: list[BaseException | None], timeout: float = 5.0
    ) -> None:
        """Until the watch has its subscriptions in place, for collectors that say so.

        A collector may offer `watching`, a `threading.Event` set once its
        `watch()` misses nothing (the libvirt one does); others are watched from
        their first line, or diff their watch against their last snapshot.
        """
        watching = getattr(collector, "watching", None)
        if not isinstance(watching, threading.Event):
            return
        deadline = time.monotonic() + timeout
        while not watching.wait(0.05):
            if outcome:
                if outcome[0] is None:
                    raise _WatchEnded("the watch ended before it began")
                raise outcome[0]
            if time.monotonic() > deadline or self._stop.is_set():
                return

    def _end_session(self, s: _Source) -> None:
        with self._lock:
            was, s.connected = s.connected, False
            source, last = s.source, s.last_observed_at
        if s.spec.exists is not None and not s.retire.is_set():
            try:
                gone = not s.spec.exists()
            except Exception:
                gone = False
            if gone:
                # Ended for good (its namespace was deleted); its group records the end.
                s.retire.set()
                return
        if was and s.spec.reconcile and source is not None and not s.retire.is_set():
            # Lost, or we stop watching: what it showed is of unknown fate from now.
            # After the watch has stopped, so that no event of this session follows it.
            at = _now()
            if last is not None and last >= at:
                at = last + timedelta(microseconds=1)
            self._emit(s, Observation(source, at, "disconnect"), "disconnect")

    def _problem(self, s: _Source, message: str) -> None:
        log.info("%s: %s", s.spec.uri, message)
        with self._lock:
            s.last_error, s.last_error_at = message, _now()

    # -- into the writer ----------------------------------------------------------------

    def _emit(self, s: _Source, o: Observation, what: str) -> None:
        with self._lock:
            if what == "event" and s.spec.reconcile:
                o = _in_emission_order(s, o)
            s.observations += 1
            s.last_observed_at = o.observed_at
            if what == "snapshot":
                s.snapshots += 1
            elif what == "event":
                s.events += 1
            else:
                s.disconnects += 1
        self._writer.put(o, checked=s.spec.parsed and what == "event")


def _in_emission_order(s: _Source, o: Observation) -> Observation:
    """Events of one source stamped with one instant keep the order they were emitted in.

    A collector may stamp every event of one read with the same instant; the
    recorder breaks ties by content, which could apply "port gone" before
    "port left its bridge" and revive the port. One microsecond apart each,
    in emission order, they cannot be reordered. (Only for live collectors: a
    file's observations keep their instants, and a line read twice stays a
    duplicate.)
    """
    if o.observed_at != s.tie_at:
        s.tie_at, s.ties = o.observed_at, 0
        return o
    s.ties += 1
    return replace(o, observed_at=o.observed_at + timedelta(microseconds=s.ties))
