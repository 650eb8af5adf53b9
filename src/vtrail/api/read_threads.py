"""The threads the short reads run in, off the event loop, the warmest one first.

A `where` is a twentieth of a millisecond of store work; the hop to a thread and
back is what its answer waits for besides (docs/performance.md, "The hop to a
read thread"). asyncio's `run_in_executor` makes that hop through two futures
chained by callbacks, a work item and the executor's idle count, and its threads
take their jobs from one queue in turns, so each request meets the thread (and
the store connection, api/deps.Stores) that has been idle longest, its caches the
coldest. Here a job goes to the thread that finished last, straight to its own
queue, and its answer straight to the loop's future: on this project's 2-core VM
a `where` over HTTP took 90 to 140 µs less. Jobs wait in a backlog only while
every thread is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Inbox = queue.SimpleQueue[_Job | None]


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # A request cancelled meanwhile (its client went away) has no one to tell.
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class ReadThreads:
    """`n` threads named `<name>-<k>`, started on the first `run`, until `close`."""

    def __init__(self, n: int, name: str) -> None:
        self.n, self.name = n, name
        self._lock = threading.Lock()
        self._threads: list[tuple[threading.Thread, _Inbox]] = []
        #: The idle threads' inboxes, the one idle the shortest time last.
        self._idle: list[_Inbox] = []
        self._backlog: deque[_Job] = deque()
        #: Counts `close`s: a thread of an earlier generation finishing its last job
        #: must not offer itself as idle to the next.
        self._generation = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in one of the threads; what it returns, or raises."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        job: _Job = (loop, fut, fn, args)
        with self._lock:
            if not self._threads:
                self._start()
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self._backlog.append(job)
        if inbox is not None:
            inbox.put(job)
        return await fut

    def _start(self) -> None:
        for k in range(self.n):
            inbox: _Inbox = queue.SimpleQueue()
            t = threading.Thread(
                target=self._serve,
                args=(inbox, self._generation),
                name=f"{self.name}-{k}",
                daemon=True,
            )
            self._threads.append((t, inbox))
            self._idle.append(inbox)
            t.start()

    def _serve(self, inbox: _Inbox, generation: int) -> None:
        job = inbox.get()
        while job is not None:
            loop, fut, fn, args = job
            try:
                ok, value = True, fn(*args)
            except BaseException as e:  # the awaiting request's to raise
                ok, value = False, e
            # A closed loop raises RuntimeError: nobody awaits the answer any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut, ok, value)
            with self._lock:
                if self._backlog:
                    job = self._backlog.popleft()
                    continue
                if generation == self._generation:
                    self._idle.append(inbox)
            job = inbox.get()

    def close(self) -> None:
        """Stop the threads once the reads handed to them are done; a later `run`
        starts them again."""
        with self._lock:
            threads, self._threads = self._threads, []
            self._idle.clear()
            self._generation += 1
        for _, inbox in threads:
            inbox.put(None)
        for t, _ in threads:
            t.join()
