"""The fleet at an instant as a planner sees it: each host's capacity and use, each VM's
size, owner and services, and the policy's rules, evaluated by triage's own rule code on
a placement that moves can change.

A VM is on a host while its `runs_on` relation to it is live (a VM shut off runs
nowhere and needs no moving). Sizes are the recorded `vcpus` and `memory_kib` of a VM,
and the `cpus` and `memory_mib` of a host, the latter times the policy's overcommit
ratios (`maintenance:`). Domains are judged by host: a VM that moves takes none of
its old host's bridges along, so a domain that names only bridges or networks holds
no moved VM. A `max-hops` rule is judged on the path a moved VM would have, its NICs
plugged into the bridges and networks of the same names on its new host
(maintenance/hops.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from vtrail.assetattrs import OWNER
from vtrail.ids import host_id, parse_asset
from vtrail.maintenance.hops import MovedHops
from vtrail.model import InvalidId, JSONValue, split_id
from vtrail.policy.model import RULE_KINDS, Policy, Rule
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.triage import RelationRow, TriageReader
from vtrail.timeexpr import iso, to_us
from vtrail.triage.fabric import RUNS_ON, DomainIndex, Fabric, Place
from vtrail.triage.members import Matcher, scope
from vtrail.triage.rules import EVALUATE, Breach, Context

#: Rules a move is checked against: every kind. `max-hops` is, for the VMs whose NICs can be
#: followed to another host (maintenance/hops.py); for the others it is left unchecked.
CHECKED = RULE_KINDS
HOPS = "max-hops"

#: What every host's id starts with.
HOST = host_id("")

#: A breach as triage identifies it: its members and its place.
Key = tuple[tuple[str, ...], str | None]


@dataclass(slots=True)
class Host:
    eid: str
    name: str
    #: What it may hold (recorded size times the overcommit ratio); None when unrecorded.
    vcpus: float | None
    memory_mib: float | None
    used_vcpus: float = 0.0
    used_mib: float = 0.0

    @property
    def free_vcpus(self) -> float | None:
        return None if self.vcpus is None else self.vcpus - self.used_vcpus

    @property
    def free_mib(self) -> float | None:
        return None if self.memory_mib is None else self.memory_mib - self.used_mib

    def fits(self, vcpus: float, mib: float) -> bool:
        free_c, free_m = self.free_vcpus, self.free_mib
        return free_c is not None and free_m is not None and vcpus <= free_c and mib <= free_m


@dataclass(frozen=True, slots=True)
class Vm:
    eid: str
    name: str
    vcpus: int
    memory_mib: float
    owner: str | None
    services: tuple[str, ...]


class _Fabric(Fabric):
    """Triage's placement, read faster: a plan asks where each VM runs for every host it
    tries, and a host's id is known by its prefix without parsing it."""

    def host(self, eid: str) -> str | None:
        hosts = self.out.get((eid, RUNS_ON))
        if hosts:
            return min(hosts) if len(hosts) > 1 else next(iter(hosts))
        return eid if eid.startswith(HOST) else None


_NONE: frozenset[str] = frozenset()


def _number(attrs: Mapping[str, JSONValue], key: str) -> float | None:
    v = attrs.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _text(v: JSONValue) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


class Fleet:
    """Hosts, VMs and rules at `at`; `move` changes the placement the rules see."""

    def __init__(self, store: Store, policy: Policy, at: datetime) -> None:
        self.store, self.policy, self.at = store, policy, at
        t = to_us(at)
        kinds, ids = scope(policy)
        wanted: set[str] | None = None if kinds is None else {*kinds, "vm", "host", "asset"}
        r = TriageReader(store)
        versions, _ = r.versions(t, t, wanted, ids)
        relations, _ = r.relations(t, t, (RUNS_ON,))
        self.fabric = _Fabric()
        for v in versions:
            self.fabric.begin_version(v)
        for x in relations:
            self.fabric.begin_relation(x)
        ratios = policy.maintenance
        self.hosts: dict[str, Host] = {}
        registered: dict[str, str] = {}
        for v in versions:
            if v.kind == "host":
                cpus, mib = _number(v.attrs, "cpus"), _number(v.attrs, "memory_mib")
                self.hosts[v.eid] = Host(
                    v.eid,
                    split_id(v.eid)[1],
                    None if cpus is None else cpus * ratios.cpu_ratio,
                    None if mib is None else mib * ratios.memory_ratio,
                )
            elif v.kind == "asset" and (owner := _text(v.attrs.get(OWNER))) is not None:
                # Anyone may post an `asset:` entity; one that names no VM or host is no
                # VM's owner.
                with suppress(InvalidId):
                    registered[parse_asset(v.eid)] = owner
        matcher = Matcher(policy)
        self.members: dict[str, set[str]] = {s: set() for s in policy.services}
        self.vms: dict[str, Vm] = {}
        self.on: dict[str, list[str]] = {h: [] for h in self.hosts}
        for eid, attrs in self.fabric.attrs.items():
            kind = self.fabric.kind[eid]
            services = matcher.services_of(eid, kind, attrs)
            for s in services:
                self.members[s].add(eid)
            host = self.fabric.host(eid) if kind == "vm" else None
            if host is None or host not in self.hosts:
                continue
            mem = _number(attrs, "memory_kib")
            vm = Vm(
                eid,
                self.fabric.name(eid),
                int(_number(attrs, "vcpus") or 0),
                (mem or 0.0) / 1024,
                _text(attrs.get(OWNER)) or registered.get(eid),
                tuple(sorted(services)),
            )
            self.vms[eid] = vm
            self.on[host].append(eid)
            self.hosts[host].used_vcpus += vm.vcpus
            self.hosts[host].used_mib += vm.memory_mib
        self.hops = MovedHops(store, self.fabric, {e: self.fabric.host(e) for e in self.vms})
        self.cx = Context(self.fabric, DomainIndex(policy.domains), self.members, self.hops, t)
        self._unmodelled: dict[str, str | None] = {}
        self.rules_of: dict[str, list[Rule]] = {}
        for rule in policy.rules.values():
            for s in rule.services:
                self.rules_of.setdefault(s, []).append(rule)

    # -- reading ------------------------------------------------------------------

    def host(self, text: str) -> str:
        """The id of the host `text` names (`hv-a` or `host:hv-a`), live at the instant."""
        eid = text if text.startswith(HOST) else host_id(text)
        if eid not in self.hosts:
            known = ", ".join(sorted(h.name for h in self.hosts.values())[:10]) or "none"
            more = "…" if len(self.hosts) > 10 else ""
            raise UnknownEntity(f"no host {text!r} at {iso(self.at)} (hosts: {known}{more})")
        return eid

    def where(self, vm: str) -> str | None:
        return self.fabric.host(vm)

    def rules(self, vm: str) -> list[Rule]:
        """The rules of the services `vm` is in, each once, by name."""
        found = {r.name: r for s in self.vms[vm].services for r in self.rules_of.get(s, ())}
        return [found[n] for n in sorted(found)]

    def unchecked(self, vm: str) -> str | None:
        """Why a `max-hops` rule cannot be judged for `vm` after a move; None if it can."""
        if vm not in self._unmodelled:
            self._unmodelled[vm] = self.hops.unmodelled(vm, self.cx.t)
        return self._unmodelled[vm]

    def breaches(self, rule: Rule) -> set[Key]:
        return {b.key for b in self._evaluate(rule)}

    def _evaluate(self, rule: Rule) -> list[Breach]:
        return EVALUATE[rule.kind](rule, self.cx)

    # -- changing -----------------------------------------------------------------

    def move(self, vm: str, dst: str) -> None:
        """Place `vm` on `dst` (capacity follows it)."""
        src = self.where(vm)
        v = self.vms[vm]
        if src is not None:
            self.fabric.end_relation(RelationRow(vm, RUNS_ON, src, 0, None))
            self.hosts[src].used_vcpus -= v.vcpus
            self.hosts[src].used_mib -= v.memory_mib
            self.on[src].remove(vm)
        self.fabric.begin_relation(RelationRow(vm, RUNS_ON, dst, 0, None))
        self.hosts[dst].used_vcpus += v.vcpus
        self.hosts[dst].used_mib += v.memory_mib
        self.on[dst].append(vm)

    def keeps_rules(
        self,
        vms: list[str],
        dst: str,
        before: dict[str, set[Key]],
        seen: dict[tuple[str, object], str | None],
    ) -> str | None:
        """Whether moving `vms` together to `dst` adds no breach to the rules they are
        under (their breaches now are `before`, by rule): None if it does not, else the
        first such rule's name and why. `seen` keeps each rule's verdict for the hosts
        it cannot tell apart (a same-domain rule sees a host's domains only), while
        nothing else moves."""
        rules = {r.name: r for vm in vms for r in self.rules(vm) if r.kind in CHECKED}
        if any(r.kind == HOPS for r in rules.values()) and any(self.unchecked(v) for v in vms):
            rules = {n: r for n, r in rules.items() if r.kind != HOPS}
        pending = []
        for name in sorted(rules):
            rule = rules[name]
            sig = (
                name,
                self.cx.domains.of(Place(dst, _NONE, _NONE)) if rule.kind == "same-domain" else dst,
            )
            if sig not in seen:
                pending.append((rule, sig))
            elif seen[sig] is not None:
                return seen[sig]
        if not pending:
            return None
        home = {vm: self.where(vm) for vm in vms}
        for vm in vms:
            self.move(vm, dst)
        try:
            for rule, sig in pending:
                new = [b for b in self._evaluate(rule) if b.key not in before[rule.name]]
                seen[sig] = f"{rule.name}: {new[0].reason}" if new else None
                if new:
                    return seen[sig]
            return None
        finally:
            for vm, src in home.items():
                if src is not None:
                    self.move(vm, src)


def units(fleet: Fleet, vms: list[Vm]) -> list[list[Vm]]:
    """`vms` in the groups that must move together, largest first: those an `affinity`
    rule binds (one host for all its members) go as one; every other VM alone."""
    parent = {v.eid: v.eid for v in vms}

    def root(e: str) -> str:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    for rule in fleet.policy.rules.values():
        if rule.kind != "affinity":
            continue
        bound = [e for s in rule.services for e in fleet.members.get(s, ()) if e in parent]
        for e in bound[1:]:
            parent[root(e)] = root(bound[0])
    groups: dict[str, list[Vm]] = {}
    for v in drained_first(vms):
        groups.setdefault(root(v.eid), []).append(v)
    return sorted(
        groups.values(),
        key=lambda g: (-sum(v.memory_mib for v in g), -sum(v.vcpus for v in g), g[0].name),
    )


def drained_first(vms: Iterable[Vm]) -> list[Vm]:
    """Largest first: memory, then vCPUs, then by name."""
    return sorted(vms, key=lambda v: (-v.memory_mib, -v.vcpus, v.name, v.eid))
