"""The event stream the recorder benchmarks record: one VM's state changing per event.

It needs nothing of vtrail but the observation model, so that
bench/ingest_cpu.py can record it with an older tree of vtrail too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from vtrail.model import EntityObs, Observation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIVE = 100_000
STEP = timedelta(milliseconds=36)  # 100k changes per hour
STATES = ("running", "paused", "running", "shutoff")


def ev(i: int, e: int) -> Observation:
    attrs = {
        "name": f"vm-{e}",
        "state": STATES[(i // LIVE) % 4],
        "vcpus": 2,
        "host": f"hv-{e % 50}",
    }
    return Observation(
        "libvirt+qemu:///system@bench",
        T0 + STEP * i,
        "event",
        (EntityObs(f"vm:{e:08d}", "vm", attrs),),
    )


def stream(start: int, n: int) -> Iterator[Observation]:
    for i in range(start, start + n):
        yield ev(i, i % LIVE)
