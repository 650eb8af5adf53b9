"""A vantage namespace joined by a veth pair to a target namespace, and servers that
listen inside the target (needs root). Only the vantage reaches the target's
addresses: the host's own namespace has no route to them."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from collectors.netlink.netlink_lab import Lab
from vtrail.collectors.base import SourceError
from vtrail.collectors.netlink.netns import in_netns, open_netns
from vtrail.collectors.probe.collector import ProbeCollector
from vtrail.collectors.probe.rounds import ProbeSpec, Target
from vtrail.model import Observation

VANTAGE_IP, TARGET_IP = "10.77.0.1", "10.77.0.2"


def join(lab: Lab, vantage: str, target: str) -> None:
    """`vantage` (10.77.0.1/24) and `target` (10.77.0.2/24) on one veth pair."""
    lab.ip(vantage, f"link add pv type veth peer name pt netns {target}")
    lab.ip(vantage, f"addr add {VANTAGE_IP}/24 dev pv")
    lab.ip(vantage, "link set pv up")
    lab.ip(target, f"addr add {TARGET_IP}/24 dev pt")
    lab.ip(target, "link set pt up")


def listener(ns: str, port: int) -> socket.socket:
    """A TCP socket listening on `port` in namespace `ns` (made by a thread inside it)."""
    with open_netns(ns) as handle:
        return in_netns(handle, lambda: socket.create_server(("0.0.0.0", port)))


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def http_server(ns: str, port: int) -> Iterator[None]:
    """An HTTP server in `ns` answering 200 on /health, 404 elsewhere."""
    server = http.server.HTTPServer(("0.0.0.0", port), _Health, bind_and_activate=False)
    server.socket.close()
    server.socket = listener(ns, port)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def spec(kind: str = "icmp", netns: str | None = None, **kw: object) -> ProbeSpec:
    values: dict[str, object] = {"every": 1.0, "count": 3, "timeout": 0.3, "spacing": 0.05}
    values |= kw
    return ProbeSpec("p", kind, netns, **values)  # type: ignore[arg-type]


def rounds(
    collector: ProbeCollector, n: int = 1, timeout: float = 15.0
) -> tuple[list[Observation], BaseException | None]:
    """Watch until `n` rounds were emitted (or the watch fails); what it emitted."""
    got: list[Observation] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            collector.watch(got.append, stop)
        except SourceError as e:
            failed.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while len(got) < n and not failed and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    return got, failed[0] if failed else None


def figures(o: Observation, entity: str) -> dict[str, float]:
    return {s.metric: s.value for s in o.samples if s.entity == entity}


def to(*targets: tuple[str, str]) -> Callable[[object], list[Target]]:
    return lambda _at: [Target(e, a) for e, a in targets]
