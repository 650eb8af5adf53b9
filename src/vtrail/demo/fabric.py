"""A real little fabric on this machine, and taking all of it down again.

Always: three libvirt test-driver hosts (`hv-a`, `hv-b`, `hv-c`), each a host
XML file in a private work directory, opened read-write by the demo. The test
driver keeps each `test:///file.xml` connection a private world, so the churn
and the collectors must share one connection per host (`SharedConn`).

As root, also: network namespaces as hosts (`h1`, `h2`, `h3`), a switch
namespace (`sw`) with two Linux bridges and veth ports, a router namespace
(`rt`) forwarding between the bridges, and, when Open vSwitch is installed, a
private ovsdb-server and ovs-vswitchd (userspace datapath, inside `sw`) with
one bridge. Traffic never leaves these namespaces: 10.77.0.0/16 only exists
inside them.

Every name carries a per-run tag (`vt3fa9-sw`), so that two runs (a test and
a demo) never collide. What a run made is written to `fabric.json` in its
work directory; a later run removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt

from vtrail.collectors.libraries import MissingLibrary, require
from vtrail.collectors.libvirt.subscribe import ensure_event_loop
from vtrail.recording.runner import SourceGroup, SourceSpec
from vtrail.recording.sources import libvirt_source, netlink_source, ovs_source

log = logging.getLogger(__name__)

HOSTS = ("hv-a", "hv-b", "hv-c")
WORK_PREFIX = "vtrail-demo-"
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


class FabricError(RuntimeError):
    """Building the fabric failed; the message says which step and why."""


def is_root() -> bool:
    return os.geteuid() == 0


def sh(*cmd: str, check: bool = True) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and r.returncode:
        raise FabricError(f"`{' '.join(cmd)}` failed: {r.stderr.strip() or r.returncode}")
    return r.stdout


# -- names ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Names:
    """Namespace names of one run: `vt<tag>-<role>`, at most 9 characters."""

    tag: str

    def ns(self, role: str) -> str:
        return f"vt{self.tag}-{role}"

    @property
    def sw(self) -> str:
        return self.ns("sw")

    @property
    def rt(self) -> str:
        return self.ns("rt")

    @property
    def hosts(self) -> tuple[str, str, str]:
        return (self.ns("h1"), self.ns("h2"), self.ns("h3"))

    @property
    def ovs_host(self) -> str:
        # Not `sw`: netlink already names the switch's links `port:<sw>/...`, and two
        # sources describing one id with different attributes would make it flap.
        return self.ns("ovs")

    def all_namespaces(self) -> tuple[str, ...]:
        return (self.sw, self.rt, *self.hosts)


# -- libvirt ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vm:
    name: str
    uuid: str
    mac: str
    #: The tap on its host. Not `vnet…`: libvirt throws those names away as its own,
    #: and the test driver would then call every VM's tap testnet0.
    target: str
    bridge: str = "vtbr0"


def vm(name: str, n: int) -> Vm:
    return Vm(
        name,
        f"7a1e0000-0000-4000-8000-{n:012x}",
        f"52:54:00:7a:00:{n:02x}",
        f"vttap{n}",
    )


def domain_xml(v: Vm) -> str:
    return (
        f"<domain type='test'><name>{v.name}</name><uuid>{v.uuid}</uuid>"
        "<memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
        f"<devices><interface type='bridge'><mac address='{v.mac}'/>"
        f"<source bridge='{v.bridge}'/><target dev='{v.target}'/><model type='virtio'/>"
        "</interface></devices></domain>"
    )


def host_xml(vms: list[Vm]) -> str:
    """A test-driver host file; domains listed here are running when it opens."""
    return "<node>\n" + "\n".join(domain_xml(v) for v in vms) + "\n</node>\n"


class SharedConn:
    """The demo's own connection handed to a collector, which must not close it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def close(self) -> int:
        return 0


@dataclass
class LibvirtHost:
    name: str
    uri: str
    conn: Any

    @property
    def source_uri(self) -> str:
        return f"libvirt+{self.uri}@{self.name}"

    def spec(self) -> SourceSpec:
        shared = SharedConn(self.conn)
        return libvirt_source(self.source_uri, open_conn=lambda _uri: shared)


# -- the fabric -------------------------------------------------------------------------


@dataclass
class Fabric:
    names: Names
    workdir: Path
    hosts: dict[str, LibvirtHost]
    network: bool = False
    ovs_sock: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def sources(self) -> list[SourceSpec | SourceGroup]:
        out: list[SourceSpec | SourceGroup] = [h.spec() for h in self.hosts.values()]
        # One fleet per namespace of ours: the machine's other namespaces are not the demo's.
        out += [netlink_source(f"netlink:{ns}") for ns in self.namespaces]
        if self.ovs_sock is not None:
            out.append(ovs_source(f"ovs+unix:{self.ovs_sock}@{self.names.ovs_host}"))
        return out

    def ns(self, namespace: str, *cmd: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", namespace, *cmd, check=check)

    def ip(self, namespace: str, *args: str) -> str:
        return sh("ip", "-n", namespace, *args)

    def vsctl(self, *args: str) -> str:
        assert self.ovs_sock is not None
        return sh("ovs-vsctl", f"--db=unix:{self.ovs_sock}", "--timeout=10", *args)

    def save(self) -> None:
        """What to remove if this process dies without cleaning up."""
        state = {
            "pid": os.getpid(),
            "namespaces": self.namespaces,
            "procs": [p.pid for p in self.procs],
        }
        (self.workdir / "fabric.json").write_text(json.dumps(state))

    def dismantle(self) -> list[str]:
        """Take down the network part, while recording goes on: its end is history too.

        The OVS bridge is deleted before its daemons stop, so that it is recorded
        as ended rather than as last seen before a disconnect.
        """
        problems: list[str] = []
        if self.ovs_sock is not None:
            with contextlib.suppress(FabricError):
                self.vsctl("--if-exists", "del-br", "vtovs0")
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        for ns in self.namespaces:
            r = subprocess.run(
                ["ip", "netns", "del", ns], capture_output=True, text=True, check=False
            )
            if r.returncode and ns in list_netns():
                problems.append(f"namespace {ns}: {r.stderr.strip()}")
        self.namespaces.clear()
        return problems

    def close(self) -> None:
        """Close the libvirt hosts and remove the work directory (after recording)."""
        for h in self.hosts.values():
            with contextlib.suppress(libvirt.libvirtError):
                h.conn.close()
        self.hosts.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def teardown(self) -> list[str]:
        """Remove everything this fabric made; return what could not be removed."""
        problems = self.dismantle()
        self.close()
        return problems


def list_netns() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list", check=False).splitlines() if line]


def ovs_available() -> str | None:
    """None if a private Open vSwitch can run here, else why not."""
    try:
        require("ovs")
    except MissingLibrary as e:
        return str(e)
    for tool in ("ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-vswitchd"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed"
    if not OVS_SCHEMA.exists():
        return f"no Open vSwitch schema at {OVS_SCHEMA}"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun for the userspace datapath"
    return None


def remove_leftovers() -> list[str]:
    """Remove what earlier runs that were killed left behind; return what was removed."""
    removed = []
    for d in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        try:
            state = json.loads((d / "fabric.json").read_text())
            pid = int(state["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            continue
        for p in state.get("procs", []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(p), signal.SIGTERM)
        for ns in state.get("namespaces", []):
            if ns in list_netns():
                sh("ip", "netns", "del", ns, check=False)
                removed.append(ns)
        shutil.rmtree(d, ignore_errors=True)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(
    initial: dict[str, list[Vm]], *, network: bool | None = None, ovs: bool | None = None
) -> Fabric:
    """Build the fabric; on any failure, tear down what was built and raise `FabricError`."""
    names = Names(secrets.token_hex(2))
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{names.tag}-"))
    fab = Fabric(names, workdir, {})
    try:
        fab.save()
        _libvirt_hosts(fab, initial)
        if network if network is not None else is_root():
            _network(fab)
            if ovs if ovs is not None else ovs_available() is None:
                _ovs(fab)
    except BaseException:
        fab.teardown()
        raise
    return fab


def _libvirt_hosts(fab: Fabric, initial: dict[str, list[Vm]]) -> None:
    # The event loop must exist before the connections, or they never deliver events.
    ensure_event_loop()
    for name in HOSTS:
        path = fab.workdir / f"{name}.xml"
        path.write_text(host_xml(initial.get(name, [])))
        uri = f"test://{path}"
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as e:
            raise FabricError(f"cannot open libvirt {uri}: {e}") from e
        fab.hosts[name] = LibvirtHost(name, uri, conn)


#: (namespace role, switch-side port, bridge, address) of each namespace host's leg.
LEGS = (
    ("h1", "vtp-h1", "vtbr0", "10.77.1.11/24", "10.77.1.1"),
    ("h2", "vtp-h2", "vtbr0", "10.77.1.12/24", "10.77.1.1"),
    ("h3", "vtp-h3", "vtbr1", "10.77.2.13/24", "10.77.2.1"),
)


def _network(fab: Fabric) -> None:
    n = fab.names
    fab.network = True
    for ns in n.all_namespaces():
        sh("ip", "netns", "add", ns)
        fab.namespaces.append(ns)
        fab.save()
        fab.ip(ns, "link", "set", "lo", "up")
    for br in ("vtbr0", "vtbr1"):
        fab.ip(n.sw, "link", "add", br, "type", "bridge")
        fab.ip(n.sw, "link", "set", br, "up")
    for role, port, br, addr, gw in LEGS:
        ns = n.ns(role)
        plug(fab, n.sw, port, ns, "eth0", br)
        fab.ip(ns, "addr", "add", addr, "dev", "eth0")
        fab.ip(ns, "route", "add", "default", "via", gw)
    # The router: one leg in each bridge, forwarding between them.
    for i, (br, addr) in enumerate((("vtbr0", "10.77.1.1/24"), ("vtbr1", "10.77.2.1/24"))):
        plug(fab, n.sw, f"vtp-r{i}", n.rt, f"vtr{i}", br)
        fab.ip(n.rt, "addr", "add", addr, "dev", f"vtr{i}")
    fab.ns(n.rt, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    fab.ip(n.rt, "route", "add", "10.77.50.0/24", "via", "10.77.1.11")
    # A slow steady ping across the router, so that its counters move all along.
    fab.procs.append(_daemon(["ip", "netns", "exec", n.ns("h1"), "ping", "-q", "10.77.2.13"]))
    fab.save()


def plug(fab: Fabric, sw: str, port: str, ns: str, ifname: str, bridge: str | None) -> None:
    """A veth from `port` in the switch namespace to `ifname` in `ns`, both up."""
    sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
    if bridge is not None:
        fab.ip(sw, "link", "set", port, "master", bridge)
    fab.ip(sw, "link", "set", port, "up")
    fab.ip(ns, "link", "set", ifname, "up")


def _ovs(fab: Fabric) -> None:
    """A private ovsdb-server and ovs-vswitchd (userspace datapath) inside the switch.

    Userspace, because this kind of machine often has no openvswitch kernel
    module; it still gives real ports, link states and counters.
    """
    d = fab.workdir / "ovs"
    d.mkdir()
    # Keeps pid files, control sockets and logs away from a real switch's /run/openvswitch.
    env = {**os.environ, "OVS_RUNDIR": str(d), "OVS_LOGDIR": str(d), "OVS_DBDIR": str(d)}
    sock = d / "db.sock"
    sh("ovsdb-tool", "create", str(d / "conf.db"), str(OVS_SCHEMA))
    fab.procs.append(
        _daemon(
            ["ovsdb-server", str(d / "conf.db"), f"--remote=punix:{sock}",
             f"--unixctl={d / 'ovsdb.ctl'}", "--no-chdir", "-vconsole:off",
             f"--log-file={d / 'ovsdb.log'}"],
            env,
        )
    )  # fmt: skip
    fab.save()
    _wait(sock.exists, 5, "ovsdb-server's socket")
    fab.ovs_sock = sock
    fab.vsctl("--no-wait", "init")
    fab.vsctl(
        "--no-wait", "set", "Open_vSwitch", ".", f"external_ids:hostname={fab.names.ovs_host}"
    )
    fab.procs.append(
        _daemon(
            ["ip", "netns", "exec", fab.names.sw, "ovs-vswitchd", f"unix:{sock}",
             "--disable-system", f"--unixctl={d / 'vswitchd.ctl'}", "-vconsole:off",
             f"--log-file={d / 'vswitchd.log'}"],
            env,
        )
    )  # fmt: skip
    fab.save()
    _wait((d / "vswitchd.ctl").exists, 10, "ovs-vswitchd")
    fab.vsctl("add-br", "vtovs0", "--", "set", "Bridge", "vtovs0", "datapath_type=netdev")
    plug(fab, fab.names.sw, "vtov-h3", fab.names.ns("h3"), "ovs0", None)
    fab.vsctl("add-port", "vtovs0", "vtov-h3")


def _daemon(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise FabricError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
