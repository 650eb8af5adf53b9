"""Real network namespaces for the netlink tests and the fixture recorder (needs root).

Every namespace is named `<tag>-<role>` where the tag starts with `vtt`, so a
leftover is easy to spot and never collides with anything else. Traffic only
ever flows between these namespaces.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass

#: Why root tests are skipped, or None when they can run.
SKIP_REASON: str | None = None
if os.geteuid() != 0:
    SKIP_REASON = "needs root to create network namespaces, bridges and veth pairs"
elif shutil.which("ip") is None:
    SKIP_REASON = "needs iproute2's `ip` to create network namespaces"
elif subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode != 0:
    SKIP_REASON = "`ip netns` does not work here"


class Lab:
    """Namespaces created for one test; `close()` removes them all, whatever happened."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or "vtt" + secrets.token_hex(2)
        self.namespaces: list[str] = []

    def ns(self, role: str) -> str:
        name = f"{self.tag}-{role}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.ip(name, "link set lo up")
        return name

    def ip(self, ns: str, args: str) -> None:
        run("ip", "-n", ns, *args.split())

    def sysctl(self, ns: str, setting: str) -> None:
        run("ip", "netns", "exec", ns, "sysctl", "-qw", setting)

    def ping(self, ns: str, address: str, count: int = 10, size: int = 1000) -> int:
        """Ping between our namespaces; returns the ICMP payload bytes sent each way."""
        run(
            "ip", "netns", "exec", ns,
            "ping", "-q", "-c", str(count), "-i", "0.01", "-W", "1", "-s", str(size), address,
        )  # fmt: skip
        return count * size

    def remove(self, ns: str) -> None:
        run("ip", "netns", "del", ns)
        self.namespaces.remove(ns)

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.namespaces.clear()


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


@dataclass
class Fabric:
    """Two hosts on two bridges, joined by a router:

        h1 eth0 ── sw/p-h1 ─ br1 ─ sw/p-r1 ── r eth1   (10.61.1.0/24)
        h2 eth0 ── sw/p-h2 ─ br2 ─ sw/p-r2 ── r eth2   (10.61.2.0/24)

    plus, in sw, a veth pair with both ends there (va/vb) and a tap; in r, a vxlan.
    """

    h1: str
    h2: str
    sw: str
    r: str


def build_fabric(lab: Lab) -> Fabric:
    f = Fabric(h1=lab.ns("h1"), h2=lab.ns("h2"), sw=lab.ns("sw"), r=lab.ns("r"))
    for br in ("br1", "br2"):
        lab.ip(f.sw, f"link add {br} type bridge")
        lab.ip(f.sw, f"link set {br} up")
    for port, peer_ns, peer, br in (
        ("p-h1", f.h1, "eth0", "br1"),
        ("p-r1", f.r, "eth1", "br1"),
        ("p-h2", f.h2, "eth0", "br2"),
        ("p-r2", f.r, "eth2", "br2"),
    ):
        lab.ip(f.sw, f"link add {port} type veth peer name {peer} netns {peer_ns}")
        lab.ip(f.sw, f"link set {port} master {br} up")
        lab.ip(peer_ns, f"link set {peer} up")
    lab.ip(f.sw, "link add va type veth peer name vb")
    lab.ip(f.sw, "tuntap add tap0 mode tap")
    lab.ip(f.h1, "addr add 10.61.1.10/24 dev eth0")
    lab.ip(f.h1, "route add default via 10.61.1.1")
    lab.ip(f.h2, "addr add 10.61.2.10/24 dev eth0")
    lab.ip(f.h2, "route add default via 10.61.2.1")
    lab.ip(f.r, "addr add 10.61.1.1/24 dev eth1")
    lab.ip(f.r, "addr add 10.61.2.1/24 dev eth2")
    lab.ip(f.r, "route add 10.70.0.0/16 via 10.61.2.10 metric 20")
    lab.ip(f.r, "link add vx42 type vxlan id 42 dstport 4789 dev eth1")
    lab.sysctl(f.r, "net.ipv4.ip_forward=1")
    return f
