"""LibvirtCollector against libvirt's test driver (`test:///<node>.xml`).

There is no real libvirtd here. The test driver is a real in-process
hypervisor with real events, but every connection to a node file is its own
private hypervisor, so the tests hand the collector an `open_conn` that
opens read-write and keeps the connection: the test changes the fabric
through the very connection the collector watches. "Connection loss" is the
test closing that connection under the collector, which is the one
mock-like part; a dead remote daemon is noticed the same way (a failing
ping), or sooner through libvirt's close callback, which the test driver
never fires.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vtrail import wire
from vtrail.collectors.base import SourceError
from vtrail.collectors.libvirt import LibvirtCollector, default_host, get
from vtrail.model import Observation, RelKey

DATA = Path(__file__).parents[2] / "data" / "libvirt"
HV_A = f"test://{(DATA / 'hv-a.xml').resolve()}"
HV_B = f"test://{(DATA / 'hv-b.xml').resolve()}"
WEB = "vm:0c0f6f4e-6a1b-4d1e-9b3e-1f2a3b4c5d6e"
DB = "vm:1d1f6f4e-6a1b-4d1e-9b3e-1f2a3b4c5d6e"
WEB_NIC1 = "nic:0c0f6f4e-6a1b-4d1e-9b3e-1f2a3b4c5d6e/52:54:00:aa:00:01"
WEB_NIC2 = "nic:0c0f6f4e-6a1b-4d1e-9b3e-1f2a3b4c5d6e/52:54:00:aa:00:02"
FLASH_UUID = "f1a5f1a5-0000-4000-8000-000000000001"
FLASH = f"vm:{FLASH_UUID}"
FLASH_XML = f"""<domain type='test'><name>flash</name><uuid>{FLASH_UUID}</uuid>
<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>
<interface type='bridge'><mac address='52:54:00:f1:a5:01'/><source bridge='br-prod'/></interface>
</devices></domain>"""


class Opener:
    """`open_conn` for the collector that lets the test reach the same connection."""

    def __init__(self) -> None:
        self.conns: list[Any] = []

    def __call__(self, uri: str) -> Any:
        self.conns.append(get.open_connection(uri, read_only=False))
        return self.conns[-1]

    @property
    def conn(self) -> Any:
        return self.conns[-1]


class Watch:
    """Runs `collector.watch` on a thread, collecting what it emits."""

    def __init__(self, collector: LibvirtCollector, emit_delay: float = 0) -> None:
        self.collector = collector
        self.emit_delay = emit_delay
        self.got: list[Observation] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert collector.watching.wait(5), "watch() never registered its callbacks"

    def _run(self) -> None:
        try:
            self.collector.watch(self._emit, self.stop)
        except BaseException as e:
            self.error = e

    def _emit(self, obs: Observation) -> None:
        self.got.append(obs)
        time.sleep(self.emit_delay)  # a slow store, to let events queue up

    def until(self, predicate: Callable[[Observation], bool], timeout: float = 5) -> Observation:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for obs in list(self.got):
                if predicate(obs):
                    return obs
            assert self.error is None, self.error
            time.sleep(0.02)
        raise AssertionError(f"no such observation among {len(self.got)}: {self.got}")

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def rels(obs: Observation) -> set[tuple[str, str, str]]:
    return {(r.key.src, r.key.rel, r.key.dst) for r in obs.relations}


def attrs(obs: Observation, entity: str) -> dict[str, Any]:
    return dict(next(e.attrs for e in obs.entities if e.id == entity))


@pytest.fixture
def hv_a() -> Any:
    opener = Opener()
    collector = LibvirtCollector(HV_A, "hv-a", open_conn=opener, probe_interval=0.2)
    yield collector, opener
    collector.close()


def test_snapshot_of_a_test_driver_host(hv_a: Any) -> None:
    collector, opener = hv_a
    assert collector.source == f"libvirt+{HV_A}@hv-a"
    obs = collector.snapshot()
    assert obs.kind == "snapshot" and obs.source == collector.source
    assert wire.parse_observation(wire.to_dict(obs)) == obs
    ids = {e.id for e in obs.entities}
    assert {"host:hv-a", "net:default@hv-a", WEB, DB, WEB_NIC1, WEB_NIC2} <= ids
    host = attrs(obs, "host:hv-a")
    assert (host["cpu_model"], host["cpus"], host["cpu_mhz"], host["memory_mib"]) == (
        "x86_64",
        8,
        2400,
        16384,
    )
    assert attrs(obs, WEB)["state"] == "running"
    assert {
        (WEB, "runs_on", "host:hv-a"),
        (DB, "runs_on", "host:hv-a"),
        (WEB_NIC1, "plugged_into", "port:hv-a/testnet0"),
        ("port:hv-a/testnet0", "port_of", "bridge:hv-a/virbr0"),  # from net:default@hv-a
        (WEB_NIC2, "plugged_into", "port:hv-a/testnet1"),
        ("port:hv-a/testnet1", "port_of", "bridge:hv-a/br-prod"),
    } <= rels(obs)
    # The test driver's bulk stats are empty: these come from the per-call fallback.
    metrics = {(s.entity, s.metric) for s in obs.samples}
    assert {(WEB, "cpu_time_ns"), (WEB, "disk.vda.rd_bytes"), (WEB, "disk.vda.wr_bytes")} <= metrics
    assert {(WEB_NIC1, m) for m in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")} <= metrics

    opener.conn.lookupByName("db-1").destroy()
    after = collector.snapshot()
    assert attrs(after, DB)["state"] == "shutoff"
    assert attrs(after, DB)["state_reason"] == "destroyed"
    assert not any(r[0] == DB and r[1] == "runs_on" for r in rels(after))
    assert not any(s.entity == DB for s in after.samples)


def test_default_host_name_is_the_hypervisors() -> None:
    opener = Opener()
    collector = LibvirtCollector.from_source(f"libvirt+{HV_A}", open_conn=opener)
    try:
        hostname = default_host(HV_A, opener.conn.getHostname(), socket.gethostname())
        assert collector.host == hostname
        assert collector.source == f"libvirt+{HV_A}@{hostname}"
    finally:
        collector.close()
    named = LibvirtCollector.from_source(f"libvirt+{HV_A}@hv-z", open_conn=Opener())
    assert (named.uri, named.host) == (HV_A, "hv-z")
    named.close()


def test_a_domain_that_lived_between_two_polls_is_recorded(hv_a: Any) -> None:
    collector, opener = hv_a
    before = collector.snapshot()
    watch = Watch(collector)
    dom = opener.conn.defineXML(FLASH_XML)
    dom.create()
    dom.destroy()
    dom.undefine()
    watch.until(lambda o: FLASH in o.gone)
    watch.finish()
    after = collector.snapshot()
    assert FLASH not in {e.id for e in before.entities} | {e.id for e in after.entities}

    mine = [o for o in watch.got if FLASH in {e.id for e in o.entities} | set(o.gone)]
    assert all(o.kind == "event" and o.source == collector.source for o in mine)
    assert [o.observed_at for o in mine] == sorted(o.observed_at for o in mine)
    states = [attrs(o, FLASH)["state"] for o in mine if FLASH not in o.gone]
    assert "running" in states
    assert any((FLASH, "runs_on", "host:hv-a") in rels(o) for o in mine)
    assert any(RelKey(FLASH, "runs_on", "host:hv-a") in o.gone_relations for o in mine)
    assert FLASH in mine[-1].gone


def test_events_carry_the_domains_full_entity_set(hv_a: Any) -> None:
    collector, opener = hv_a
    collector.snapshot()
    watch = Watch(collector)
    nic = f"nic:{FLASH_UUID}/52:54:00:f1:a5:01"
    dom = opener.conn.defineXML(FLASH_XML)
    watch.until(lambda o: FLASH in {e.id for e in o.entities})
    dom.create()
    started = watch.until(lambda o: (FLASH, "runs_on", "host:hv-a") in rels(o))
    port = attrs(started, nic)["target"]
    assert {(FLASH, "has_nic", nic), (nic, "plugged_into", f"port:hv-a/{port}")} <= rels(started)
    assert (f"port:hv-a/{port}", "port_of", "bridge:hv-a/br-prod") in rels(started)
    assert f"port:hv-a/{port}" in {e.id for e in started.entities}

    dom.destroy()
    stopped = watch.until(lambda o: RelKey(FLASH, "runs_on", "host:hv-a") in o.gone_relations)
    assert f"port:hv-a/{port}" in stopped.gone
    assert RelKey(nic, "plugged_into", f"port:hv-a/{port}") in stopped.gone_relations
    assert attrs(stopped, FLASH)["state"] == "shutoff"
    assert nic in {e.id for e in stopped.entities}  # the NIC is config: it stays

    net = opener.conn.networkDefineXML(
        "<network><name>lab</name><bridge name='virbr9'/><forward mode='route'/>"
        "<ip address='172.16.9.1' prefix='24'/></network>"
    )
    net.create()
    watch.until(lambda o: any(e.id == "net:lab@hv-a" and e.attrs["active"] for e in o.entities))
    net.destroy()
    net.undefine()
    watch.until(lambda o: "net:lab@hv-a" in o.gone)
    dom.undefine()
    watch.until(lambda o: FLASH in o.gone and nic in o.gone)
    watch.finish()


def test_migration_between_two_hosts() -> None:
    a_open, b_open = Opener(), Opener()
    a = LibvirtCollector(HV_A, "hv-a", open_conn=a_open, probe_interval=0.2)
    b = LibvirtCollector(HV_B, "hv-b", open_conn=b_open, probe_interval=0.2)
    try:
        assert (WEB, "runs_on", "host:hv-a") in rels(a.snapshot())
        assert WEB not in {e.id for e in b.snapshot().entities}
        wa, wb = Watch(a), Watch(b)

        leaving = a_open.conn.lookupByUUIDString(WEB.removeprefix("vm:"))
        xml = leaving.XMLDesc(0)
        leaving.destroy()
        leaving.undefine()
        b_open.conn.defineXML(xml).create()

        wa.until(lambda o: RelKey(WEB, "runs_on", "host:hv-a") in o.gone_relations)
        wa.until(lambda o: WEB in o.gone)
        arrived = wb.until(lambda o: (WEB, "runs_on", "host:hv-b") in rels(o))
        assert attrs(arrived, WEB)["name"] == "web-1"
        assert (WEB_NIC1, "plugged_into", "port:hv-b/testnet0") in rels(arrived)
        wa.finish()
        wb.finish()

        assert WEB not in {e.id for e in a.snapshot().entities}
        assert (WEB, "runs_on", "host:hv-b") in rels(b.snapshot())
    finally:
        a.close()
        b.close()


def test_connection_loss_ends_watch_and_a_new_snapshot_reconnects(hv_a: Any) -> None:
    collector, opener = hv_a
    collector.snapshot()
    watch = Watch(collector)
    lost_at = time.monotonic()
    opener.conn.close()
    watch.thread.join(5)
    assert not watch.thread.is_alive(), "watch() hung on a dead connection"
    assert time.monotonic() - lost_at < 2
    assert isinstance(watch.error, SourceError)
    assert str(watch.error).startswith(f"libvirt {HV_A}: connection lost:")
    assert not collector.watching.is_set()

    obs = collector.snapshot()  # reconnects through open_conn
    assert len(opener.conns) == 2
    assert WEB in {e.id for e in obs.entities}
    watch = Watch(collector)  # and watching works again on the new connection
    opener.conn.lookupByName("db-1").destroy()
    watch.until(lambda o: RelKey(DB, "runs_on", "host:hv-a") in o.gone_relations)
    watch.finish()


def test_the_close_callback_ends_watch() -> None:
    """libvirt's close callback (remote drivers: EOF, keepalive timeout) ends watch().

    The test driver never fires it, so the test keeps the callback the
    collector registers and calls it as libvirt would.
    """
    callbacks: list[Callable[[Any, int, Any], None]] = []

    def opener(uri: str) -> Any:
        conn = get.open_connection(uri, read_only=False)
        conn.registerCloseCallback = lambda cb, opaque: callbacks.append(cb)
        conn.unregisterCloseCallback = lambda: None
        return conn

    collector = LibvirtCollector(HV_A, "hv-a", open_conn=opener, probe_interval=60)
    watch = Watch(collector)
    (closed,) = callbacks
    closed(None, 1, None)  # VIR_CONNECT_CLOSE_REASON_EOF
    watch.thread.join(2)
    assert isinstance(watch.error, SourceError)
    assert str(watch.error) == f"libvirt {HV_A}: connection closed (eof)"
    collector.close()


def test_connection_loss_fails_the_snapshot_then_recovers(hv_a: Any) -> None:
    collector, opener = hv_a
    collector.snapshot()
    opener.conn.close()
    with pytest.raises(SourceError, match=f"^libvirt {HV_A}: cannot read the host: "):
        collector.snapshot()
    assert WEB in {e.id for e in collector.snapshot().entities}
    assert len(opener.conns) == 2


def test_an_unreachable_source_raises_source_error() -> None:
    missing = f"test://{DATA.resolve()}/no-such-host.xml"
    with pytest.raises(SourceError, match=f"^libvirt {missing}: cannot connect: "):
        LibvirtCollector(missing)
    lazy = LibvirtCollector(missing, "hv-x")  # a named host connects on first use
    assert lazy.source == f"libvirt+{missing}@hv-x"
    with pytest.raises(SourceError, match="cannot connect"):
        lazy.snapshot()
    with pytest.raises(SourceError, match="cannot connect"):
        lazy.watch(lambda o: None, threading.Event())
    lazy.close()
    lazy.close()


def test_events_fired_before_stop_are_still_emitted(hv_a: Any) -> None:
    collector, opener = hv_a
    watch = Watch(collector, emit_delay=0.2)
    dom = opener.conn.defineXML(FLASH_XML)
    dom.create()
    dom.destroy()
    dom.undefine()
    watch.until(lambda o: True)
    watch.finish()  # stops while the first emit is still busy
    assert len(watch.got) == 4  # defined, started, stopped, undefined
    assert FLASH in watch.got[-1].gone


def test_close_ends_a_running_watch_and_its_subscriptions(hv_a: Any) -> None:
    collector, opener = hv_a
    watch = Watch(collector)
    conn = opener.conn
    collector.close()
    watch.thread.join(3)
    assert str(watch.error) == f"libvirt {HV_A}: the collector was closed"
    # The binding's own record of live subscriptions: none may outlive the watch.
    assert conn.domainEventCallbackID == {}
    assert conn.networkEventCallbackID == {}
    assert WEB in {e.id for e in collector.snapshot().entities}  # reopens


def test_stop_ends_watch_promptly(hv_a: Any) -> None:
    collector, _ = hv_a
    watch = Watch(collector)
    started = time.monotonic()
    watch.finish()
    assert time.monotonic() - started < 1


TAGGED_UUID = "7a66ed00-0000-4000-8000-000000000001"
TAGGED_XML = f"""<domain type='test'><name>tagged</name><uuid>{TAGGED_UUID}</uuid>
<metadata>
  <app:placement xmlns:app="http://example.org/app/1">
    <app:service>web</app:service><app:zone> z1 </app:zone><app:zone>z2</app:zone>
    <app:empty/>
  </app:placement>
  <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:owner><nova:project uuid="p1">demo</nova:project></nova:owner>
  </nova:instance>
</metadata>
<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>"""


def test_libvirt_metadata_is_recorded_as_attributes(hv_a: Any) -> None:
    # What a policy's `metadata:` selector matches: each leaf's text, by its path.
    collector, opener = hv_a
    collector.snapshot()
    opener.conn.defineXML(TAGGED_XML)
    got = attrs(collector.snapshot(), f"vm:{TAGGED_UUID}")
    metadata = {k: v for k, v in got.items() if k.startswith("metadata.")}
    assert metadata == {
        "metadata.placement.service": "web",
        "metadata.placement.zone": "z1",
        "metadata.instance.owner.project": "demo",
    }
    untagged = attrs(collector.snapshot(), WEB)
    assert not any(k.startswith("metadata.") for k in untagged)
