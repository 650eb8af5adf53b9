"""What every collector offers the runner that drives it.

A collector talks to one source and knows nothing of storage. `snapshot()`
fetches everything the source sees now (get → transform) and returns one
snapshot observation, counters included. `watch()` blocks, handing each change
the source announces to `emit` as an event observation, until `stop` is set.
Both raise `SourceError` when the source cannot be reached or goes away; the
runner then records a disconnect, reconnects with backoff, and reconciles with
a fresh snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from vtrail.model import Observation

Emit = Callable[[Observation], None]


class SourceError(RuntimeError):
    """The source is unreachable or broke off; the message says which and why."""


class Collector(Protocol):
    #: The `source` written into every observation, e.g. `libvirt+test:///default@hv-a`.
    source: str

    def snapshot(self) -> Observation: ...

    def watch(self, emit: Emit, stop: threading.Event) -> None: ...

    def close(self) -> None: ...
