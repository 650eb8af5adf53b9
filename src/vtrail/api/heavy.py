"""The whole-fabric questions (snapshot, diff, ghosts, topology, check, plan rolling), asked
in worker processes.

A snapshot of 20,000 entities is about a second of Python: rows into objects,
objects into 8 MB of JSON. Asked in the server's threads, twenty of them shared
one GIL with `where`, which needs it for a tenth of a millisecond and waited
behind all of them (15 s at the median, issue 16). In worker processes they
share only the CPU, which the kernel hands out fairly, and each worker reads
through its own read-only connection.

Each kind of question has a lane that asks one at a time, so a storm of
snapshots holds one worker and leaves the other to diffs. A request for a
question already waiting in its lane joins it instead of queuing again; it
never joins one that has started, so no answer comes from a store older than
its request. An answer is kept until the store changes (`PRAGMA data_version`
of the lane's connection), for the next client asking the same.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vtrail.api.errors import status_of
from vtrail.maintenance.rolling import rolling
from vtrail.policy.load import parse_policy
from vtrail.query import state
from vtrail.query.graph import to_dot, topology
from vtrail.query.jsonable import to_jsonable
from vtrail.query.snapshot_json import snapshot_jsonable
from vtrail.store import Store, StoreError, open_store, server_url
from vtrail.triage import check
from vtrail.triage.policy_at import policy_at, recorded_policy

#: Worker processes: one per core of the machine this was measured on; the lanes
#: keep at most one question of each kind running.
WORKERS = 2
#: How much lower the workers' CPU priority is than the server's and the recorder's.
NICE = 10
#: Answers kept for repeated questions over an unchanged store, in bytes of JSON.
CACHE_BYTES = 64 << 20

#: Answers from this size on are also sent gzipped (level 1: 15 ms for a 20,000-entity
#: snapshot, 8 MB of JSON to 0.4 MB).
GZIP_FROM = 64 << 10
JSON = "application/json"


class Now:
    """The present, taken when the answer is begun, not when it was asked for: requests
    joining one waiting question about "now" share one instant, never older than theirs."""

    def __repr__(self) -> str:
        return "NOW"

    def __reduce__(self) -> str:
        return "NOW"  # the same object in a worker process


NOW = Now()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    media_type: str = JSON
    #: The body gzipped, when it is large: made once in the worker, it spares the server
    #: copying 8 MB to each of the clients that share an answer (and that accept gzip).
    gzipped: bytes | None = None


def _reply(body: bytes, media_type: str = JSON) -> Reply:
    packed = gzip.compress(body, compresslevel=1, mtime=0) if len(body) >= GZIP_FROM else None
    return Reply(200, body, media_type, packed)


#: One encoder for every answer: `json.dumps` with options makes a new one per call,
#: a tenth of a `where`'s time in the server (docs/performance.md).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(data: Any) -> bytes:
    """JSON as every answer of the API is sent: compact, UTF-8."""
    return _COMPACT.encode(data).encode()


# -- in the worker ---------------------------------------------------------------------

_store: Store | None = None


def _open(db: str) -> None:
    global _store  # noqa: PLW0603 - one connection per worker process, for its life
    # Below the recorder and the light questions: when the CPU is short, a snapshot
    # storm waits, not ingest nor `where`.
    os.nice(NICE)
    _store = open_store(Path(db), readonly=True)


def _snapshot(s: Store, at: datetime, kind: str | None) -> Reply:
    return _reply(dumps(snapshot_jsonable(s, at, kind)))


def _diff(s: Store, a: datetime, b: datetime, kind: str | None) -> Reply:
    return _reply(dumps(to_jsonable(state.diff(s, a, b, kind))))


def _ghosts(s: Store, a: datetime, b: datetime) -> Reply:
    return _reply(dumps(to_jsonable(state.ghosts(s, a, b))))


def _topology(
    s: Store, at: datetime, around: str | None, depth: int, kind: str | None, output: str
) -> Reply:
    found = topology(s, at, around, depth, kind)
    if output == "dot":
        return _reply(to_dot(found).encode(), "text/vnd.graphviz")
    return _reply(dumps(to_jsonable(found)))


def _check(
    s: Store,
    policy: str | None,
    at: datetime | None,
    t_from: datetime | None,
    t_to: datetime | None,
) -> Reply:
    if policy is None:
        # The policy in force at the instant the answer is about (a window's end).
        where = "recorded"
        rules = recorded_policy(s, at or t_to or datetime.now(UTC))
    else:
        where = "request body"
        # JSON is YAML too: one reader for both forms of the body.
        rules = parse_policy(policy, where)
    found = check(s, rules, where, at=at, t_from=t_from, t_to=t_to)
    return _reply(dumps(to_jsonable(found)))


def _rolling(s: Store, hosts: str | None, at: datetime) -> Reply:
    return _reply(dumps(to_jsonable(rolling(s, policy_at(s, at), at, hosts))))


QUESTIONS: dict[str, Callable[..., Reply]] = {
    "check": _check,
    "rolling": _rolling,
    "snapshot": _snapshot,
    "diff": _diff,
    "ghosts": _ghosts,
    "topology": _topology,
}


def _answer(question: str, args: tuple[Any, ...]) -> Reply:
    """Run in a worker: the answer, or the one-line refusal the API gives for it."""
    assert _store is not None, "the worker's store is opened by its initializer"
    now = datetime.now(UTC)
    args = tuple(now if a is NOW else a for a in args)
    conn = _store.conn
    # One read transaction: every statement of the answer sees the same store.
    conn.execute("BEGIN")
    try:
        return QUESTIONS[question](_store, *args)
    except Exception as e:
        status = status_of(e)
        if status is None:
            # Sent back as plain text: vtrail's own exceptions need not survive pickling.
            raise RuntimeError(f"{question} failed: {type(e).__name__}: {e}") from None
        return Reply(status, dumps({"detail": str(e)}))
    finally:
        conn.execute("COMMIT")


# -- in the server -----------------------------------------------------------------------


class _Cache:
    """The latest answers by (question, store version), up to `limit` bytes of them."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self._items: OrderedDict[Hashable, Reply] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Reply | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: Hashable, reply: Reply) -> None:
        if reply.status != 200 or len(reply.body) > self.limit // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.size += len(reply.body) - (len(old.body) if old else 0)
            self._items[key] = reply
            while self.size > self.limit:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped.body)


class Heavy:
    """The lanes, the worker pool and the cache of one app."""

    def __init__(self, db: Path, workers: int = WORKERS, cache_bytes: int = CACHE_BYTES) -> None:
        self.db, self.workers = db, workers
        # SQLite's data_version tells when a kept answer went stale; a server has no
        # such counter here, so its answers are computed each time, never kept.
        self._keeps = server_url(db) is None
        self.cache = _Cache(cache_bytes)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._waiting: dict[tuple[str, Hashable], Future[Reply]] = {}
        self._versions = threading.local()
        self._conns: list[sqlite3.Connection] = []
        #: (question, how) -> requests: "asked" anew (then "computed" in a worker or
        #: "cached"), or "joined" to the same question waiting.
        self.counts: Counter[tuple[str, str]] = Counter()

    def ask(self, question: str, args: tuple[Hashable, ...]) -> Future[Reply]:
        """The answer to come; joins the same question when it is waiting in its lane."""
        key = (question, args)
        with self._lock:
            waiting = self._waiting.get(key)
            if waiting is not None:
                self.counts[question, "joined"] += 1
                return waiting
            future: Future[Reply] = Future()
            self._waiting[key] = future
            self.counts[question, "asked"] += 1
            lane = self._lanes.get(question)
            if lane is None:
                lane = self._lanes[question] = ThreadPoolExecutor(
                    1, thread_name_prefix=f"vtrail-{question}"
                )
            lane.submit(self._run, key, future)
        return future

    def _run(self, key: tuple[str, tuple[Hashable, ...]], future: Future[Reply]) -> None:
        with self._lock:
            if self._waiting.get(key) is not future:
                return  # answered by close()
            # Begun: a request from now on waits for a fresh answer.
            del self._waiting[key]
        if not future.set_running_or_notify_cancel():
            return
        try:
            # "Now" is not kept: the same store answers a later "now" with a later instant.
            version = None if NOW in key[1] or not self._keeps else self._version()
            kept = None if version is None else self.cache.get((key, version))
            if kept is not None:
                with self._lock:
                    self.counts[key[0], "cached"] += 1
                future.set_result(kept)
                return
            reply = self._computed(key)
            if version is not None:
                self.cache.put((key, version), reply)
            future.set_result(reply)
        except BaseException as e:
            future.set_exception(e)

    def _computed(self, key: tuple[str, tuple[Hashable, ...]]) -> Reply:
        reply = self._in_worker(*key)
        with self._lock:
            self.counts[key[0], "computed"] += 1
        return reply

    def _version(self) -> int:
        """This lane's count of the store's commits (SQLite's data_version)."""
        conn: sqlite3.Connection | None = getattr(self._versions, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                f"{self.db.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._versions.conn = conn
            with self._lock:
                self._conns.append(conn)
        return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _in_worker(self, question: str, args: tuple[Any, ...]) -> Reply:
        for attempt in (1, 2):
            pool = self._get_pool()
            try:
                return pool.submit(_answer, question, args).result()
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start a fresh pool, ask once more.
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise StoreError("a worker process died while answering") from None
        raise AssertionError("unreachable")

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: a worker is forked from a clean process that has imported
                # vtrail once, never from this one with its threads and connections.
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["vtrail.api.heavy"])
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=_open, initargs=(str(self.db),)
                )
            return self._pool

    def waiting(self) -> int:
        """Questions waiting for their lane (not begun)."""
        with self._lock:
            return len(self._waiting)

    def pids(self) -> list[int]:
        """The worker processes' ids, started or not yet (for diagnosis)."""
        with self._lock:
            pool = self._pool
        if pool is None:
            return []
        return sorted(p.pid for p in (pool._processes or {}).values() if p.pid is not None)

    def close(self) -> None:
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
            pool, self._pool = self._pool, None
            conns, self._conns = self._conns, []
            waiting, self._waiting = list(self._waiting.values()), {}
        for future in waiting:
            # Never to begin: their requests are answered now, not left hanging.
            if future.set_running_or_notify_cancel():
                future.set_exception(StoreError("the server is stopping"))
        for lane in lanes:
            lane.shutdown(wait=True, cancel_futures=True)
        for conn in conns:
            conn.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
