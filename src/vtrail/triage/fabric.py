"""Where each entity ran and was plugged in, kept current as the changes of a window apply.

Placement is read as `query.state.where` reads it: a VM runs where its
`runs_on` points; it is plugged into the bridges its NICs are plugged into
(directly, or through a port that is `port_of` one) and into the libvirt
networks its NICs are plugged into or name (`network`, on the VM's host).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vtrail.ids import libvirt_net_id
from vtrail.model import JSONValue, split_id
from vtrail.policy.model import Domain
from vtrail.store.reads.triage import RelationRow, VersionRow

#: The relation a placement is read from, and those that say what a VM is plugged into.
RUNS_ON = "runs_on"
PLUGS = ("has_nic", "plugged_into", "port_of")


_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Place:
    host: str | None
    bridges: frozenset[str]
    networks: frozenset[str]


def _names(eid: str) -> set[str]:
    """What a policy may call a host, bridge or network: its id, its key (`hv-a`,
    `hv-a/br-web`, `default@hv-a`) or its bare name (`br-web`, `default`)."""
    key = split_id(eid)[1]
    return {eid, key, key.rsplit("/", 1)[-1], key.split("@", 1)[0]}


class DomainIndex:
    """Which domains hold a place."""

    def __init__(self, domains: Mapping[str, Domain]) -> None:
        self.order = sorted(domains)
        self.domains = {n: domains[n] for n in self.order}
        self.hosts = {n: set(d.hosts) for n, d in self.domains.items()}
        self.bridges = {n: set(d.bridges) for n, d in self.domains.items()}
        self.networks = {n: set(d.networks) for n, d in self.domains.items()}
        # Members share few places: a fleet of thousands runs on a few hundred hosts.
        self._kept: dict[Place, frozenset[str]] = {}

    def of(self, place: Place) -> frozenset[str]:
        found = self._kept.get(place)
        if found is None:
            found = self._kept[place] = self._of(place)
        return found

    def _of(self, place: Place) -> frozenset[str]:
        host = _names(place.host) if place.host else set()
        bridges = set().union(*map(_names, place.bridges))
        nets = set().union(*map(_names, place.networks))
        return frozenset(
            n
            for n in self.order
            if host & self.hosts[n] or bridges & self.bridges[n] or nets & self.networks[n]
        )


class Fabric:
    """The versions and placement relations in force at the walk's current instant."""

    def __init__(self) -> None:
        self.attrs: dict[str, Mapping[str, JSONValue]] = {}
        self.kind: dict[str, str] = {}
        #: When each entity's version in force began: an end is matched to its begin by it.
        self.since: dict[str, int] = {}
        self.out: dict[tuple[str, str], set[str]] = {}
        self.into: dict[tuple[str, str], set[str]] = {}

    # -- changes ------------------------------------------------------------------

    def begin_version(self, r: VersionRow) -> None:
        self.attrs[r.eid] = r.attrs
        self.kind[r.eid] = r.kind
        self.since[r.eid] = r.valid_from

    def end_version(self, r: VersionRow) -> None:
        # By its start, not by identity: a walk that goes on from where an earlier one
        # stopped reads the end of a version as a row of its own.
        if self.since.get(r.eid) == r.valid_from:
            del self.attrs[r.eid], self.since[r.eid]

    def begin_relation(self, r: RelationRow) -> None:
        self.out.setdefault((r.src, r.rel), set()).add(r.dst)
        self.into.setdefault((r.dst, r.rel), set()).add(r.src)

    def end_relation(self, r: RelationRow) -> None:
        for index, a, b in ((self.out, r.src, r.dst), (self.into, r.dst, r.src)):
            found = index.get((a, r.rel))
            if found is not None:
                found.discard(b)
                if not found:
                    del index[(a, r.rel)]

    def change_version(self, r: VersionRow, ending: bool) -> None:
        (self.end_version if ending else self.begin_version)(r)

    def change_relation(self, r: RelationRow, ending: bool) -> tuple[str, ...]:
        """Apply `r` beginning or ending; the entities whose placement it may move,
        read while the relation holds."""
        if ending:
            moved = tuple(self.owners(r))
            self.end_relation(r)
            return moved
        self.begin_relation(r)
        return tuple(self.owners(r))

    # -- reading ------------------------------------------------------------------

    def alive(self, eid: str) -> bool:
        return eid in self.attrs

    def host(self, eid: str) -> str | None:
        if split_id(eid)[0] == "host":
            return eid
        hosts = self.out.get((eid, RUNS_ON))
        return min(hosts) if hosts else None

    def place(self, eid: str, plugs: bool = True) -> Place:
        """Where `eid` runs and, with `plugs`, what its NICs are plugged into."""
        host = self.host(eid)
        if not plugs:
            return Place(host, _EMPTY, _EMPTY)
        bridges: set[str] = set()
        nets: set[str] = set()
        for nic in self.out.get((eid, "has_nic"), ()):
            network = self.attrs.get(nic, {}).get("network")
            if isinstance(network, str) and network and host is not None:
                nets.add(libvirt_net_id(split_id(host)[1], network))
            for there in self.out.get((nic, "plugged_into"), ()):
                kind = split_id(there)[0]
                if kind == "bridge":
                    bridges.add(there)
                elif kind == "net":
                    nets.add(there)
                else:
                    bridges.update(self.out.get((there, "port_of"), ()))
        return Place(host, frozenset(bridges), frozenset(nets))

    def owners(self, r: RelationRow) -> Iterable[str]:
        """The entities whose placement a change of `r` may move."""
        if r.rel in (RUNS_ON, "has_nic"):
            return (r.src,)
        if r.rel == "plugged_into":
            return tuple(self.into.get((r.src, "has_nic"), ()))
        nics = self.into.get((r.src, "plugged_into"), ())
        return tuple(vm for nic in nics for vm in self.into.get((nic, "has_nic"), ()))

    def nic_owners(self, eid: str) -> Iterable[str]:
        """The VMs of a NIC (whose `network` attribute places them)."""
        return tuple(self.into.get((eid, "has_nic"), ()))

    def name(self, eid: str) -> str:
        """How a reason names an entity: its `name` attribute, else its key."""
        name = self.attrs.get(eid, {}).get("name")
        if isinstance(name, str) and name:
            return name
        return split_id(eid)[1]
