"""Probes as a source: ICMP, TCP and HTTP measured from a vantage namespace
(docs/policy.md, "Probes"). Needs icmplib and httpx2 (`vtrail[probe]`) and pyroute2's
namespace helpers (`vtrail[netlink]`)."""

from vtrail.collectors.probe.collector import ProbeCollector, open_probe
from vtrail.collectors.probe.rounds import (
    ProbeSpec,
    RoundStats,
    Target,
    Targets,
    round_stats,
    source_name,
)

__all__ = [
    "ProbeCollector",
    "ProbeSpec",
    "RoundStats",
    "Target",
    "Targets",
    "open_probe",
    "round_stats",
    "source_name",
]
