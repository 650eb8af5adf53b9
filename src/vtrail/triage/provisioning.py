"""Provisioning rules and quotas audited against the history, at an instant or over a window.

The walk keeps the VMs, the images and the inventory's word on owners in force,
with where each VM runs (`runs_on`), the images it uses (`uses_image`) and the
addresses of its NICs (`has_nic`, `has_address`), and applies every change of
the window in the order recorded, those of one instant together. After each
instant it re-evaluates only the VMs the changes touched (a VM whose record,
placement or NICs changed; every VM using an image whose catalog facts
changed; a VM whose inventory row changed) and the quotas of their owners, so
a VM that ran an uncertified image for 20 s is a violation of 20 s, to the
microsecond, like the placement rules' (triage/check.py).

A rule is broken VM by VM (one violation per VM and image or host); a quota
owner by owner, one violation per limit, lasting while the owner is over it,
with the VMs it ran when it went over.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vtrail.ids import asset_id, parse_asset
from vtrail.model import InvalidId, split_id
from vtrail.policy.provisioning import Provisioning
from vtrail.store import Store
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow
from vtrail.timeexpr import from_us
from vtrail.triage.answer import RuleCheck, Violation
from vtrail.triage.fabric import RUNS_ON, Fabric
from vtrail.triage.provision_rules import (
    Image,
    Runner,
    Usage,
    breaches,
    over,
    owner_of,
    vm_size,
)
from vtrail.triage.rules import SHOWN

USES_IMAGE = "uses_image"
ADDRESS_RELS = ("has_nic", "has_address")
#: The name `vtrail check` gives the quota of `owner` (`quota:*`: of each owner not named).
QUOTA = "quota:{}"

_END, _BEGIN = 0, 1
_VERSION, _RELATION = 0, 1


@dataclass(slots=True)
class _Open:
    since: int
    members: tuple[str, ...]
    place: str | None
    reason: str
    at_start: bool


class State:
    """VMs, images, owners and what each VM runs on and uses, at the walk's instant."""

    def __init__(self) -> None:
        self.fabric = Fabric()
        #: Each owner's VMs, running or not.
        self.owned: dict[str, set[str]] = {}
        self.owner: dict[str, str] = {}
        #: Owners a VM left since `owners_touched` was last asked: their usage fell.
        self.left: set[str] = set()
        #: Image by file path (`images_at`), kept until an image, a VM or what a VM
        #: uses changes.
        self._paths: dict[str, str] | None = None

    def apply_version(self, row: VersionRow, ending: bool) -> set[str]:
        """Apply `row`; the VMs whose rules it may change."""
        self.fabric.change_version(row, ending)
        if row.kind != "asset":
            self._paths = None
        if row.kind == "vm":
            touched = {row.eid}
        elif row.kind == "image":
            touched = set(self.fabric.into.get((row.eid, USES_IMAGE), ()))
        else:
            try:
                touched = {parse_asset(row.eid)}
            except InvalidId:
                touched = set()
        for vm in touched:
            self.reown(vm)
        return touched

    def apply_relation(self, row: RelationRow, ending: bool) -> set[str]:
        """Apply `row`; the VMs whose rules or quotas it may change, read while it holds."""
        if row.rel == USES_IMAGE:
            self._paths = None
        if ending:
            touched = self._vms_of(row)
            self.fabric.change_relation(row, True)
            return touched
        self.fabric.change_relation(row, False)
        return self._vms_of(row)

    def image_at(self, path: str) -> str | None:
        """The image a file path is: the one whose `paths` hold it, else the one image a
        VM with that disk source uses; None when neither says."""
        if self._paths is None:
            self._paths = self._index()
        return self._paths.get(path)

    def _index(self) -> dict[str, str]:
        found: dict[str, str] = {}
        attrs, out = self.fabric.attrs, self.fabric.out
        for eid in sorted(attrs):
            kind = eid.partition(":")[0]
            if kind == "image":
                paths = attrs[eid].get("paths")
                for p in paths if isinstance(paths, list) else ():
                    if isinstance(p, str):
                        found.setdefault(p, eid)
        for eid in sorted(attrs):
            uses = out.get((eid, USES_IMAGE), ())
            disks = attrs[eid].get("disks")
            if not _is_vm(eid) or len(uses) != 1 or not isinstance(disks, list):
                continue
            for d in disks:
                src = d.get("source") if isinstance(d, dict) else None
                if isinstance(src, str):
                    found.setdefault(src, next(iter(uses)))
        return found

    def _vms_of(self, row: RelationRow) -> set[str]:
        if row.rel == "has_address":
            return set(self.fabric.into.get((row.src, "has_nic"), ()))
        return {row.src} if _is_vm(row.src) else set()

    def reown(self, vm: str) -> None:
        own = self.fabric.attrs.get(vm)
        register = self.fabric.attrs.get(asset_id(vm))
        new = owner_of(own, register) if own is not None else None
        old = self.owner.get(vm)
        if new == old:
            return
        if old is not None:
            self.owned[old].discard(vm)
            del self.owner[vm]
            self.left.add(old)
        if new is not None:
            self.owned.setdefault(new, set()).add(vm)
            self.owner[vm] = new

    def owners_touched(self, touched: Iterable[str]) -> set[str]:
        """The owners whose usage the VMs `touched` may have changed, and those a VM left."""
        found = {self.owner[vm] for vm in touched if vm in self.owner} | self.left
        self.left = set()
        return found

    def runner(self, vm: str) -> Runner | None:
        """The VM as the rules see it, while it runs; None when it runs nowhere."""
        attrs = self.fabric.attrs.get(vm)
        host = self.fabric.host(vm) if attrs is not None else None
        if attrs is None or host is None:
            return None
        images = tuple(
            Image(i, self.fabric.attrs.get(i, {}))
            for i in sorted(self.fabric.out.get((vm, USES_IMAGE), ()))
        )
        return Runner(vm, self.fabric.name(vm), self.owner.get(vm), host, images)

    def running(self, owner: str) -> list[str]:
        return sorted(vm for vm in self.owned.get(owner, ()) if self.fabric.host(vm) is not None)

    def addresses(self, vms: Iterable[str]) -> set[str]:
        out = self.fabric.out
        return {
            ip
            for vm in vms
            for nic in out.get((vm, "has_nic"), ())
            for ip in out.get((nic, "has_address"), ())
        }

    def usage(self, owner: str, without: str | None = None) -> Usage:
        """What `owner` runs now (but the VM `without`)."""
        vms = [vm for vm in self.running(owner) if vm != without]
        cpus = mem = 0
        for vm in vms:
            c, m = vm_size(self.fabric.attrs.get(vm, {}))
            cpus, mem = cpus + c, mem + m
        return Usage(len(vms), cpus, mem, len(self.addresses(vms)))


#: The kinds and relations the walk keeps.
KINDS = ("vm", "image", "asset")
RELATIONS = (RUNS_ON, USES_IMAGE)
#: One change to apply: (instant, end or begin, order read, version or relation, row).
Event = tuple[int, int, int, int, Any]


def _rels(p: Provisioning | None) -> list[str]:
    """The relations to read: the addresses VMs hold when a quota of `p` counts them
    (None: always)."""
    if p is None or any("addresses" in q.limits() for q in p.quotas.values()):
        return [*RELATIONS, *ADDRESS_RELS]
    return list(RELATIONS)


def _events(
    versions: Iterable[VersionRow], relations: Iterable[RelationRow], lo: int, hi: int
) -> list[Event]:
    """The beginnings and ends of these rows that fall in `(lo, hi]`, in order."""
    events: list[Event] = []
    seq = 0
    for rows, what in ((versions, _VERSION), (relations, _RELATION)):
        for row in rows:
            seq += 1
            if lo < row.valid_from <= hi:
                events.append((row.valid_from, _BEGIN, seq, what, row))
            if row.valid_to is not None and lo < row.valid_to <= hi:
                events.append((row.valid_to, _END, seq, what, row))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def read_window(
    store: Store, p: Provisioning | None, lo: int, hi: int, state: State
) -> list[Event]:
    """Put in `state` what was in force at `lo`; the changes of `(lo, hi]`, in order."""
    r = TriageReader(store)
    vlive, vbegan = r.versions(lo, hi, KINDS)
    rlive, rbegan = r.relations(lo, hi, _rels(p))
    for v in vlive:
        state.fabric.begin_version(v)
    for x in rlive:
        state.fabric.begin_relation(x)
    for eid in [e for e in state.fabric.attrs if _is_vm(e)]:
        state.reown(eid)
    return _events([*vlive, *vbegan], [*rlive, *rbegan], lo, hi)


def read_changes(store: Store, p: Provisioning | None, lo: int, hi: int) -> list[Event]:
    """The changes of `(lo, hi]`, in order: a state in force at `lo` goes on with these."""
    r = TriageReader(store)
    return _events(r.changed_versions(lo, hi, KINDS), r.changed_relations(lo, hi, _rels(p)), lo, hi)


def instants(state: State, events: list[Event]) -> Iterator[tuple[int, set[str]]]:
    """Apply the events an instant at a time: each instant, with the VMs it touched."""
    i, n = 0, len(events)
    while i < n:
        t = events[i][0]
        touched: set[str] = set()
        while i < n and events[i][0] == t:
            _, phase, _, what, row = events[i]
            i += 1
            if what == _VERSION:
                touched |= state.apply_version(row, phase == _END)
            else:
                touched |= state.apply_relation(row, phase == _END)
        yield t, touched


class _Audit:
    def __init__(self, p: Provisioning, state: State) -> None:
        self.p, self.state = p, state
        names = [*p.rules, *(QUOTA.format(o) for o in p.quotas)]
        self.open: dict[str, dict[Any, _Open]] = {n: {} for n in names}
        self.closed: dict[str, list[Violation]] = {n: [] for n in names}
        #: Each rule's open keys by the VM or owner they are about (a key's first part).
        self.keys: dict[str, dict[str, set[Any]]] = {n: {} for n in names}

    def _set(self, name: str, who: str, found: dict[Any, _Open], t: int) -> None:
        """Close what `who` held open and `found` no longer holds; open what is new."""
        current = self.open[name]
        held = self.keys[name].get(who, set())
        for key in [k for k in held if k not in found]:
            self.closed[name].append(_violation(current.pop(key), t))
            held.discard(key)
        for key, o in found.items():
            if key not in current:
                current[key] = o
                held.add(key)
        if held:
            self.keys[name][who] = held
        else:
            self.keys[name].pop(who, None)

    def vm(self, vm: str, t: int, at_start: bool) -> None:
        r = self.state.runner(vm)
        for name, rule in self.p.rules.items():
            found = {}
            if r is not None:
                for b in breaches(rule, r):
                    found[(vm, b.place)] = _Open(t, (vm,), b.place, b.reason, at_start)
            self._set(name, vm, found, t)

    def owner(self, owner: str, t: int, at_start: bool) -> None:
        quota = self.p.quota_of(owner)
        if quota is None:
            return
        name = QUOTA.format(quota.owner)
        used = self.state.usage(owner)
        vms = tuple(self.state.running(owner))
        found = {
            (owner, what): _Open(t, vms, None, why, at_start)
            for what, why in over(quota, owner, used)
        }
        self._set(name, owner, found, t)

    def rules(self) -> list[RuleCheck]:
        out = []
        kinds = {n: r.kind for n, r in self.p.rules.items()}
        for name in self.open:
            still = sorted(self.open[name].values(), key=lambda o: (o.since, o.members))
            violations = sorted(
                [*self.closed[name], *(_violation(o, None) for o in still)],
                key=lambda v: (v.t_from, v.members),
            )
            reasons = [o.reason for o in still]
            if len(reasons) > SHOWN:
                reasons = [*reasons[:SHOWN], f"and {len(reasons) - SHOWN} more"]
            out.append(
                RuleCheck(
                    name=name,
                    kind=kinds.get(name, "quota"),
                    services=[],
                    holds=not still,
                    members=sorted({m for o in still for m in o.members}),
                    reason="; ".join(reasons) if reasons else None,
                    violations=violations,
                )
            )
        return out


def _violation(o: _Open, end: int | None) -> Violation:
    return Violation(
        from_us(o.since),
        from_us(end) if end is not None else None,
        list(o.members),
        o.reason,
        o.place,
        o.at_start,
    )


def audit(store: Store, p: Provisioning, lo: int, hi: int) -> list[RuleCheck]:
    """Each provisioning rule and quota of `p` at `lo` (when `hi` is `lo`) or over
    `[lo, hi]`: whether it holds at the end, and the exact intervals it was broken."""
    if not p:
        return []
    state = State()
    events = read_window(store, p, lo, hi, state)
    audit = _Audit(p, state)
    vms = [e for e in state.fabric.attrs if _is_vm(e)]
    for vm in vms:
        audit.vm(vm, lo, True)
    for owner in list(state.owned):
        audit.owner(owner, lo, True)
    if hi <= lo:
        return audit.rules()
    for t, touched in instants(state, events):
        for vm in touched:
            audit.vm(vm, t, False)
        for owner in state.owners_touched(touched):
            audit.owner(owner, t, False)
    return audit.rules()


def _is_vm(eid: str) -> bool:
    try:
        return split_id(eid)[0] == "vm"
    except InvalidId:
        return False
