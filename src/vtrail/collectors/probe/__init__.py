"""Probes as a source: ICMP, TCP and HTTP measured from a vantage namespace
(docs/policy.md, "Probes"). `collector` needs icmplib and httpx2 (`vtrail[probe]`)
and pyroute2's namespace helpers (`vtrail[netlink]`), so only `rounds`, which needs
none of them, is imported here."""

from vtrail.collectors.probe.rounds import (
    ProbeSpec,
    RoundStats,
    Target,
    Targets,
    round_stats,
    source_name,
)

__all__ = ["ProbeSpec", "RoundStats", "Target", "Targets", "round_stats", "source_name"]
