"""The scripted story the demo records, with its ground truth.

Every step returns a `Change` stamped just before it was made (`at`) and when
the call returned (`done`), so that a test can hold the record against the
truth. The libvirt steps always run; the network steps only when the fabric
has namespaces (root), the OVS step only when it has Open vSwitch.

A migration between test-driver hosts is the same UUID arriving on one
connection (define + start) before it leaves the other (destroy + undefine),
the order of a live migration: the VM never stops existing.

As root, the story has an incident: h2's port is replugged into the wrong
bridge (`incident`), which cuts the path of the probes from h1 to h2 (the
`files` service of the policy), and put back a few steps later (`repair`).
Decoys surround it: a route changed in the same instant on the router, away
from that path; a migration of a VM (db-1) and a VM that lives for an
instant (batch-2) just before it.

The story breaks two rules of the fabric's policy (`vtrail.demo.POLICY`):
`db-1` joins its twin `db-2` on hv-c for a good part of the story (db-apart),
and `batch-2` lives for half a snapshot interval on hv-a (batch-off-front),
between two snapshots, so that only the events see it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from vtrail.demo.fabric import Fabric, Vm, domain_xml, plug, vm
from vtrail.ids import bridge_id, port_id, vm_id

Action = Literal[
    "create", "start", "stop", "destroy", "migrate", "replug", "appear", "vanish", "route", "join"
]

#: The ghost bridge's burst: ICMP payload bytes, packets each way, and what one
#: packet is on the wire (payload + ICMP 8 + IPv4 20 + Ethernet 14).
GHOST_PAYLOAD = 1400
GHOST_PACKETS = 500
FRAME = GHOST_PAYLOAD + 8 + 20 + 14

#: VMs on each host when the story starts, the one it creates, and the one that lives
#: for an instant where the policy forbids it.
INITIAL: dict[str, list[Vm]] = {
    "hv-a": [vm("web-1", 1), vm("web-2", 2)],
    "hv-b": [vm("db-1", 3)],
    "hv-c": [vm("cache-1", 4), vm("batch-1", 5), vm("db-2", 7)],
}
NEW_VM = vm("api-1", 6)
STRAY_VM = vm("batch-2", 8)
VMS = (*(v for vs in INITIAL.values() for v in vs), NEW_VM, STRAY_VM)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Change:
    at: datetime
    done: datetime
    action: Action
    #: The entity the change is about, as vtrail names it.
    subject: str
    #: What a person calls it: "web-1", "vtp-h2".
    label: str
    #: Where it was / is: a host, bridge or next hop, depending on the action.
    before: str | None = None
    after: str | None = None

    def describe(self) -> str:
        if self.before and self.after:
            where = f"{self.before} → {self.after}"
        elif self.before or self.after:
            where = f"on {self.before or self.after}"
        else:
            where = ""
        return f"{self.action:<8} {self.label:<14} {where}".rstrip()


@dataclass(frozen=True, slots=True)
class GhostTraffic:
    """The short-lived bridge and what was sent through it (a lower bound: ARP not counted)."""

    bridge: str
    ports: tuple[str, ...]
    appeared: datetime
    vanished: datetime
    packets: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Story:
    started: datetime
    ended: datetime
    changes: tuple[Change, ...]
    ghost: GhostTraffic | None
    #: VM name → where vtrail should find it, for the tour and the tests.
    vms: dict[str, Vm] = field(default_factory=dict)


class Churn:
    """Play the story on `fabric`, one step every `pace` seconds.

    `stray` is how long `STRAY_VM` lives; `snapshot` is called just before it is
    born, to have every source take its snapshot then, so that it dies before the next.
    """

    def __init__(
        self,
        fabric: Fabric,
        pace: float,
        on_change: Callable[[Change], None] = lambda _c: None,
        stop: threading.Event | None = None,
        *,
        stray: float = 1.0,
        snapshot: Callable[[], None] = lambda: None,
    ) -> None:
        self.f = fabric
        self.pace = pace
        self.on_change = on_change
        self.stop = stop or threading.Event()
        self.stray = stray
        self.snapshot = snapshot
        self.changes: list[Change] = []
        self.ghost: GhostTraffic | None = None
        self.where: dict[str, str] = {v.name: h for h, vms in INITIAL.items() for v in vms}

    def steps(self) -> list[Callable[[], None]]:
        net = self.f.network
        out: list[Callable[[], None]] = [
            lambda: self.create(NEW_VM, "hv-b"),
            lambda: self.migrate("web-1", "hv-b"),
        ]
        if net:
            out += [self.ghost_appears, self.ghost_traffic_and_vanish]
        # db-1 spends from its move to hv-c until its move back beside db-2: db-apart.
        # The incident's decoys come just before it: a migration of a VM the path does not
        # cross, a ghost VM elsewhere, and a route changed in the same instant as the replug.
        out += [lambda: self.stop_vm("cache-1"), lambda: self.migrate("db-1", "hv-c")]
        out += [self.stray_vm]
        if net:
            out += [self.incident]
        out += [lambda: self.destroy("batch-1")]
        if self.f.ovs_sock is not None:
            out += [self.ovs_join]
        if net:
            out += [self.repair]
        out += [lambda: self.migrate("db-1", "hv-b"), lambda: self.start_vm("cache-1")]
        return out

    def run(self) -> Story:
        started = _now()
        for step in self.steps():
            if self.stop.wait(self.pace):
                break
            step()
        self.stop.wait(self.pace)
        vms = {v.name: v for v in VMS}
        return Story(started, _now(), tuple(self.changes), self.ghost, vms)

    def _record(self, c: Change) -> Change:
        c = replace(c, done=_now())
        self.changes.append(c)
        self.on_change(c)
        return c

    # -- libvirt ------------------------------------------------------------------------

    def _dom(self, name: str) -> tuple[str, Any]:
        host = self.where[name]
        return host, self.f.hosts[host].conn.lookupByName(name)

    def create(self, v: Vm, host: str) -> None:
        at = _now()
        self.f.hosts[host].conn.defineXML(domain_xml(v)).create()
        self.where[v.name] = host
        self._record(Change(at, at, "create", vm_id(v.uuid), v.name, None, host))

    def migrate(self, name: str, dst: str) -> None:
        src, dom = self._dom(name)
        v = _vm_of(dom)
        at = _now()
        self.f.hosts[dst].conn.defineXML(domain_xml(v)).create()
        dom.destroy()
        dom.undefine()
        self.where[name] = dst
        self._record(Change(at, at, "migrate", vm_id(v.uuid), name, src, dst))

    def stop_vm(self, name: str) -> None:
        host, dom = self._dom(name)
        at = _now()
        dom.destroy()
        uuid = dom.UUIDString()
        self._record(Change(at, at, "stop", vm_id(uuid), name, host, None))

    def start_vm(self, name: str) -> None:
        host, dom = self._dom(name)
        at = _now()
        dom.create()
        uuid = dom.UUIDString()
        self._record(Change(at, at, "start", vm_id(uuid), name, None, host))

    def destroy(self, name: str) -> None:
        host, dom = self._dom(name)
        uuid = dom.UUIDString()
        at = _now()
        dom.destroy()
        dom.undefine()
        del self.where[name]
        self._record(Change(at, at, "destroy", vm_id(uuid), name, host, None))

    def stray_vm(self) -> None:
        """A batch job started on hv-a, which batch-off-front forbids, and destroyed
        before the next snapshot: the events see it, a poller would not."""
        self.snapshot()
        self.create(STRAY_VM, "hv-a")
        self.stop.wait(self.stray)
        self.destroy(STRAY_VM.name)

    # -- the network (root) -----------------------------------------------------------------

    def ghost_appears(self) -> None:
        n, f = self.f.names, self.f
        at = _now()
        f.ip(n.sw, "link", "add", "vtghost", "type", "bridge")
        f.ip(n.sw, "link", "set", "vtghost", "up")
        for role, addr in (("h1", "10.77.9.1/24"), ("h3", "10.77.9.3/24")):
            plug(f, n.sw, f"vtg-{role}", n.ns(role), "vtg0", "vtghost")
            f.ip(n.ns(role), "addr", "add", addr, "dev", "vtg0")
        self._record(Change(at, at, "appear", bridge_id(n.sw, "vtghost"), "vtghost"))

    def ghost_traffic_and_vanish(self) -> None:
        """A burst of pings h1 → h3 through the ghost bridge, then the bridge goes."""
        n, f = self.f.names, self.f
        out = f.ns(
            n.ns("h1"), "ping", "-q", "-c", str(GHOST_PACKETS), "-i", "0.002",
            "-s", str(GHOST_PAYLOAD), "-W", "1", "10.77.9.3", check=False,
        )  # fmt: skip
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        self.stop.wait(min(self.pace / 2, 2.0))
        at = _now()
        for role in ("h1", "h3"):
            f.ip(n.sw, "link", "del", f"vtg-{role}")  # takes its peer in h1/h3 along
        f.ip(n.sw, "link", "del", "vtghost")
        c = self._record(Change(at, at, "vanish", bridge_id(n.sw, "vtghost"), "vtghost"))
        appeared = next(x.at for x in self.changes if x.action == "appear")
        self.ghost = GhostTraffic(
            c.subject,
            (port_id(n.sw, "vtg-h1"), port_id(n.sw, "vtg-h3")),
            appeared,
            c.at,
            sent + received,
            (sent + received) * FRAME,
        )

    def incident(self) -> None:
        """The route far from h1 → h2 changes, and at once h2's port goes to the wrong
        bridge: h1's probes of the `files` service lose everything until `repair`."""
        self.reroute()
        self.replug()

    def repair(self) -> None:
        """h2's port back in vtbr0: the path h1 → h2 is whole again."""
        self.replug("vtbr1", "vtbr0")

    def replug(self, src: str = "vtbr0", dst: str = "vtbr1") -> None:
        n = self.f.names
        at = _now()
        self.f.ip(n.sw, "link", "set", "vtp-h2", "master", dst)
        self._record(
            Change(
                at, at, "replug", port_id(n.sw, "vtp-h2"), "vtp-h2",
                bridge_id(n.sw, src), bridge_id(n.sw, dst),
            )
        )  # fmt: skip

    def reroute(self) -> None:
        n = self.f.names
        at = _now()
        self.f.ip(n.rt, "route", "replace", "10.77.50.0/24", "via", "10.77.2.13")
        # The route is recorded on the interface it leaves by: now vtr1, the leg in vtbr1.
        self._record(
            Change(
                at, at, "route", port_id(n.rt, "vtr1"), "10.77.50.0/24", "10.77.1.11", "10.77.2.13"
            )
        )

    def ovs_join(self) -> None:
        n, f = self.f.names, self.f
        at = _now()
        plug(f, n.sw, "vtov-h1", n.ns("h1"), "ovs0", None)
        f.vsctl("add-port", "vtovs0", "vtov-h1")
        self._record(
            Change(
                at, at, "join", port_id(n.ovs_host, "vtov-h1"), "vtov-h1",
                None, bridge_id(n.ovs_host, "vtovs0"),
            )
        )  # fmt: skip


def _vm_of(dom: Any) -> Vm:
    """The demo's own description of a running domain (it made them all)."""
    name = str(dom.name())
    for v in VMS:
        if v.name == name:
            return v
    raise LookupError(f"{name} is not one of the demo's VMs")
