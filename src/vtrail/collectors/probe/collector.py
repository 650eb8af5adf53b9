"""One probe as a source: rounds of measurements from its vantage point, as events.

`watch()` runs an event loop in a thread that has joined the vantage's network
namespace (`netlink.netns.in_netns`), so every socket the round makes is made
there. Each round asks `targets` what to measure at its instant (a VM that
migrated is measured where it is now), measures every target at once, and
emits one event observation holding the round's gauge samples.

A vantage namespace that disappears (deleted, or its name reused) ends the
watch with `NamespaceGone`: the runner records a disconnect, says why in its
status, and opens the probe again once the namespace is back. A round during
which it disappeared is dropped whole: its timeouts are no loss of the targets.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx2

from vtrail.collectors.base import Emit, SourceError
from vtrail.collectors.netlink.netns import NamespaceGone, Netns, in_netns, open_netns
from vtrail.collectors.probe import measure
from vtrail.collectors.probe.rounds import (
    Outcome,
    ProbeSpec,
    Target,
    Targets,
    round_stats,
    samples,
    source_name,
)
from vtrail.model import Observation, SampleObs

log = logging.getLogger(__name__)

#: At most this many TCP or HTTP targets are measured at once: each holds a socket.
CONCURRENT_CONNECTIONS = 256


class ProbeCollector:
    def __init__(
        self,
        spec: ProbeSpec,
        targets: Targets,
        *,
        hostname: str | None = None,
        netns_dir: str | None = None,
    ) -> None:
        self.spec = spec
        self.targets = targets
        self.hostname = hostname or socket.gethostname()
        self.source = source_name(spec, self.hostname)
        self._ns: Netns = (
            open_netns(spec.netns)
            if netns_dir is None
            else open_netns(spec.netns, netns_dir=netns_dir)
        )

    def _check(self) -> None:
        if not self._ns.alive():
            raise NamespaceGone(_gone(self.spec))

    def snapshot(self) -> Observation:
        """A probe holds no entities: an empty look, once its vantage is there."""
        self._check()
        return Observation(self.source, datetime.now(UTC), "snapshot")

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        self._check()
        in_netns(self._ns, lambda: asyncio.run(self._rounds(emit, stop)))

    def close(self) -> None:
        self._ns.close()

    # -- in the vantage's namespace ------------------------------------------------------

    async def _rounds(self, emit: Emit, stop: threading.Event) -> None:
        pinger = measure.Pinger() if self.spec.kind == "icmp" else None
        client = measure.http_client() if self.spec.kind == "http" else None
        try:
            next_round = time.monotonic()
            while not stop.is_set():
                self._check()
                at = datetime.now(UTC)
                found = self._round(at, await self._measure(pinger, client, at))
                # A vantage that went during the round made its timeouts: drop them.
                self._check()
                if found is not None and not stop.is_set():
                    emit(found)
                next_round += self.spec.every
                now = time.monotonic()
                next_round = max(next_round, now)
                while not stop.is_set() and (left := next_round - time.monotonic()) > 0:
                    await asyncio.sleep(min(left, 0.1))
        finally:
            if pinger is not None:
                pinger.close()
            if client is not None:
                await client.aclose()

    async def _measure(
        self,
        pinger: measure.Pinger | None,
        client: httpx2.AsyncClient | None,
        at: datetime,
    ) -> list[tuple[Target, list[Outcome]]]:
        try:
            targets: Sequence[Target] = self.targets(at)
        except Exception as e:
            raise SourceError(f"probe {self.spec.name}: cannot find its targets: {e}") from e
        gate = asyncio.Semaphore(CONCURRENT_CONNECTIONS)
        # Starts spread over one spacing: a thousand targets are no burst of a thousand.
        stagger = self.spec.spacing / len(targets) if targets else 0.0

        async def one(i: int, t: Target) -> list[Outcome]:
            await asyncio.sleep(i * stagger)
            if pinger is not None:
                return await pinger.ping(t.address, self.spec)
            async with gate:
                if self.spec.kind == "tcp":
                    return await measure.connect(t.address, self.spec)
                assert client is not None
                return await measure.get(client, t.address, self.spec)

        outcomes = await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
        return list(zip(targets, outcomes, strict=True))

    def _round(
        self, at: datetime, measured: list[tuple[Target, list[Outcome]]]
    ) -> Observation | None:
        if not measured:
            return None
        out: list[SampleObs] = []
        seen: set[str] = set()
        for target, outcomes in measured:
            # Two addresses of one entity would make two readings at one instant.
            if target.entity in seen:
                continue
            seen.add(target.entity)
            out.extend(samples(target.entity, round_stats(outcomes), at))
        return Observation(self.source, at, "event", samples=tuple(out))


def _gone(spec: ProbeSpec) -> str:
    return f"vantage network namespace {spec.netns!r} is gone: probing waits for it to come back"


def open_probe(
    spec: ProbeSpec, targets: Targets, *, hostname: str | None = None, netns_dir: str | None = None
) -> ProbeCollector:
    """Open the probe's vantage, or `SourceError` saying why it cannot be (yet)."""
    try:
        return ProbeCollector(spec, targets, hostname=hostname, netns_dir=netns_dir)
    except NamespaceGone:
        raise NamespaceGone(_gone(spec)) from None
    except OSError as e:
        raise SourceError(f"probe {spec.name}: {e}") from None
