"""Router hops after a move, for a plan's `max-hops` rules: the fabric at the plan's
instant with each moved VM's NICs plugged in on its new host.

A moved VM keeps its NICs' networks by name: a NIC plugged (through its tap, or
directly) into the bridge named B on its old host is plugged into the bridge B of the
new host; one on the libvirt network named N (its `network`), into that host's network
N, through the network's bridge when one is recorded. Its addresses go with it. The
router hops between a rule's members are then counted by the path walk `vtrail check`
uses (triage/rules.py, query/path.py), over that view of the record.

A new host without that bridge or network is no place for the NIC: the VM would be cut
off, which breaks the rule (no path). A VM is not modelled, and the rule left unchecked
for it, when it has no NIC recorded, when a NIC of its is plugged into nothing named (a
macvtap `direct` NIC, a host device), or holds an address its old host's network
leased (on the new host another network would lease it another).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from vtrail.ids import bridge_id, lease_space, libvirt_net_id, parse_ip
from vtrail.model import InvalidId, split_id
from vtrail.query.walk import Walk
from vtrail.store import Store
from vtrail.store.reads.graph import EdgeRow
from vtrail.timeexpr import from_us
from vtrail.triage.fabric import Fabric
from vtrail.triage.rules import Hops

PLUGGED = "plugged_into"


class _Moved(Walk):
    """The recorded fabric at an instant with some NICs plugged in elsewhere."""

    def __init__(self, store: Store, t: int, plugs: Mapping[str, str]) -> None:
        super().__init__(store, t)
        self.plugs = plugs

    def edges(self, eids: list[str]) -> dict[str, list[EdgeRow]]:
        out = {}
        for e, rows in super().edges(eids).items():
            kept = [r for r in rows if not (r.rel == PLUGGED and r.src in self.plugs)]
            kept += [EdgeRow(n, PLUGGED, x, "") for n, x in self.plugs.items() if e in (n, x)]
            out[e] = kept
        return out


class Unmodelled(Exception):
    """Why a VM's place after a move is not known well enough to count hops."""


def _name(eid: str) -> str:
    return split_id(eid)[1]


def _exists(w: Walk, eid: str) -> bool:
    """Recorded at the instant: as an entity, or at the end of a relation (libvirt names
    bridges in relations only)."""
    return w.alive(eid) or bool(w.edges([eid])[eid])


def plugs(w: Walk, vm: str, old: str, new: str) -> dict[str, str] | str:
    """Where each NIC of `vm` plugs in on host `new`, by its network's or bridge's name on
    `old`; a line saying what `new` lacks; `Unmodelled` when that cannot be said."""
    was, now = _name(old), _name(new)
    out: dict[str, str] = {}
    nics = w.out(vm, "has_nic")
    if not nics:
        raise Unmodelled("no NIC of it is recorded")
    for nic in nics:
        network = w.attrs(nic).get("network")
        for ip in w.out(nic, "has_address"):
            with suppress(InvalidId):
                if isinstance(network, str) and parse_ip(ip).space == lease_space(was, network):
                    raise Unmodelled(
                        f"its address {parse_ip(ip).address} was leased by {network} on {was}"
                    )
        if isinstance(network, str) and network:
            net = libvirt_net_id(now, network)
            if not w.alive(net):
                return f"{now} has no network {network}"
            bridge = w.attrs(net).get("bridge")
            through = bridge_id(now, bridge) if isinstance(bridge, str) and bridge else None
            out[nic] = through if through and _exists(w, through) else net
            continue
        bridges = set()
        for there in w.out(nic, PLUGGED):
            for b in [there] if split_id(there)[0] == "bridge" else w.out(there, "port_of"):
                where, _, bname = _name(b).rpartition("/")
                if where == was:
                    bridges.add(bname)
        if len(bridges) != 1:
            raise Unmodelled(f"its NIC {w.attrs(nic).get('mac') or nic} is on no bridge by name")
        (bname,) = bridges
        target = bridge_id(now, bname)
        if not _exists(w, target):
            return f"{now} has no bridge {bname}"
        out[nic] = target
    return out


class MovedHops(Hops):
    """Router hops between two VMs where the plan has put them: the recorded answer while
    neither moved, else the walk over the fabric with the moved VMs' NICs plugged in on
    their new hosts. `home` is where each VM ran when the plan began."""

    def __init__(self, store: Store, fabric: Fabric, home: Mapping[str, str | None]) -> None:
        super().__init__(store)
        self.fabric, self.home = fabric, home
        self.moved_kept: dict[
            tuple[str, str, tuple[tuple[str, str], ...]], tuple[int | None, str]
        ] = {}

    def unmodelled(self, vm: str, t: int) -> str | None:
        """Why `vm` cannot be followed to another host; None when it can."""
        home = self.home.get(vm)
        if home is None:
            return None
        try:
            plugs(Walk(self.store, t), vm, home, home)
        except Unmodelled as e:
            return str(e)
        return None

    def between(self, a: str, b: str, t: int) -> tuple[int | None, str]:
        moved = tuple(
            (x, h)
            for x in (a, b)
            if (h := self.fabric.host(x)) is not None and self.home.get(x) not in (None, h)
        )
        if not moved:
            return super().between(a, b, t)
        key = (a, b, moved)
        found = self.moved_kept.get(key)
        if found is None:
            found = self.moved_kept[key] = self._moved(a, b, moved, t)
        return found

    def _moved(
        self, a: str, b: str, moved: tuple[tuple[str, str], ...], t: int
    ) -> tuple[int | None, str]:
        base = Walk(self.store, t)
        plugged: dict[str, str] = {}
        for vm, host in moved:
            home = self.home[vm]
            assert home is not None
            try:
                found = plugs(base, vm, home, host)
            except Unmodelled:
                return super().between(a, b, t)  # not judged: the recorded answer stands
            if isinstance(found, str):
                return None, found
            plugged |= found
        return self._walk(a, b, from_us(t), _Moved(self.store, t, plugged))
