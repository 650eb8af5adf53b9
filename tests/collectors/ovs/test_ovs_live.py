"""OvsCollector against a private ovsdb-server (see ovs_testbed.py).

Most tests run ovsdb-server alone: there is no datapath, so where counters
matter they are written into Interface.statistics with ovs-vsctl and their
exact values are known. `test_real_datapath_*` adds ovs-vswitchd with the
userspace datapath (this host has no openvswitch kernel module) for real
ofports, link states and counters.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.ovs.ovs_testbed import PrivateOvsdb, PrivateVswitchd
from vtrail.collectors.base import SourceError
from vtrail.collectors.ovs import OvsCollector, get
from vtrail.model import Observation, RelKey

H = "hv-test"
VM = "6695eb01-f6a4-8304-79aa-97f2502e193f"
MAC = "52:54:00:44:f2:dc"
COUNTERS = {"rx_bytes": 1000, "tx_bytes": 2000, "rx_packets": 10, "tx_packets": 20}
COUNTERS |= {"rx_dropped": 1, "tx_dropped": 2, "rx_errors": 3, "tx_errors": 4}


def p(name: str) -> str:
    return f"port:{H}/{name}"


def b(name: str) -> str:
    return f"bridge:{H}/{name}"


def stats_args(iface: str, counters: dict[str, int]) -> list[str]:
    return ["set", "Interface", iface, *(f"statistics:{k}={v}" for k, v in counters.items())]


class Watcher:
    """Runs `collector.watch` on a thread and queues what it emits."""

    def __init__(self, collector: OvsCollector) -> None:
        self.events: queue.Queue[tuple[float, Observation]] = queue.Queue()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(collector,), daemon=True)
        self._thread.start()

    def _run(self, collector: OvsCollector) -> None:
        try:
            collector.watch(lambda o: self.events.put((time.monotonic(), o)), self.stop)
        except BaseException as e:
            self.error = e
        finally:
            self.done.set()

    def next(self, timeout: float = 1.0) -> tuple[float, Observation]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s (error: {self.error!r})") from None

    def assert_quiet(self, seconds: float) -> None:
        try:
            _, o = self.events.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected event: {o}")

    def close(self) -> None:
        self.stop.set()
        self._thread.join(3)
        assert not self._thread.is_alive(), "watch() did not return after stop was set"


@pytest.fixture
def collector(ovsdb: PrivateOvsdb) -> Iterator[OvsCollector]:
    ovsdb.vsctl("set", "Open_vSwitch", ".", f"external_ids:hostname={H}")
    c = OvsCollector(str(ovsdb.sock), timeout=2)
    yield c
    c.close()


@pytest.fixture
def watcher(collector: OvsCollector) -> Iterator[Watcher]:
    collector.snapshot()  # the baseline: anything after it reaches the watcher
    w = Watcher(collector)
    yield w
    w.close()


def _fabric(ovsdb: PrivateOvsdb) -> None:
    ovsdb.vsctl(
        *("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev"),
        "external_ids:bridge-id=br0",
        *("--", "add-br", "br1"),
        *("--", "add-port", "br0", "vnet0", "tag=42"),
        *("--", "set", "Interface", "vnet0", f"external_ids:attached-mac={MAC}"),
        f"external_ids:vm-id={VM}",
        *("--", "add-port", "br0", "patch-a", "--", "add-port", "br1", "patch-b"),
        *("--", "set", "Interface", "patch-a", "type=patch", "options:peer=patch-b"),
        *("--", "set", "Interface", "patch-b", "type=patch", "options:peer=patch-a"),
        *("--", *stats_args("vnet0", COUNTERS)),
    )


def test_snapshot_reads_the_database(ovsdb: PrivateOvsdb, collector: OvsCollector) -> None:
    _fabric(ovsdb)
    obs = collector.snapshot()
    assert collector.source == f"ovs+unix:{ovsdb.sock}@{H}"
    assert (obs.kind, obs.source, obs.gone, obs.gone_relations) == (
        "snapshot",
        collector.source,
        (),
        (),
    )
    ents = {e.id: e for e in obs.entities}
    assert set(ents) == {
        b("br0"),
        b("br1"),
        p("br0"),
        p("br1"),
        p("vnet0"),
        p("patch-a"),
        p("patch-b"),
    }
    assert ents[b("br0")].attrs["datapath_type"] == "netdev"
    assert ents[b("br1")].attrs["datapath_type"] == "system"
    assert ents[b("br0")].attrs["external_ids"] == {"bridge-id": "br0"}
    vnet = ents[p("vnet0")].attrs
    assert (vnet["ifname"], vnet["ovs"], vnet["type"], vnet["tag"]) == ("vnet0", True, "system", 42)
    assert vnet["external_ids"] == {"attached-mac": MAC, "vm-id": VM}
    assert ents[p("br0")].attrs["type"] == "internal"
    assert {r.key for r in obs.relations} == {
        RelKey(p("br0"), "port_of", b("br0")),
        RelKey(p("vnet0"), "port_of", b("br0")),
        RelKey(p("patch-a"), "port_of", b("br0")),
        RelKey(p("br1"), "port_of", b("br1")),
        RelKey(p("patch-b"), "port_of", b("br1")),
        RelKey(p("patch-a"), "peer", p("patch-b")),
        RelKey(p("patch-b"), "peer", p("patch-a")),
        RelKey(f"nic:{VM}/{MAC}", "plugged_into", p("vnet0")),
    }
    assert {(s.entity, s.metric): s.value for s in obs.samples} == {
        (p("vnet0"), k): float(v) for k, v in COUNTERS.items()
    }


def test_select_and_idl_replica_agree(ovsdb: PrivateOvsdb) -> None:
    _fabric(ovsdb)
    ovsdb.vsctl("set", "Interface", "vnet0", "ofport=5", "mtu=9000", "link_state=up")
    monitor = get.OvsdbMonitor(str(ovsdb.sock), timeout=2)
    try:
        from_idl = monitor.state()
    finally:
        monitor.close()
    from_select = get.fetch_state(str(ovsdb.sock), timeout=2)
    assert from_idl == from_select
    vnet = next(i for i in from_idl.interfaces if i.name == "vnet0")
    assert (vnet.ofport, vnet.mtu, vnet.link_state) == (5, 9000, "up")


def test_hostname_comes_from_the_switch_or_this_machine(ovsdb: PrivateOvsdb) -> None:
    assert OvsCollector(str(ovsdb.sock)).hostname == socket.gethostname()
    pinned = OvsCollector(str(ovsdb.sock), "hv-pinned")
    assert pinned.source.endswith("@hv-pinned")
    ovsdb.vsctl("add-br", "br0")
    assert {e.id for e in pinned.snapshot().entities} == {
        "bridge:hv-pinned/br0",
        "port:hv-pinned/br0",
    }
    ovsdb.vsctl("set", "Open_vSwitch", ".", "external_ids:hostname=hv-db")
    assert OvsCollector.from_uri(f"ovs+unix:{ovsdb.sock}").hostname == "hv-db"
    fqdn = f"{socket.gethostname()}.example.net"  # what ovs-ctl writes: `hostname -f`
    ovsdb.vsctl("set", "Open_vSwitch", ".", f"external_ids:hostname={fqdn}")
    assert OvsCollector(str(ovsdb.sock)).hostname == socket.gethostname()
    assert OvsCollector.from_uri(f"ovs+unix:{ovsdb.sock}@pinned").source.endswith("@pinned")


def test_watch_follows_bridges_and_ports(ovsdb: PrivateOvsdb, watcher: Watcher) -> None:
    def step(*args: str) -> Observation:
        started = time.monotonic()
        ovsdb.vsctl(*args)
        at, obs = watcher.next(timeout=1.0)
        assert at - started < 1.0
        assert obs.kind == "event"
        return obs

    ev = step("add-br", "br9")
    assert {e.id for e in ev.entities} == {b("br9"), p("br9")}
    assert {r.key for r in ev.relations} == {RelKey(p("br9"), "port_of", b("br9"))}
    assert ev.gone == () and ev.gone_relations == ()

    ev = step(
        *("add-port", "br9", "vnet7", "--", "set", "Interface", "vnet7"),
        *(f"external_ids:attached-mac={MAC}", f"external_ids:vm-uuid={VM}"),
    )
    assert [e.id for e in ev.entities] == [p("vnet7")]
    plugged = RelKey(f"nic:{VM}/{MAC}", "plugged_into", p("vnet7"))
    assert {r.key for r in ev.relations} == {RelKey(p("vnet7"), "port_of", b("br9")), plugged}

    ovsdb.vsctl(*stats_args("vnet7", COUNTERS))
    watcher.assert_quiet(0.3)  # counters alone are snapshot()'s business

    ev = step("del-port", "br9", "vnet7")
    assert ev.gone == (p("vnet7"),)
    assert set(ev.gone_relations) == {RelKey(p("vnet7"), "port_of", b("br9")), plugged}
    assert ev.entities == () and ev.relations == ()
    assert {(s.entity, s.metric): s.value for s in ev.samples} == {
        (p("vnet7"), k): float(v) for k, v in COUNTERS.items()
    }

    ev = step("del-br", "br9")
    assert set(ev.gone) == {b("br9"), p("br9")}
    assert ev.gone_relations == (RelKey(p("br9"), "port_of", b("br9")),)
    assert watcher.error is None


def test_watch_reports_changes_made_since_the_last_snapshot(
    ovsdb: PrivateOvsdb, collector: OvsCollector
) -> None:
    ovsdb.vsctl("add-br", "br0")
    collector.snapshot()
    ovsdb.vsctl("add-port", "br0", "tap1", "--", "set", "Port", "tap1", "tag=7")
    w = Watcher(collector)
    try:
        _, ev = w.next()
        assert [(e.id, e.attrs["tag"]) for e in ev.entities] == [(p("tap1"), 7)]
    finally:
        w.close()


def test_a_restarted_watch_keeps_the_last_counters_it_saw(
    ovsdb: PrivateOvsdb, collector: OvsCollector
) -> None:
    ovsdb.vsctl("add-br", "br0", "--", "add-port", "br0", "tap1")
    collector.snapshot()  # no counters yet
    w = Watcher(collector)
    try:
        ovsdb.vsctl("add-port", "br0", "tap2")
        w.next()
        ovsdb.vsctl(*stats_args("tap1", COUNTERS))
        w.assert_quiet(0.3)
    finally:
        w.close()
    ovsdb.vsctl("del-port", "br0", "tap1")  # while nobody watches
    w = Watcher(collector)
    try:
        _, ev = w.next()
        assert ev.gone == (p("tap1"),)
        assert {s.metric: s.value for s in ev.samples} == {k: float(v) for k, v in COUNTERS.items()}
    finally:
        w.close()


def test_watch_raises_when_ovsdb_dies(
    ovsdb: PrivateOvsdb, watcher: Watcher, collector: OvsCollector
) -> None:
    ovsdb.vsctl("add-br", "br0")
    watcher.next()  # the watch is connected and following
    killed = time.monotonic()
    ovsdb.kill()
    assert watcher.done.wait(2), "watch() kept blocking after ovsdb-server died"
    assert time.monotonic() - killed < 1.0
    assert isinstance(watcher.error, SourceError)
    assert str(ovsdb.sock) in str(watcher.error)
    with pytest.raises(SourceError, match="cannot connect"):
        collector.snapshot()  # the socket file outlives the killed server


def test_stop_ends_watch_promptly(watcher: Watcher) -> None:
    time.sleep(0.1)
    stopped = time.monotonic()
    watcher.close()
    assert time.monotonic() - stopped < 0.6
    assert watcher.error is None


def test_a_missing_socket_is_a_source_error(ovs_dir: Path) -> None:
    missing = str(ovs_dir / "nothing.sock")
    started = time.monotonic()
    with pytest.raises(SourceError, match="does not exist"):
        OvsCollector(missing)
    c = OvsCollector(missing, "hv-x")
    with pytest.raises(SourceError):
        c.snapshot()
    w = Watcher(c)
    assert w.done.wait(2)
    assert isinstance(w.error, SourceError)
    assert time.monotonic() - started < 1.0


@pytest.mark.root
def test_real_datapath_ofports_link_state_and_counters(
    ovsdb: PrivateOvsdb, vswitchd: PrivateVswitchd, collector: OvsCollector
) -> None:
    ovsdb.vsctl(
        *("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev"),
        *("--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=internal"),
        *("--", "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=internal"),
        wait=True,
    )
    first = {e.id: e.attrs for e in collector.snapshot().entities}
    assert first[b("br0")]["datapath_id"]
    assert first[p("br0")]["ofport"] == 65534  # OFPP_LOCAL
    assert {first[p("p1")]["ofport"], first[p("p2")]["ofport"]} == {1, 2}
    assert first[p("p1")]["link_state"] == "down"
    assert first[p("p1")]["mac_in_use"]

    w = Watcher(collector)
    try:
        for dev in ("p1", "p2"):
            vswitchd.netns("ip", "link", "set", dev, "up")
        # ovs-vswitchd itself notices and writes link_state: a real change.
        seen: dict[str, object] = {}
        deadline = time.monotonic() + 3
        while seen != {p("p1"): "up", p("p2"): "up"}:
            _, ev = w.next(timeout=max(0.1, deadline - time.monotonic()))
            seen |= {e.id: e.attrs["link_state"] for e in ev.entities if e.id in (p("p1"), p("p2"))}
        vswitchd.netns("ip", "addr", "add", "192.0.2.1/24", "dev", "p1")
        vswitchd.netns("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.9", check=False)
        deadline = time.monotonic() + 8  # ovs-vswitchd writes counters every 5 s
        while True:
            counters = {(s.entity, s.metric): s.value for s in collector.snapshot().samples}
            if counters[(p("p2"), "tx_packets")] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        # p1's kernel side sent the ARP requests; the switch flooded them to p2.
        assert counters[(p("p1"), "rx_packets")] >= 3
        assert counters[(p("p2"), "tx_packets")] >= 3
        assert counters[(p("p2"), "tx_bytes")] >= 3 * 42
        w.assert_quiet(0.1)  # the counter updates emitted nothing
        assert w.error is None
    finally:
        w.close()


def test_the_monitor_tells_counters_from_structure(ovsdb: PrivateOvsdb) -> None:
    _fabric(ovsdb)
    monitor = get.OvsdbMonitor(str(ovsdb.sock), timeout=2)
    try:
        assert monitor.wait(0.05) is None
        ovsdb.vsctl(*stats_args("vnet0", {"rx_bytes": 5, "tx_bytes": 6}))
        changes = monitor.wait(1)
        assert changes == get.Changes(False, {"vnet0": COUNTERS | {"rx_bytes": 5, "tx_bytes": 6}})
        ovsdb.vsctl("set", "Interface", "vnet0", "link_state=up", "statistics:rx_bytes=8")
        changes = monitor.wait(1)
        assert changes is not None and changes.structure
        ovsdb.vsctl("set", "Port", "vnet0", "tag=43")
        assert monitor.wait(1) == get.Changes(True, {})
    finally:
        monitor.close()


def test_without_counter_following_the_last_snapshot_counters_are_final(
    ovsdb: PrivateOvsdb,
) -> None:
    ovsdb.vsctl("set", "Open_vSwitch", ".", f"external_ids:hostname={H}")
    _fabric(ovsdb)
    c = OvsCollector(str(ovsdb.sock), watch_counters=False)
    c.snapshot()  # reads COUNTERS
    w = Watcher(c)
    try:
        ovsdb.vsctl("add-port", "br0", "tap9")
        w.next()
        ovsdb.vsctl(*stats_args("vnet0", {k: v + 1 for k, v in COUNTERS.items()}))
        w.assert_quiet(0.2)
        ovsdb.vsctl("del-port", "br0", "vnet0")
        _, ev = w.next()
        assert ev.gone == (p("vnet0"),)
        assert {s.metric: s.value for s in ev.samples} == {k: float(v) for k, v in COUNTERS.items()}
    finally:
        w.close()
