"""The collector against real namespaces, bridges and veth pairs (root only).

Traffic only flows between namespaces the test made (see netlink_lab.py).
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from collectors.netlink.netlink_lab import Fabric, Lab
from vtrail.collectors.netlink import NamespaceGone, NetlinkCollector, NetlinkFleet, get
from vtrail.collectors.netlink.records import STAT_NAMES
from vtrail.model import Observation, RelKey
from vtrail.wire import parse_observation, to_dict

pytestmark = pytest.mark.root


Check = Callable[[list[Observation]], bool]


def made(*things: str | RelKey) -> Check:
    """Every one of `things` (entity ids, relation keys) appeared in some event."""
    return lambda ev: (
        set(things)
        <= {x.id for e in ev for x in e.entities} | {r.key for e in ev for r in e.relations}
    )


def ended(*things: str | RelKey) -> Check:
    """Every one of `things` (entity ids, relation keys) ended in some event."""
    return lambda ev: (
        set(things)
        <= {*(g for e in ev for g in e.gone)} | {k for e in ev for k in e.gone_relations}
    )


class Watch:
    """`collector.watch()` in a thread; what it emitted and how it ended."""

    def __init__(self, collector: NetlinkCollector) -> None:
        self.collector = collector
        self.events: list[Observation] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.collector.watch(self.events.append, self.stop)
        except BaseException as e:
            self.error = e

    def until(self, what: str, check: Check, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not check(list(self.events)):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError(f"no event showed {what}; got {self.events}, {self.error!r}")
            time.sleep(0.02)

    def samples(self, entity: str, metric: str) -> list[float]:
        return [
            s.value
            for e in self.events
            for s in e.samples
            if (s.entity, s.metric) == (entity, metric)
        ]


@contextmanager
def watching(collector: NetlinkCollector) -> Iterator[Watch]:
    w = Watch(collector)
    w.thread.start()
    time.sleep(0.1)  # subscribed and seeded before the test changes anything
    try:
        yield w
    finally:
        w.stop.set()
        w.thread.join(5)
        collector.close()
    assert not w.thread.is_alive()


def snapshot(ns: str) -> Observation:
    c = NetlinkCollector(ns)
    try:
        return c.snapshot()
    finally:
        c.close()


def counters(obs: Observation) -> dict[tuple[str, str], float]:
    return {(s.entity, s.metric): s.value for s in obs.samples}


def test_snapshot_of_a_real_fabric(fabric: Fabric) -> None:
    sw, r, h1 = snapshot(fabric.sw), snapshot(fabric.r), snapshot(fabric.h1)
    for obs in (sw, r, h1):
        assert obs.kind == "snapshot" and parse_observation(to_dict(obs)) == obs
    assert sw.source.startswith(f"netlink:{fabric.sw}@")
    sw_rels = {r.key for r in sw.relations}
    assert RelKey(f"port:{fabric.sw}/p-h1", "port_of", f"bridge:{fabric.sw}/br1") in sw_rels
    assert RelKey(f"port:{fabric.sw}/p-h1", "peer", f"port:{fabric.h1}/eth0") in sw_rels
    assert RelKey(f"port:{fabric.sw}/va", "peer", f"port:{fabric.sw}/vb") in sw_rels
    assert RelKey(f"port:{fabric.h1}/eth0", "peer", f"port:{fabric.sw}/p-h1") in {
        r.key for r in h1.relations
    }
    r_ids = {e.id: e for e in r.entities}
    assert r_ids[f"router:{fabric.r}"].attrs["interfaces"] == 2
    eth2 = r_ids[f"port:{fabric.r}/eth2"].attrs["routes"]
    assert any(x["dst"] == "10.70.0.0/16" and x["via"] == "10.61.2.10" for x in eth2)
    assert f"router:{fabric.h1}" not in {e.id for e in h1.entities}
    assert not [e for e in sw.entities if e.id.endswith("/lo")]


def test_routes_are_recorded_once_on_the_links_they_leave_by(lab: Lab, fabric: Fabric) -> None:
    r = fabric.r
    # Beside the fabric's: a multipath route, and one prefix at two metrics.
    lab.ip(r, "route add 10.80.0.0/16 nexthop via 10.61.1.10 nexthop via 10.61.2.10")
    lab.ip(r, "route add 10.90.0.0/16 via 10.61.1.10 metric 5")
    lab.ip(r, "route add 10.90.0.0/16 via 10.61.2.10 metric 7")
    obs = snapshot(r)
    # No `routes` relation and no `net:` entity: the table lives on the interfaces alone.
    assert not [x for x in obs.relations if x.key.rel == "routes"]
    assert not [e for e in obs.entities if e.kind == "net"]
    recorded = {
        (e.id, x["dst"], x["via"], x["metric"])
        for e in obs.entities
        for x in e.attrs.get("routes", [])
    }
    kernel = json.loads(subprocess.check_output(["ip", "-j", "-n", r, "-4", "route", "show"]))
    expected = set()
    for route in kernel:
        dst = route["dst"] if "/" in route["dst"] else f"{route['dst']}/32"
        dst = "0.0.0.0/0" if route["dst"] == "default" else dst
        for hop in route.get("nexthops", [route]):
            port = f"port:{r}/{hop['dev']}"
            expected.add((port, dst, hop.get("gateway"), route.get("metric", 0)))
    assert recorded == expected
    assert (f"port:{r}/eth1", "10.80.0.0/16", "10.61.1.10", 0) in recorded
    assert (f"port:{r}/eth2", "10.80.0.0/16", "10.61.2.10", 0) in recorded
    assert (f"port:{r}/eth2", "10.90.0.0/16", "10.61.2.10", 7) in recorded


def test_port_counters_grow_with_traffic(lab: Lab, fabric: Fabric) -> None:
    before = counters(snapshot(fabric.sw))
    sent = lab.ping(fabric.h1, "10.61.2.10", count=20, size=1000)
    after = counters(snapshot(fabric.sw))

    def grew(ifname: str, metric: str) -> float:
        key = (f"port:{fabric.sw}/{ifname}", metric)
        return after[key] - before[key]

    # Requests go h1 → p-h1 → br1 → p-r1 → r → p-r2 → br2 → p-h2 → h2; replies back.
    for ifname in ("p-h1", "p-r1", "p-r2", "p-h2"):
        assert grew(ifname, "rx_bytes") >= sent
        assert grew(ifname, "tx_bytes") >= sent
        assert grew(ifname, "rx_packets") >= 20
    # The bridge device itself counts only what it terminates, not what it forwards.
    br1 = (f"bridge:{fabric.sw}/br1", "rx_bytes")
    assert after[br1] - before[br1] < sent


def test_watch_a_bridge_live_and_die(lab: Lab, fabric: Fabric) -> None:
    sw = fabric.sw
    with watching(NetlinkCollector(sw)) as w, watching(NetlinkCollector(fabric.h1)) as w_h1:
        lab.ip(sw, "link add brx type bridge")
        lab.ip(sw, "link set brx up")
        for port, host, peer, addr in (
            ("xa", fabric.h1, "xb", "10.62.0.1"),
            ("xc", fabric.h2, "xd", "10.62.0.2"),
        ):
            lab.ip(sw, f"link add {port} type veth peer name {peer} netns {host}")
            lab.ip(sw, f"link set {port} master brx up")
            lab.ip(host, f"link set {peer} up")
            lab.ip(host, f"addr add {addr}/24 dev {peer}")
        brx = f"bridge:{sw}/brx"
        xa, xc = f"port:{sw}/xa", f"port:{sw}/xc"
        w.until("brx with both ports", made(RelKey(xa, "port_of", brx), RelKey(xc, "port_of", brx)))
        created = next(e for e in w.events if brx in {x.id for x in e.entities})
        sent = lab.ping(fabric.h1, "10.62.0.2", count=20, size=1000)
        lab.ip(sw, "link set xc nomaster")
        w.until("xc leaving brx", ended(RelKey(xc, "port_of", brx)))
        assert not ended(xc)(w.events)  # an AF_BRIDGE DELLINK is no deletion
        lab.ip(sw, "link del brx")
        lab.ip(sw, "link del xa")
        lab.ip(sw, "link del xc")
        w.until("brx, xa, xc gone", ended(brx, xa, xc))
        w_h1.until("xb gone with xa", ended(f"port:{fabric.h1}/xb"))
    tomb = next(e for e in w.events if brx in e.gone)
    assert tomb.observed_at > created.observed_at
    # Each notification has its own instant, even those read in one go.
    times = [e.observed_at for e in w.events]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert {s.metric for s in tomb.samples if s.entity == brx} == set(STAT_NAMES)
    # What crossed brx is counted on its ports; their tombstones keep it.
    assert w.samples(xa, "tx_bytes")[-1] >= sent  # replies towards h1
    assert w.samples(xc, "tx_bytes")[-1] >= sent  # requests towards h2
    # ...and each end's tx is recorded as what its peer (in h1, h2) received.
    assert w.samples(f"port:{fabric.h1}/xb", "rx_bytes")[-1] == w.samples(xa, "tx_bytes")[-1]
    assert w.samples(f"port:{fabric.h2}/xd", "rx_bytes")[-1] >= sent
    # A cut pair reads rx 0: recording that would look like a counter reset. xa's
    # final rx comes from the other end instead, here from h1's watcher.
    for port in (xa, xc):
        rx = w.samples(port, "rx_bytes")
        assert rx == sorted(rx)
    assert w_h1.samples(xa, "rx_bytes")[-1] >= sent
    assert w.error is None
    for e in w.events:
        assert parse_observation(to_dict(e)) == e


def test_link_down_takes_its_routes_and_forwarding_makes_a_router(lab: Lab, fabric: Fabric) -> None:
    r, h1 = fabric.r, fabric.h1
    with watching(NetlinkCollector(r)) as w:
        lab.ip(r, "link set eth2 down")
        # IPv4 routes of a link taken down vanish without RTM_DELROUTE.
        eth2 = f"port:{r}/eth2"
        w.until(
            "the routes through eth2 gone",
            lambda ev: any(
                x.id == eth2 and x.attrs["routes"] == [] for e in ev for x in e.entities
            ),
        )
    with watching(NetlinkCollector(h1)) as w:
        lab.ip(h1, "link add hx type veth peer name hy")
        lab.ip(h1, "addr add 10.66.0.1/24 dev hx")
        lab.sysctl(h1, "net.ipv4.ip_forward=1")
        w.until("h1 becoming a router", made(f"router:{h1}"))


def test_a_removed_namespace_is_closed_with_its_final_counters(lab: Lab, fabric: Fabric) -> None:
    sent = lab.ping(fabric.h1, "10.61.2.10", count=10, size=1000)
    h2 = NetlinkCollector(fabric.h2)
    sw = NetlinkCollector(fabric.sw)
    with watching(sw) as w_sw:
        w = Watch(h2)
        w.thread.start()
        time.sleep(0.1)
        lab.remove(fabric.h2)
        w.thread.join(3)
        assert isinstance(w.error, NamespaceGone)
        (final,) = [e for e in w.events if e.gone]
        assert {f"port:{fabric.h2}/eth0", f"ip:10.61.2.10@{fabric.h2}"} <= set(final.gone)
        assert (
            RelKey(f"port:{fabric.h2}/eth0", "peer", f"port:{fabric.sw}/p-h2")
            in final.gone_relations
        )
        got = counters(final)
        # Read through our pin, before the pair was cut: rx is still whole.
        assert got[(f"port:{fabric.h2}/eth0", "rx_bytes")] >= sent
        assert got[(f"port:{fabric.h2}/eth0", "tx_bytes")] >= sent
        assert h2.retire() is None  # already done by watch()
        assert not h2.alive()
        assert not ended(f"port:{fabric.sw}/p-h2")(w_sw.events)  # h2 is still pinned
        h2.close()  # the namespace really dies now, and takes p-h2 with it
        w_sw.until("p-h2 gone with h2", ended(f"port:{fabric.sw}/p-h2"))
    assert w_sw.samples(f"port:{fabric.sw}/p-h2", "tx_bytes")[-1] >= sent


def test_an_overrun_is_healed_by_reading_everything_again(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tiny(get.EventStream):
        """The smallest receive buffer the kernel allows: a burst overruns it."""

        def __init__(self, ns: get.Netns) -> None:
            super().__init__(ns)
            self._rtnl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)

    ns = lab.ns("o")
    monkeypatch.setattr(get, "EventStream", Tiny)
    c = NetlinkCollector(ns, poll_interval=0.3)
    c.snapshot()
    with watching(c) as w:
        lines = "".join(f"link add o{i} type veth peer name q{i}\n" for i in range(60))
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=lines, text=True, check=True)
        w.until("all 120 ends", made(*(f"port:{ns}/{p}{i}" for i in range(60) for p in "oq")))
        assert w.error is None


def test_the_fleet_follows_namespaces_as_they_come_and_go(lab: Lab) -> None:
    a, b = lab.ns("a"), lab.ns("b")
    fleet = NetlinkFleet(f"{lab.tag}-*", include_root=False)
    try:
        first = fleet.scan()
        assert {c.namespace for c in first.added} == {a, b} and first.removed == ()
        c = lab.ns("c")
        lab.remove(a)
        change = fleet.scan()
        assert [x.namespace for x in change.added] == [c]
        ((gone, final),) = change.removed
        assert gone.namespace == a and final is not None and final.kind == "event"
        # The same name for a new namespace is a new life, not the old one continued.
        lab.remove(b)
        lab.namespaces.append(b)
        from collectors.netlink.netlink_lab import run

        run("ip", "netns", "add", b)
        again = fleet.scan()
        assert [x.namespace for x in again.added] == [b]
        assert [x.namespace for x, _ in again.removed] == [b]
        for x, _ in (*change.removed, *again.removed):
            x.close()
        assert {x.namespace for x in fleet.collectors()} == {b, c}
    finally:
        fleet.close()


def test_follow_reports_additions_and_removals(lab: Lab) -> None:
    a = lab.ns("a")
    added: list[str] = []
    removed: list[tuple[str, Observation | None]] = []
    stop = threading.Event()
    fleet = NetlinkFleet(f"{lab.tag}-*", include_root=False)

    def gone(c: NetlinkCollector, final: Observation | None) -> None:
        removed.append((c.namespace, final))
        c.close()

    t = threading.Thread(
        target=fleet.follow, args=(stop, lambda c: added.append(c.namespace), gone, 0.05)
    )
    t.start()
    try:
        deadline = time.monotonic() + 3
        while a not in added and time.monotonic() < deadline:
            time.sleep(0.02)
        lab.remove(a)
        while not removed and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(3)
        fleet.close()
    assert added == [a]
    assert [ns for ns, _ in removed] == [a] and removed[0][1] is not None


def test_the_root_namespace_is_named_by_the_host(lab: Lab) -> None:
    root = NetlinkCollector(None)
    try:
        obs = root.snapshot()
    finally:
        root.close()
    assert obs.source == f"netlink:{root.hostname}@{root.hostname}"
    assert all(f":{root.hostname}/" in e.id for e in obs.entities if e.kind in ("port", "bridge"))
    assert not [e for e in obs.entities if e.id.endswith("/lo")]
