"""What a probe is to the prober, and what one round of it measured.

The prober knows no policy: it is given each probe as a `ProbeSpec` (plain
values) and a callable that says, at each round's instant, which addresses to
measure and on which entity to write what it measured. A round's figures
become gauge samples on that entity:

| metric | what |
| --- | --- |
| `probe.loss` | the share of the round's packets or connections unanswered in time, 0-1 |
| `probe.ok` | 1 when the target answered at least once in the round, else 0 |
| `probe.rtt_ms` | the round's average round-trip time, over the answers |
| `probe.rtt_min_ms`, `probe.rtt_max_ms` | the round's fastest and slowest answer |
| `probe.jitter_ms` | the mean difference between consecutive answers' RTTs (two answers at least) |
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from vtrail.ids import host_id, netns_id, probe_source
from vtrail.model import SampleObs

#: A round's outcome for one packet or connection: its RTT in ms, or None when lost.
Outcome = float | None


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    name: str
    #: icmp, tcp or http.
    kind: str
    #: The network namespace it runs in; None for the host's own.
    netns: str | None
    #: Seconds between the starts of two rounds.
    every: float
    #: Packets (icmp) or connections (tcp, http) a round, `spacing` seconds apart.
    count: int
    #: How long one may take before it counts as lost, in seconds.
    timeout: float
    port: int | None = None
    path: str | None = None
    spacing: float = 0.2


@dataclass(frozen=True, slots=True)
class Target:
    """One address to measure, and the entity its figures are written on (a VM of the
    service, or the address's own `ip:` id)."""

    entity: str
    address: str


#: The targets of a probe at a round's instant.
Targets = Callable[[datetime], Sequence[Target]]


def source_name(spec: ProbeSpec, hostname: str) -> str:
    """`probe:<name>@netns:<ns>`, or `probe:<name>@host:<hostname>`: the probe and where
    it ran from, so that two vantages measuring one target are two series."""
    return probe_source(spec.name, netns_id(spec.netns) if spec.netns else host_id(hostname))


@dataclass(frozen=True, slots=True)
class RoundStats:
    sent: int
    received: int
    loss: float
    rtt_min: float | None
    rtt_avg: float | None
    rtt_max: float | None
    jitter: float | None

    @property
    def ok(self) -> bool:
        return self.received > 0


def round_stats(outcomes: Sequence[Outcome]) -> RoundStats:
    """The figures of one round, from each packet's outcome in the order they were sent.

    Jitter is the mean absolute difference between the RTTs of consecutive answers
    (RFC 3550's inter-arrival idea without its smoothing): a steady 10 ms path has
    none, one that alternates 10 and 30 ms has 20."""
    rtts = [o for o in outcomes if o is not None]
    sent = len(outcomes)
    loss = (sent - len(rtts)) / sent if sent else 1.0
    if not rtts:
        return RoundStats(sent, 0, loss, None, None, None, None)
    jitter = None
    if len(rtts) > 1:
        jitter = sum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)
    return RoundStats(sent, len(rtts), loss, min(rtts), sum(rtts) / len(rtts), max(rtts), jitter)


def samples(entity: str, s: RoundStats, at: datetime) -> list[SampleObs]:
    """The round's figures as gauge samples on `entity`, those that apply."""
    out = [
        SampleObs(entity, "probe.loss", s.loss, at, "gauge"),
        SampleObs(entity, "probe.ok", 1.0 if s.ok else 0.0, at, "gauge"),
    ]
    for metric, value in (
        ("probe.rtt_ms", s.rtt_avg),
        ("probe.rtt_min_ms", s.rtt_min),
        ("probe.rtt_max_ms", s.rtt_max),
        ("probe.jitter_ms", s.jitter),
    ):
        if value is not None:
            out.append(SampleObs(entity, metric, round(value, 3), at, "gauge"))
    return out
