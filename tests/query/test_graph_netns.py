"""The path question against real traffic: namespaces, bridges, a router, `ip route get`.

A small fabric is built for real: client namespaces `a` and `b` on two bridges
of a switch namespace `s`, joined by a router namespace `r` with forwarding on
and a longer route beside the connected ones. It is recorded with the netlink
collector, and the route the path question says the router chose must be the
one the kernel chooses (`ip netns exec r ip route get DST`), for a destination
on each side and for one that only the longer route covers. A ping proves the
path carries traffic at all. Every name starts with `vtw`; all is removed after.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vtrail.query.path import path
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

SKIP = None
if os.geteuid() != 0:
    SKIP = "needs root to create network namespaces, bridges and veth pairs"
elif shutil.which("ip") is None:
    SKIP = "needs iproute2's `ip`"
elif subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode:
    SKIP = "`ip netns` does not work here"

pytestmark = [pytest.mark.root, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]


def sh(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Fabric:
    def __init__(self) -> None:
        tag = "vtw" + secrets.token_hex(2)
        self.a, self.b, self.r, self.s = (f"{tag}{x}" for x in "abrs")
        self.made: list[str] = []

    def build(self) -> None:
        for ns in (self.a, self.b, self.r, self.s):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for br in ("br1", "br2"):
            sh("ip", "-n", self.s, "link", "add", br, "type", "bridge")
            sh("ip", "-n", self.s, "link", "set", br, "up")
        # (namespace, its end, the switch's end, bridge, address)
        legs = [
            (self.a, "eth0", "a-p", "br1", "10.77.1.10/24"),
            (self.r, "r1", "r1-p", "br1", "10.77.1.1/24"),
            (self.r, "r2", "r2-p", "br2", "10.77.2.1/24"),
            (self.b, "eth0", "b-p", "br2", "10.77.2.20/24"),
        ]
        for ns, inner, outer, br, addr in legs:
            sh("ip", "-n", self.s, "link", "add", outer, "type", "veth", "peer", inner, "netns", ns)
            sh("ip", "-n", self.s, "link", "set", outer, "master", br, "up")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
        sh("ip", "-n", self.a, "route", "add", "default", "via", "10.77.1.1")
        sh("ip", "-n", self.b, "route", "add", "default", "via", "10.77.2.1")
        # A longer route beside the connected ones: 10.77.9.x is only reachable through it.
        sh("ip", "-n", self.r, "route", "add", "10.77.0.0/16", "via", "10.77.2.20", "metric", "50")
        sh("ip", "netns", "exec", self.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def close(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def kernel_route(self, ns: str, dst: str) -> dict[str, str]:
        out = json.loads(sh("ip", "-j", "-n", ns, "route", "get", dst))
        return out[0]


@pytest.fixture
def fabric() -> Iterator[Fabric]:
    f = Fabric()
    try:
        f.build()
        yield f
    finally:
        f.close()


def record(f: Fabric, db: Path) -> tuple[SqliteStore, datetime]:
    try:
        from vtrail.collectors.netlink import NetlinkCollector
    except ImportError as e:  # pragma: no cover - the collector ships with vtrail
        pytest.skip(f"netlink collector unavailable: {e}")
    store = SqliteStore(db)
    observations = []
    for ns in (f.a, f.b, f.r, f.s):
        c = NetlinkCollector(ns, hostname="vtw-test")
        try:
            observations.append(c.snapshot())
        finally:
            c.close()
    Recorder(store).record(observations)
    return store, datetime.now(UTC)


def test_router_hop_is_the_kernels_choice(fabric: Fabric, tmp_path: Path) -> None:
    sh("ip", "netns", "exec", fabric.a, "ping", "-q", "-c", "2", "-i", "0.2", "-W", "1",
       "10.77.2.20")  # fmt: skip
    store, now = record(fabric, tmp_path / "vtrail.db")
    try:
        answer = path(store, fabric.a, "10.77.2.20", now)
        assert answer.reachable, answer.reason
        hops = [h.entity for h in answer.hops]
        assert hops[0] == f"netns:{fabric.a}"
        assert f"bridge:{fabric.s}/br1" in hops
        assert f"bridge:{fabric.s}/br2" in hops
        assert f"router:{fabric.r}" in hops
        # Per router step: the interface it left by is the one the kernel names.
        by_router = {r.router: r for r in answer.routes}
        step = by_router[f"router:{fabric.r}"]
        kernel = fabric.kernel_route(fabric.r, "10.77.2.20")
        assert step.dev == kernel["dev"] == "r2"
        assert step.gateway == kernel.get("gateway")
        assert step.prefix == "10.77.2.0/24"
        # And the first step, from the client's own table: its default route.
        first = by_router[f"netns:{fabric.a}"]
        client = fabric.kernel_route(fabric.a, "10.77.2.20")
        assert (first.dev, first.gateway) == (client["dev"], client["gateway"])

        # Only the /16 covers 10.77.9.9: the router sends it on to b's address.
        beyond = path(store, fabric.a, "10.77.9.9", now)
        kernel = fabric.kernel_route(fabric.r, "10.77.9.9")
        step = {r.router: r for r in beyond.routes}[f"router:{fabric.r}"]
        assert (step.dev, step.gateway, step.prefix) == (
            kernel["dev"],
            "10.77.2.20",
            "10.77.0.0/16",
        )
        assert kernel["gateway"] == "10.77.2.20"
        # b's namespace holds the next hop but does not forward: that is where it ends.
        assert not beyond.reachable
        assert beyond.broken_at == f"port:{fabric.b}/eth0"

        # The way back, from b to a's address, crosses the same router the other way.
        back = path(store, fabric.b, "10.77.1.10", now)
        assert back.reachable, back.reason
        kernel = fabric.kernel_route(fabric.r, "10.77.1.10")
        step = {r.router: r for r in back.routes}[f"router:{fabric.r}"]
        assert step.dev == kernel["dev"] == "r1"
    finally:
        store.close()


def test_a_namespace_that_is_no_router_routes_by_its_own_table(
    fabric: Fabric, tmp_path: Path
) -> None:
    # a gets a second leg, in br2; it does not forward, so it is no router.
    a, s = fabric.a, fabric.s
    sh("ip", "-n", s, "link", "add", "a2-p", "type", "veth", "peer", "eth1", "netns", a)
    sh("ip", "-n", s, "link", "set", "a2-p", "master", "br2", "up")
    sh("ip", "-n", a, "addr", "add", "10.77.2.30/24", "dev", "eth1")
    sh("ip", "-n", a, "link", "set", "eth1", "up")
    # One prefix by either leg: the lower metric wins, whatever the order or the device.
    sh("ip", "-n", a, "route", "add", "10.77.8.0/24", "via", "10.77.1.1", "metric", "10")
    sh("ip", "-n", a, "route", "add", "10.77.8.0/24", "via", "10.77.2.1", "metric", "5")
    store, now = record(fabric, tmp_path / "vtrail.db")
    try:
        assert path(store, a, "10.77.2.20", now).hops[0].entity == f"netns:{a}"
        for dst in ("10.77.8.8", "10.77.2.20", "10.77.1.1"):
            kernel = fabric.kernel_route(a, dst)
            answer = path(store, a, dst, now)
            first = answer.routes[0] if answer.routes else None
            assert first is not None and first.router == f"netns:{a}", answer.reason
            assert (first.dev, first.gateway) == (kernel["dev"], kernel.get("gateway")), dst
        # Straight onto b's segment by eth1: no router crossed.
        direct = path(store, a, "10.77.2.20", now)
        assert direct.reachable and f"router:{fabric.r}" not in [h.entity for h in direct.hops]
    finally:
        store.close()
