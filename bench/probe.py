"""Probing benchmark: the prober's CPU share and memory for 1,000 ICMP targets every 10 s,
beside the same rounds for 10 targets, measured in the same run (needs root).

    python bench/probe.py [--targets 1000] [--baseline 10] [--every 10] [--rounds 3] [--kind icmp]

Two namespaces joined by a veth pair: the vantage, where the prober runs, and the
target, whose loopback holds 1,000 addresses (10.88.0.0/22; this kernel has no
dummy interfaces), routed from the vantage. Each configuration runs `--rounds` rounds of the real collector
(one event loop in a thread inside the vantage, 5 packets a target a round,
200 ms apart), with a fixed target list: what the store costs to ask is not in
these figures. The process does nothing else meanwhile, so its CPU time over the
rounds is the prober's. Memory is the process's resident size at its peak (after
each configuration) and its growth over the rounds.

For `--kind tcp`, the target namespace listens on port 7 at every address.
"""

from __future__ import annotations

import argparse
import ipaddress
import resource
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from vtrail.collectors.netlink.netns import in_netns, open_netns
from vtrail.collectors.probe.collector import open_probe
from vtrail.collectors.probe.rounds import ProbeSpec, Target
from vtrail.model import Observation

NET = ipaddress.ip_network("10.88.0.0/22")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def build(tag: str, n: int) -> tuple[str, str, list[str]]:
    vantage, target = f"{tag}-v", f"{tag}-t"
    ip("netns", "add", vantage)
    ip("netns", "add", target)
    for ns in (vantage, target):
        ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", vantage, "link", "add", "pv", "type", "veth", "peer", "name", "pt", "netns", target)
    ip("-n", vantage, "addr", "add", "10.87.0.1/30", "dev", "pv")
    ip("-n", target, "addr", "add", "10.87.0.2/30", "dev", "pt")
    ip("-n", vantage, "link", "set", "pv", "up")
    ip("-n", target, "link", "set", "pt", "up")
    ip("-n", vantage, "route", "add", str(NET), "via", "10.87.0.2")
    addresses = [str(a) for a in list(NET.hosts())[:n]]
    with tempfile.NamedTemporaryFile("w", suffix=".batch") as f:
        f.write("".join(f"addr add {a}/32 dev lo\n" for a in addresses))
        f.flush()
        ip("-n", target, "-batch", f.name)
    return vantage, target, addresses


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(vantage: str, spec: ProbeSpec, targets: list[Target], rounds: int) -> dict[str, float]:
    got: list[Observation] = []
    stop = threading.Event()
    probe = open_probe(spec, lambda _at: targets)

    def emit(o: Observation) -> None:
        got.append(o)
        if len(got) >= rounds:
            stop.set()

    rss0 = rss_kib()
    cpu0, wall0 = time.process_time(), time.monotonic()
    watch = threading.Thread(target=probe.watch, args=(emit, stop), daemon=True)
    watch.start()
    # The last round is measured in full, then its wait for the next is cut short:
    # count the wall time up to where the next round would have begun.
    stop.wait(spec.every * (rounds + 2))
    watch.join(spec.every + 5)
    cpu, wall = time.process_time() - cpu0, max(time.monotonic() - wall0, spec.every * rounds)
    probe.close()
    loss = [s.value for o in got for s in o.samples if s.metric == "probe.loss"]
    return {
        "targets": len(targets),
        "rounds": len(got),
        "cpu_s": cpu,
        "wall_s": wall,
        "share": cpu / wall,
        "mean_loss": sum(loss) / len(loss) if loss else float("nan"),
        "rss_growth_mib": (rss_kib() - rss0) / 1024,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=10)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kind", choices=["icmp", "tcp"], default="icmp")
    args = ap.parse_args()
    tag = "vtb" + secrets.token_hex(2)
    vantage, target = f"{tag}-v", f"{tag}-t"
    listening: list[socket.socket] = []
    try:
        vantage, target, addresses = build(tag, max(args.targets, args.baseline))
        if args.kind == "tcp":
            with open_netns(target) as ns:
                # One socket on every address: a wildcard listener in the namespace.
                listening.append(
                    in_netns(ns, lambda: socket.create_server(("0.0.0.0", 7), backlog=4096))
                )
        count = 5 if args.kind == "icmp" else 1
        spec = ProbeSpec(
            "bench", args.kind, vantage, args.every, count, 1.0, 7 if args.kind == "tcp" else None
        )
        print(f"{args.kind}, every {args.every:g} s, {count} a round, {args.rounds} rounds")
        print(f"{'targets':>8} {'rounds':>6} {'cpu s':>7} {'wall s':>7} {'core %':>7} "
              f"{'loss':>5} {'rss +MiB':>8} {'peak MiB':>8}")  # fmt: skip
        for n, label in ((args.baseline, "baseline"), (args.targets, "")):
            targets = [Target(f"ip:{a}@{vantage}", a) for a in addresses[:n]]
            r = run(vantage, spec, targets, args.rounds)
            print(
                f"{n:>8} {r['rounds']:>6.0f} {r['cpu_s']:>7.2f} {r['wall_s']:>7.1f} "
                f"{100 * r['share']:>6.2f}% {r['mean_loss']:>5.2f} {r['rss_growth_mib']:>8.1f} "
                f"{r['peak_rss_mib']:>8.1f} {label}"
            )
    finally:
        for s in listening:
            s.close()
        for ns in (vantage, target):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


if __name__ == "__main__":
    main()
