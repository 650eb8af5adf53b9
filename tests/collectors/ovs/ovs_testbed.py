"""Private Open vSwitch daemons for the tests, and the reference fabric.

Never the system's own OVS: every daemon here gets its own database file,
socket, control socket and run directory under a fresh temp dir, and
ovs-vswitchd runs in a network namespace of its own (`unshare --net`), so the
tap devices it creates never show up in the host's namespace where other
collectors' tests look.

Why the userspace datapath: this host has no openvswitch kernel module
(`modprobe openvswitch` → "Module openvswitch not found in directory
/lib/modules/..."), so bridges here use `datapath_type=netdev` and
ovs-vswitchd runs with `--disable-system`. That still gives real ofports,
link states and packet counters.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((str(p) for d in ("/usr/sbin", "/usr/bin") if (p := Path(d, name)).exists()), None)


OVSDB_SERVER = _tool("ovsdb-server")
OVSDB_TOOL = _tool("ovsdb-tool")
OVS_VSCTL = _tool("ovs-vsctl")
OVS_VSWITCHD = _tool("ovs-vswitchd")


def ovsdb_unavailable() -> str | None:
    missing = [
        n
        for n, p in (
            ("ovsdb-server", OVSDB_SERVER),
            ("ovsdb-tool", OVSDB_TOOL),
            ("ovs-vsctl", OVS_VSCTL),
        )
        if p is None
    ]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt install openvswitch-switch)"
    if not SCHEMA.exists():
        return f"no Open vSwitch schema at {SCHEMA}"
    return None


def vswitchd_unavailable() -> str | None:
    if OVS_VSWITCHD is None:
        return "ovs-vswitchd is not installed"
    if os.geteuid() != 0:
        return "ovs-vswitchd needs root (a private network namespace and /dev/net/tun)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun for the userspace datapath's tap devices"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode:
        return f"cannot create a network namespace: {probe.stderr.decode().strip()}"
    return None


def env(run_dir: Path) -> dict[str, str]:
    # Keeps pid files, control sockets and logs of our daemons away from
    # /run/openvswitch, where a real switch may live.
    d = str(run_dir)
    return {**os.environ, "OVS_RUNDIR": d, "OVS_LOGDIR": d, "OVS_DBDIR": d}


def wait_for(pred: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class PrivateOvsdb:
    dir: Path
    sock: Path
    proc: subprocess.Popen[bytes]

    def vsctl(self, *args: str, wait: bool = False) -> str:
        """Run ovs-vsctl on this db; `wait=True` waits for ovs-vswitchd to apply it."""
        assert OVS_VSCTL is not None
        cmd = [OVS_VSCTL, f"--db=unix:{self.sock}", "--timeout=10"]
        if not wait:
            cmd.append("--no-wait")
        r = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, env=env(self.dir), check=False
        )
        if r.returncode:
            raise AssertionError(f"ovs-vsctl {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def kill(self) -> None:
        """Kill the server outright, as a crash would."""
        self.proc.kill()
        self.proc.wait()


def start_ovsdb(run_dir: Path) -> PrivateOvsdb:
    assert OVSDB_SERVER and OVSDB_TOOL
    db, sock = run_dir / "conf.db", run_dir / "db.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), str(SCHEMA)], check=True)
    proc = subprocess.Popen(
        [
            OVSDB_SERVER,
            str(db),
            f"--remote=punix:{sock}",
            f"--unixctl={run_dir / 'ovsdb.ctl'}",
            "--no-chdir",
            "-vconsole:off",
            f"--log-file={run_dir / 'ovsdb.log'}",
        ],
        env=env(run_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivateOvsdb(run_dir, sock, proc)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, 5, "the ovsdb-server socket")
        if proc.poll() is not None:
            raise AssertionError(f"ovsdb-server exited with {proc.returncode}")
        server.vsctl("init")
    except BaseException:
        stop(proc)
        raise
    return server


@dataclass
class PrivateVswitchd:
    proc: subprocess.Popen[bytes]

    def netns(self, *cmd: str, check: bool = True) -> str:
        """Run a command inside ovs-vswitchd's private network namespace."""
        r = subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-n", *cmd],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and r.returncode:
            raise AssertionError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        return r.stdout


def start_vswitchd(ovsdb: PrivateOvsdb) -> PrivateVswitchd:
    assert OVS_VSWITCHD is not None
    d = ovsdb.dir
    # unshare execs ovs-vswitchd in place, so proc.pid is the daemon itself.
    proc = subprocess.Popen(
        [
            "unshare",
            "--net",
            "--",
            OVS_VSWITCHD,
            f"unix:{ovsdb.sock}",
            "--disable-system",
            f"--unixctl={d / 'vswitchd.ctl'}",
            "-vconsole:off",
            f"--log-file={d / 'vswitchd.log'}",
        ],
        env=env(d),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (d / "vswitchd.ctl").exists() or proc.poll() is not None, 10, "ovs-vswitchd"
        )
        if proc.poll() is None:
            # Without --no-wait, ovs-vsctl returns once ovs-vswitchd applied the change.
            ovsdb.vsctl("set", "Open_vSwitch", ".", "external_ids:vtrail-test=1", wait=True)
        if proc.poll() is not None:
            log = (d / "vswitchd.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"ovs-vswitchd exited with {proc.returncode}:\n{log}")
    except BaseException:
        stop(proc)
        raise
    return PrivateVswitchd(proc)


# --- the reference fabric recorded under tests/data/ovs/ ---------------------

#: A compute node wired the way OpenStack (os-vif) and libvirt wire one.
VM_A = "0aa2d71e-9b41-4c88-9038-e4d042b6502a"
VM_B = "6695eb01-f6a4-8304-79aa-97f2502e193f"
PORT_A = "5b4345ea-d5ea-4285-be99-0e4cadf1600a"
MAC_A = "fa:16:3e:50:1b:5b"
MAC_B = "52:54:00:44:F2:DC"


def build_reference_fabric(ovsdb: PrivateOvsdb, vswitchd: PrivateVswitchd) -> None:
    """br-int (VM taps, a missing tap, patches), br-tun (patch, vxlan, gre), br-ex (bond)."""
    for tap in ("tap5b4345ea-d5", "vnet0", "eth1", "eth2"):
        vswitchd.netns("ip", "tuntap", "add", tap, "mode", "tap")
    ovsdb.vsctl("set", "Open_vSwitch", ".", "external_ids:hostname=hv-rec")
    ovsdb.vsctl(
        *("add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev"),
        *("fail_mode=standalone", "external_ids:bridge-id=br-int"),
        *("--", "add-port", "br-int", "tap5b4345ea-d5", "tag=1"),
        *("--", "set", "Interface", "tap5b4345ea-d5", f"external_ids:attached-mac={MAC_A}"),
        f"external_ids:iface-id={PORT_A}",
        f"external_ids:vm-uuid={VM_A}",
        "external_ids:iface-status=active",
        *("--", "add-port", "br-int", "vnet0", "trunks=10,20", "vlan_mode=trunk"),
        *("--", "set", "Interface", "vnet0", f'external_ids:attached-mac="{MAC_B}"'),
        "external_ids:iface-id=d28a71c4-dea4-4c2f-b163-54527837ea2c",
        f"external_ids:vm-id={VM_B}",
        "external_ids:iface-status=active",
        *("--", "add-port", "br-int", "tapgone0"),
        *("--", "add-port", "br-int", "patch-tun"),
        *("--", "set", "Interface", "patch-tun", "type=patch", "options:peer=patch-int"),
        *("--", "add-port", "br-int", "patch-dangling"),
        *("--", "set", "Interface", "patch-dangling", "type=patch", "options:peer=nowhere"),
        wait=True,
    )
    ovsdb.vsctl(
        *("add-br", "br-tun", "--", "set", "Bridge", "br-tun", "datapath_type=netdev"),
        *("--", "add-port", "br-tun", "patch-int"),
        *("--", "set", "Interface", "patch-int", "type=patch", "options:peer=patch-tun"),
        *("--", "add-port", "br-tun", "vxlan-0a000002"),
        *("--", "set", "Interface", "vxlan-0a000002", "type=vxlan"),
        *("options:remote_ip=10.0.0.2", "options:local_ip=10.0.0.1", "options:key=flow"),
        *("--", "add-port", "br-tun", "gre-0a000003"),
        *("--", "set", "Interface", "gre-0a000003", "type=gre"),
        *("options:remote_ip=10.0.0.3", "options:psk=swordfish"),
        wait=True,
    )
    ovsdb.vsctl(
        *("add-br", "br-ex", "--", "set", "Bridge", "br-ex", "datapath_type=netdev"),
        *("--", "add-bond", "br-ex", "bond0", "eth1", "eth2", "bond_mode=active-backup"),
        wait=True,
    )
