"""The short reads' threads (api/read_threads.py): each job runs off the loop and its
answer or its error reaches the request that awaits it; a request cancelled meanwhile
leaves the threads working; a slow read holds up no other; close stops them all."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vtrail.api.read_threads import ReadThreads


def _named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_answers_and_errors_reach_the_awaiting_request() -> None:
    threads = ReadThreads(2, "test-reads-a")

    def fail() -> None:
        raise LookupError("no such thing")

    async def ask() -> tuple[str, str]:
        name = await threads.run(lambda: threading.current_thread().name)
        with pytest.raises(LookupError, match="no such thing"):
            await asyncio.wait_for(threads.run(fail), 10)
        return name, await asyncio.wait_for(threads.run(str.upper, "still serving"), 10)

    try:
        name, after = asyncio.run(ask())
    finally:
        threads.close()
    assert name.startswith("test-reads-a-") and name != threading.current_thread().name
    assert after == "STILL SERVING"


def test_a_cancelled_request_leaves_the_threads_working() -> None:
    threads = ReadThreads(1, "test-reads-b")
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        return "late"

    async def ask() -> str:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        task = asyncio.create_task(threads.run(slow))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        # The cancelled read's answer arrives to a future nobody awaits, and is dropped.
        return await asyncio.wait_for(threads.run(lambda: "next"), 10)

    errors: list[dict[str, object]] = []
    try:
        assert asyncio.run(ask()) == "next"
    finally:
        threads.close()
    assert errors == []


def test_a_slow_read_holds_up_no_other() -> None:
    threads = ReadThreads(2, "test-reads-c")
    release = threading.Event()

    async def ask() -> list[str]:
        slow = asyncio.create_task(threads.run(lambda: release.wait(10) and "slow"))
        quick = await asyncio.wait_for(threads.run(lambda: "quick"), 5)
        release.set()
        return [quick, await slow]

    try:
        assert asyncio.run(ask()) == ["quick", "slow"]
    finally:
        threads.close()


def test_close_stops_every_thread_and_a_later_run_starts_them_again() -> None:
    threads = ReadThreads(3, "test-reads-d")
    assert not _named("test-reads-d")  # none before the first read
    for _ in range(2):
        assert asyncio.run(threads.run(lambda: 7)) == 7
        assert len(_named("test-reads-d")) == 3
        threads.close()
        assert not _named("test-reads-d")
