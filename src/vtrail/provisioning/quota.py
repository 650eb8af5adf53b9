"""Quota usage over time: what each owner ran at once over a window, its peak and when.

An owner's usage is what its running VMs add up to (docs/provisioning.md): how
many, their vCPUs, their memory in MiB, and the distinct addresses their NICs
hold. It changes exactly where a VM of the owner starts, stops, changes size
or owner, or gains or loses an address; each step is one of those instants.
The quota shown beside it is the one of the policy in force at the window's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.policy_at import policy_at
from vtrail.triage.provision_rules import Usage
from vtrail.triage.provisioning import State, instants, read_window

#: What usage counts, in the order answers list it.
COUNTS = ("vms", "vcpus", "memory", "addresses")


@dataclass(frozen=True, slots=True)
class Step:
    """The owner's usage from `at` until the next step (memory in MiB)."""

    at: datetime
    vms: int
    vcpus: int
    memory: int
    addresses: int


@dataclass(frozen=True, slots=True)
class Peak:
    """The most of one count the owner ran at once, and the first instant it did."""

    value: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OwnerUsage:
    owner: str
    #: The limits of the quota in force at the window's end; None: no quota applies.
    quota: dict[str, int] | None
    #: Per count (`vms`, `vcpus`, `memory`, `addresses`).
    peak: dict[str, Peak]
    #: The usage at the window's start, then at every instant it changed.
    steps: list[Step]


@dataclass(frozen=True, slots=True)
class QuotaAnswer:
    t_from: datetime
    t_to: datetime
    owners: list[OwnerUsage]


def _step(t: int, u: Usage) -> Step:
    return Step(from_us(t), u.vms, u.vcpus, u.memory, u.addresses)


def quota(store: Store, t_from: datetime, t_to: datetime, owner: str | None = None) -> QuotaAnswer:
    """Each owner's usage over `[t_from, t_to]` (only `owner`'s, when given)."""
    check_window(t_from, t_to)
    lo, hi = to_us(t_from), to_us(t_to)
    state = State()
    events = read_window(store, None, lo, hi, state)
    steps: dict[str, list[Step]] = {}

    def note(who: str, t: int) -> None:
        if owner is not None and who != owner:
            return
        found = _step(t, state.usage(who))
        kept = steps.setdefault(who, [])
        if not kept or (kept[-1].vms, kept[-1].vcpus, kept[-1].memory, kept[-1].addresses) != (
            found.vms, found.vcpus, found.memory, found.addresses,
        ):  # fmt: skip
            kept.append(found)

    for who in list(state.owned):
        note(who, lo)
    for t, touched in instants(state, events):
        for who in state.owners_touched(touched):
            note(who, t)
    p = policy_at(store, t_to).provisioning
    out = []
    for who in sorted(steps):
        kept = steps[who]
        q = p.quota_of(who)
        peak = {}
        for count in COUNTS:
            best = kept[0]
            for s in kept:
                if getattr(s, count) > getattr(best, count):
                    best = s
            peak[count] = Peak(getattr(best, count), best.at)
        out.append(OwnerUsage(who, q.limits() if q is not None else None, peak, kept))
    return QuotaAnswer(t_from, t_to, out)
