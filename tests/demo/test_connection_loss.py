"""Connection loss: the source goes away and comes back; nothing vanishes that did not.

Two ways to lose a source: a libvirt connection that a harness breaks and
mends (the test driver runs in-process, so there is no daemon to kill), and a
real ovsdb-server killed with SIGKILL and started again on an older copy of
its database, so that one bridge really vanished while nobody was looking.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest

from vtrail.collectors.base import SourceError
from vtrail.collectors.libvirt.subscribe import ensure_event_loop
from vtrail.demo.fabric import SharedConn, host_xml, vm
from vtrail.query import state
from vtrail.recording.runner import Runner, SourceSpec
from vtrail.recording.sources import libvirt_source, ovs_source
from vtrail.store import SqliteStore

FAST = {"interval": 1.0, "backoff_initial": 0.2, "backoff_cap": 1.0}


def wait_for(pred: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def connected(r: Runner) -> bool:
    st = r.stats().sources
    return bool(st) and st[0].connected


def now() -> datetime:
    return datetime.now(UTC)


def false_vanishings(store: SqliteStore, gone: set[str]) -> list[str]:
    """Entities (not in `gone`) whose life has a hole or an end: none should."""
    bad = []
    for (eid,) in store.conn.execute("SELECT eid FROM entity").fetchall():
        vs = state.history(store, eid).versions
        if not vs or eid in gone:
            continue
        for a, b in itertools.pairwise(vs):
            if a.valid_to != b.valid_from:
                bad.append(f"{eid}: gap {a.valid_to} .. {b.valid_from}")
        if vs[-1].valid_to is not None:
            bad.append(f"{eid}: ended {vs[-1].valid_to} (after {vs[-1].vanished_after})")
    return bad


class FlakyConn(SharedConn):
    """A connection the test can break: while `down`, every call fails as on a dead socket.

    Deregistering callbacks still works, as it would after a close: otherwise
    the old watch's callbacks would outlive it on the shared connection.
    """

    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.down = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        passes = "Deregister" in name or name == "unregisterCloseCallback"
        if not self.down.is_set() or not callable(attr) or passes:
            return attr

        def broken(*_a: Any, **_k: Any) -> Any:
            raise libvirt.libvirtError("harness: the connection is closed")

        return broken


def test_libvirt_connection_loss_marks_a_gap_and_nothing_vanishes_falsely(
    tmp_path: Path,
) -> None:
    ensure_event_loop()
    stay, doomed = vm("stay-1", 1), vm("gone-1", 2)
    xml = tmp_path / "hv-x.xml"
    xml.write_text(host_xml([stay, doomed, vm("stay-2", 3)]))
    conn = libvirt.open(f"test://{xml}")
    flaky = FlakyConn(conn)

    def opener(_uri: str) -> Any:
        if flaky.down.is_set():
            raise SourceError("harness: connection refused")
        return flaky

    spec: SourceSpec = libvirt_source(f"libvirt+test://{xml}@hv-x", open_conn=opener)
    store = SqliteStore(tmp_path / "loss.db")
    runner = Runner(store, [spec], **FAST)
    runner.start()
    try:
        wait_for(lambda: connected(runner), what="the first connect")
        runner.flush()
        last_look = now()
        flaky.down.set()
        wait_for(lambda: not connected(runner), what="the loss to be noticed")
        lost_at = now()
        # Meanwhile the hypervisor carries on: one VM goes, unseen.
        dom = conn.lookupByName("gone-1")
        dom.destroy()
        dom.undefine()
        time.sleep(0.5)
        flaky.down.clear()
        wait_for(lambda: connected(runner), what="the reconnect")
        runner.flush()
        back = now()
    finally:
        st = runner.stop()
    src = st.sources[0]
    print(
        f"\nlibvirt: loss noticed in {(lost_at - last_look).total_seconds():.2f} s, "
        f"{src.connects} connects, {src.disconnects} disconnect marks, last error: {src.last_error}"
    )
    assert src.connects == 2 and "harness" in (src.last_error or "")
    vm_gone = f"vm:{doomed.uuid}"
    its = {vm_gone, f"nic:{doomed.uuid}/{doomed.mac}", f"port:hv-x/{doomed.target}"}
    assert false_vanishings(store, its) == []
    last = state.history(store, vm_gone).versions[-1]
    assert last.vanished_after is not None and last.valid_to is not None
    assert last.vanished_after <= lost_at and lost_at < last.valid_to <= back
    conn.close()
    store.close()


OVS_TOOLS = ("ovsdb-server", "ovsdb-tool", "ovs-vsctl")
SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


@pytest.fixture
def ovs_dir() -> Iterator[Path]:
    missing = [
        t for t in OVS_TOOLS if shutil.which(t) is None and not Path("/usr/sbin", t).exists()
    ]
    if missing or not SCHEMA.exists():
        pytest.skip(f"Open vSwitch is not installed ({', '.join(missing) or SCHEMA})")
    # Under /tmp, not tmp_path: a unix socket path must stay under 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="vtloss-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start_ovsdb(d: Path) -> subprocess.Popen[bytes]:
    sock = d / "db.sock"
    sock.unlink(missing_ok=True)
    env = {**os.environ, "OVS_RUNDIR": str(d), "OVS_LOGDIR": str(d), "OVS_DBDIR": str(d)}
    p = subprocess.Popen(
        ["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{sock}",
         f"--unixctl={d / 'ovsdb.ctl'}", "--no-chdir", "-vconsole:off",
         f"--log-file={d / 'ovsdb.log'}"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(sock.exists, 5, "ovsdb-server's socket")
    return p


def vsctl(d: Path, *args: str) -> None:
    subprocess.run(
        ["ovs-vsctl", f"--db=unix:{d / 'db.sock'}", "--no-wait", "--timeout=5", *args],
        check=True,
        capture_output=True,
    )


def test_ovsdb_killed_and_restarted_on_older_state(ovs_dir: Path, tmp_path: Path) -> None:
    d = ovs_dir
    subprocess.run(["ovsdb-tool", "create", str(d / "conf.db"), str(SCHEMA)], check=True)
    server = start_ovsdb(d)
    try:
        vsctl(d, "init")
        vsctl(d, "add-br", "br-stay")
        server.send_signal(signal.SIGTERM)
        server.wait(5)
        shutil.copy(d / "conf.db", d / "older.db")  # the state before br-doomed
        server = start_ovsdb(d)
        vsctl(d, "add-br", "br-doomed")

        store = SqliteStore(tmp_path / "ovs-loss.db")
        runner = Runner(store, [ovs_source(f"ovs+unix:{d / 'db.sock'}@hv-ovs")], **FAST)
        runner.start()
        try:
            wait_for(lambda: connected(runner), what="the first connect")
            runner.flush()
            assert state.where(store, "bridge:hv-ovs/br-doomed", now()).alive
            server.kill()  # a crash
            server.wait(5)
            wait_for(lambda: not connected(runner), what="the loss to be noticed")
            lost_at = now()
            shutil.copy(d / "older.db", d / "conf.db")
            server = start_ovsdb(d)
            wait_for(lambda: connected(runner), what="the reconnect")
            runner.flush()
            back = now()
        finally:
            st = runner.stop()
    finally:
        server.kill()
        server.wait(5)
    src = st.sources[0]
    print(f"\novsdb: {src.connects} connects, last error: {src.last_error}")
    assert src.connects == 2
    doomed = {"bridge:hv-ovs/br-doomed", "port:hv-ovs/br-doomed"}
    assert false_vanishings(store, doomed) == []
    last = state.history(store, "bridge:hv-ovs/br-doomed").versions[-1]
    assert last.vanished_after is not None and last.valid_to is not None
    assert last.vanished_after <= lost_at < last.valid_to <= back
    store.close()
