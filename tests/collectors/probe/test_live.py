"""Probes on real namespaces: real ICMP, TCP connects to a socket listening in a
namespace and GETs to an HTTP server in one, each measured from inside the vantage."""

from __future__ import annotations

import pytest

from collectors.netlink.netlink_lab import Lab
from collectors.probe.probe_lab import (
    TARGET_IP,
    figures,
    http_server,
    listener,
    rounds,
    spec,
    to,
)
from vtrail.collectors.base import SourceError
from vtrail.collectors.netlink.netns import NamespaceGone
from vtrail.collectors.probe.collector import open_probe

pytestmark = pytest.mark.root

DB = "vm:db-1"


def test_icmp_runs_inside_the_vantage_namespace(pair: tuple[str, str]) -> None:
    vantage, _target = pair
    inside = open_probe(spec("icmp", vantage), to((DB, TARGET_IP)), hostname="hv-a")
    (o,), failed = rounds(inside)
    assert failed is None
    assert (o.source, o.kind) == (f"probe:p@netns:{vantage}", "event")
    got = figures(o, DB)
    assert (got["probe.loss"], got["probe.ok"]) == (0.0, 1.0)
    assert 0 < got["probe.rtt_min_ms"] <= got["probe.rtt_ms"] <= got["probe.rtt_max_ms"] < 300
    assert got["probe.jitter_ms"] >= 0
    assert {s.type for s in o.samples} == {"gauge"}
    # The same probe from the host's own namespace, which has no route there: all lost.
    # So the packets that were answered above left from inside the vantage.
    outside = open_probe(spec("icmp", None), to((DB, TARGET_IP)), hostname="hv-a")
    (o,), _ = rounds(outside)
    assert figures(o, DB)["probe.loss"] == 1.0
    assert o.source == "probe:p@host:hv-a"


def test_a_target_that_stops_answering_is_loss_one_and_not_ok(
    lab: Lab, pair: tuple[str, str]
) -> None:
    vantage, target = pair
    probe = open_probe(spec("icmp", vantage), to((DB, TARGET_IP)), hostname="hv-a")
    (o,), _ = rounds(probe)
    assert figures(o, DB)["probe.ok"] == 1.0
    lab.ip(target, "link set pt down")
    (o,), _ = rounds(probe)
    assert figures(o, DB) == {"probe.loss": 1.0, "probe.ok": 0.0}


def test_tcp_connects_to_a_port_listening_in_the_target_namespace(pair: tuple[str, str]) -> None:
    vantage, target = pair
    server = listener(target, 5432)
    try:
        probe = open_probe(
            spec("tcp", vantage, port=5432, count=2),
            to((DB, TARGET_IP), ("vm:db-2", "10.77.0.99")),
            hostname="hv-a",
        )
        (o,), _ = rounds(probe)
    finally:
        server.close()
    up = figures(o, DB)
    assert (up["probe.loss"], up["probe.ok"]) == (0.0, 1.0)
    assert 0 < up["probe.rtt_ms"] < 300
    assert figures(o, "vm:db-2") == {"probe.loss": 1.0, "probe.ok": 0.0}
    # Nothing listens any more: refused, so lost.
    (o,), _ = rounds(probe)
    assert figures(o, DB) == {"probe.loss": 1.0, "probe.ok": 0.0}


def test_http_gets_a_path_from_a_server_in_the_target_namespace(pair: tuple[str, str]) -> None:
    vantage, target = pair
    with http_server(target, 8080):
        health = open_probe(
            spec("http", vantage, port=8080, path="/health", count=2),
            to((DB, TARGET_IP)),
            hostname="hv-a",
        )
        (o,), _ = rounds(health)
        missing = open_probe(
            spec("http", vantage, port=8080, path="/nope"), to((DB, TARGET_IP)), hostname="hv-a"
        )
        (gone,), _ = rounds(missing)
    got = figures(o, DB)
    assert (got["probe.loss"], got["probe.ok"]) == (0.0, 1.0)
    assert 0 < got["probe.rtt_ms"] < 1000
    assert figures(gone, DB) == {"probe.loss": 1.0, "probe.ok": 0.0}


def test_a_vantage_that_disappears_ends_the_watch_and_drops_the_round(
    lab: Lab, pair: tuple[str, str]
) -> None:
    vantage, _target = pair
    probe = open_probe(spec("icmp", vantage, every=1.0), to((DB, TARGET_IP)), hostname="hv-a")
    (o,), _ = rounds(probe)
    assert figures(o, DB)["probe.loss"] == 0.0
    lab.remove(vantage)
    got, failed = rounds(probe, n=3, timeout=4)
    assert got == [], "no round measured from a namespace that is gone"
    assert isinstance(failed, NamespaceGone)
    assert "vantage network namespace" in str(failed) and "is gone" in str(failed)
    with pytest.raises(SourceError, match="is gone: probing waits for it to come back"):
        open_probe(spec("icmp", vantage), to((DB, TARGET_IP)))


def test_icmpv6_is_measured_on_its_own_socket(lab: Lab, pair: tuple[str, str]) -> None:
    vantage, target = pair
    lab.ip(vantage, "addr add fd77::1/64 dev pv nodad")
    lab.ip(target, "addr add fd77::2/64 dev pt nodad")
    both = to((DB, TARGET_IP), ("vm:db-6", "fd77::2"), ("vm:none", "fd77::3"))
    (o,), _ = rounds(open_probe(spec("icmp", vantage), both, hostname="hv-a"))
    assert figures(o, DB)["probe.loss"] == figures(o, "vm:db-6")["probe.loss"] == 0.0
    assert figures(o, "vm:none") == {"probe.loss": 1.0, "probe.ok": 0.0}
