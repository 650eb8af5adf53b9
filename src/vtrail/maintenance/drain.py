"""`vtrail plan drain HOST --at T`: every VM on the host then, the rules that bind it, and
where it could go.

The VMs are placed largest first (memory, then vCPUs), each on the candidate with the
most free memory, and each placement is kept while the next VM is placed: two replicas
of an anti-affinity service leaving one host never land on one host, and the room the
first takes is gone for the second. A candidate is any other host with the VM's vCPUs
and memory free (its recorded size times the policy's overcommit ratio, less what runs
there) where the VM's arrival adds no breach to any rule it is under, as `vtrail check`
would find it. VMs an `affinity` rule binds move together, as one. A VM with nowhere
to go is said in one line.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from datetime import datetime

from vtrail.maintenance.fleet import CHECKED, HOPS, Fleet, Host, Key, Vm, units
from vtrail.policy.model import Policy
from vtrail.store import Store
from vtrail.triage.rules import listed


@dataclass(frozen=True, slots=True)
class Candidate:
    host: str
    #: What it has free before the VM arrives (the plan's earlier moves taken).
    free_vcpus: float
    free_memory_mib: float


@dataclass(frozen=True, slots=True)
class Move:
    vm: str
    name: str
    #: The host it leaves.
    host: str
    vcpus: int
    memory_mib: float
    owner: str | None
    services: list[str]
    #: The rules of its services, by name.
    rules: list[str]
    #: Where the plan puts it; None when it has nowhere to go.
    target: str | None
    #: Every host it could go to, best first (a rolling plan lists the target only).
    candidates: list[Candidate]
    #: Why it has nowhere to go, in a line; None when it has a target.
    stuck: str | None
    #: The rules of its own left unchecked for it, each with why (`rule: reason`).
    unchecked: list[str]


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    kind: str
    services: list[str]
    #: False for a `max-hops` rule when a VM it binds cannot be followed to another host
    #: (its `unchecked` says why).
    checked: bool


@dataclass(frozen=True, slots=True)
class Capacity:
    cpu_overcommit: float
    memory_overcommit: float


@dataclass(frozen=True, slots=True)
class DrainAnswer:
    at: datetime
    host: str
    capacity: Capacity
    vms: list[Move]
    rules: list[Constraint]
    #: One line per VM with nowhere to go.
    stuck: list[str]


def _mib(v: float) -> str:
    return f"{v:,.0f} MiB"


def _preference(h: Host) -> tuple[float, float, str]:
    return (-(h.free_mib or 0.0), -(h.free_vcpus or 0.0), h.name)


def place(fleet: Fleet, hosts: list[str], full: bool = True) -> list[Move]:
    """Move every VM off `hosts` in the fleet, largest first (VMs an affinity rule binds
    together as one); the moves made stay made (`undo` takes them back). Without `full`,
    each VM's first candidate only is looked for."""
    home = {v: h for h in hosts for v in fleet.on[h]}
    away = set(hosts)
    # The targets by preference, kept in order as each placement takes room.
    order = sorted((h for h in fleet.hosts.values() if h.eid not in away), key=_preference)
    leaving = [fleet.vms[v] for v in home]
    rules = {r.name: r for v in leaving for r in fleet.rules(v.eid) if r.kind in CHECKED}
    before: dict[str, set[Key]] = {n: fleet.breaches(r) for n, r in rules.items()}
    out = []
    for unit in units(fleet, leaving):
        vcpus = sum(v.vcpus for v in unit)
        mib = sum(v.memory_mib for v in unit)
        found: list[Candidate] = []
        refused: str | None = None
        eids = [v.eid for v in unit]
        seen: dict[tuple[str, object], str | None] = {}
        for h in order:
            if not h.fits(vcpus, mib):
                continue
            why = fleet.keeps_rules(eids, h.eid, before, seen)
            if why is not None:
                refused = refused or f"{h.name}: {why}"
                continue
            found.append(Candidate(h.eid, h.free_vcpus or 0.0, h.free_mib or 0.0))
            if not full:
                break
        stuck = None
        if found:
            target = fleet.hosts[found[0].host]
            order.remove(target)
            for e in eids:
                fleet.move(e, target.eid)
            insort(order, target, key=_preference)
            for r in {r.name: r for e in eids for r in fleet.rules(e)}.values():
                if r.name in before:
                    before[r.name] = fleet.breaches(r)
        else:
            room = sum(1 for h in order if h.fits(vcpus, mib))
            stuck = _nowhere(unit, vcpus, mib, room, refused)
        out += [_move(fleet, v, home[v.eid], found, stuck) for v in unit]
    return out


def undo(fleet: Fleet, moves: list[Move]) -> None:
    """Put back what `place` moved."""
    for m in reversed(moves):
        if m.target is not None:
            fleet.move(m.vm, m.host)


def _nowhere(unit: list[Vm], vcpus: int, mib: float, room: int, refused: str | None) -> str:
    who = unit[0].name if len(unit) == 1 else f"{listed(v.name for v in unit)} (bound together)"
    verb = "has" if len(unit) == 1 else "have"
    size = f"{vcpus} vCPU{'' if vcpus == 1 else 's'} and {_mib(mib)}"
    if room == 0:
        return f"{who} {verb} nowhere to go: no other host has {size} free"
    hosts = f"{room} host{'' if room == 1 else 's'}"
    return f"{who} {verb} nowhere to go: {hosts} with {size} free, each breaks a rule ({refused})"


def _move(fleet: Fleet, v: Vm, host: str, found: list[Candidate], stuck: str | None) -> Move:
    hops = [r.name for r in fleet.rules(v.eid) if r.kind == HOPS]
    why = fleet.unchecked(v.eid) if hops else None
    return Move(
        v.eid,
        v.name,
        host,
        v.vcpus,
        round(v.memory_mib, 3),
        v.owner,
        list(v.services),
        [r.name for r in fleet.rules(v.eid)],
        found[0].host if found else None,
        found,
        stuck,
        [f"{n}: not checked for {v.name}: {why}" for n in hops] if why else [],
    )


def constraints(fleet: Fleet, moves: list[Move]) -> list[Constraint]:
    names = sorted({r for m in moves for r in m.rules})
    rules = fleet.policy.rules
    unchecked = {u.split(": ", 1)[0] for m in moves for u in m.unchecked}
    return [
        Constraint(
            n,
            rules[n].kind,
            list(rules[n].services),
            rules[n].kind in CHECKED and n not in unchecked,
        )
        for n in names
    ]


def capacity(policy: Policy) -> Capacity:
    return Capacity(policy.maintenance.cpu_ratio, policy.maintenance.memory_ratio)


def drain(store: Store, policy: Policy, host: str, at: datetime) -> DrainAnswer:
    """What draining `host` at `at` moves, what binds each VM, and where each could go."""
    fleet = Fleet(store, policy, at)
    eid = fleet.host(host)
    moves = place(fleet, [eid])
    # One line for the VMs bound together, which share it.
    stuck = list(dict.fromkeys(m.stuck for m in moves if m.stuck is not None))
    return DrainAnswer(at, eid, capacity(policy), moves, constraints(fleet, moves), stuck)
