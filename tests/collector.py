"""Watching Python's cyclic garbage collector from a test: what held when each of its
passes began, and garbage enough to set it off."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def passes(state: Callable[[], bool]) -> Iterator[list[bool]]:
    """`state()` as each pass of the collector made in the block begins."""
    seen: list[bool] = []

    def began(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(state())

    gc.callbacks.append(began)
    try:
        yield seen
    finally:
        gc.callbacks.remove(began)


def garbage() -> None:
    """Cycles enough to set off three passes of the youngest generation."""
    for _ in range(3 * gc.get_threshold()[0]):
        cycle: list[object] = []
        cycle.append(cycle)
