"""`account`: allocated and used resources over a window, by VM, owner, service or host,
priced by the policy's rate card (docs/accounting.md).

Allocation is counted from a VM's recorded size (`vcpus`, `memory_kib`) for the time
it spent in a billed state; use from its counters (accounting/usage.py). Both are
billed to the place the VM was at each instant (accounting/stretches.py), so a VM
that migrated pays each host for exactly the time it ran there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from vtrail.accounting.stretches import KIB_PER_GIB, Fabric, Place, fabric
from vtrail.accounting.usage import CPU, DISK_READ, DISK_WRITE, NET_RX, NET_TX, Used, usage
from vtrail.policy.accounting import Accounting
from vtrail.policy.model import Policy
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.timeexpr import to_us
from vtrail.triage.policy_at import policy_at

By = Literal["vm", "owner", "service", "host"]
BY: tuple[str, ...] = get_args(By)
GB = 10**9
#: Figures are rounded to this many decimals: a micro-unit of an hour or a price.
PLACES = 6


class BadAccount(ValueError):
    """A question accounting cannot answer: said in one line."""


@dataclass(slots=True)
class Figures:
    """Sums over a set of (VM, place) units."""

    vcpu_hours: float = 0.0
    memory_gib_hours: float = 0.0
    #: The host's capacity over the time a VM was placed on it: share denominators.
    cpu_capacity_s: float = 0.0
    memory_placed_gib_s: float = 0.0
    memory_capacity_gib_s: float = 0.0
    used: list[int | float] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    cost: float = 0.0
    idle_cost: float = 0.0

    def add(self, o: Figures) -> None:
        self.vcpu_hours += o.vcpu_hours
        self.memory_gib_hours += o.memory_gib_hours
        self.cpu_capacity_s += o.cpu_capacity_s
        self.memory_placed_gib_s += o.memory_placed_gib_s
        self.memory_capacity_gib_s += o.memory_capacity_gib_s
        self.used = [a + b for a, b in zip(self.used, o.used, strict=True)]
        self.cost += o.cost
        self.idle_cost += o.idle_cost


@dataclass(frozen=True, slots=True)
class HostPart:
    """A row's share of one host (`host` None: time spent on no host)."""

    host: str | None
    name: str | None
    vcpu_hours: float
    memory_gib_hours: float
    cpu_seconds: float
    cost: float | None


@dataclass(frozen=True, slots=True)
class AccountRow:
    #: The grouping key: a VM's or host's id, an owner, a service; None: no owner or service.
    key: str | None
    name: str | None
    vcpu_hours: float
    memory_gib_hours: float
    cpu_seconds: float
    #: CPU used over the host's CPU capacity, and memory over its memory, while placed.
    cpu_share: float | None
    memory_share: float | None
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    #: None without a rate card; with `share-idle`, it includes `idle_cost`.
    cost: float | None
    #: The share of its hosts' idle capacity this row was charged (`share-idle`).
    idle_cost: float | None
    hosts: list[HostPart]


@dataclass(frozen=True, slots=True)
class HostIdle:
    host: str
    name: str
    capacity_vcpu_hours: float
    capacity_memory_gib_hours: float
    allocated_vcpu_hours: float
    allocated_memory_gib_hours: float
    idle_vcpu_hours: float
    idle_memory_gib_hours: float
    idle_cost: float | None


@dataclass(frozen=True, slots=True)
class AccountAnswer:
    t_from: datetime
    t_to: datetime
    by: str
    #: The states whose time counts as allocated, and how CPU is billed.
    states: list[str]
    bill: str
    share_idle: bool
    rows: list[AccountRow]
    hosts: list[HostIdle]


def _r(x: float) -> float:
    return round(x, PLACES) + 0.0  # +0.0: no -0.0 in an answer


def _units(fab: Fabric, used: dict[Place, Used], states: Iterable[str]) -> dict[Place, Figures]:
    counted = set(states)
    out: dict[Place, Figures] = defaultdict(Figures)
    for spans in fab.stretches.values():
        for s in spans:
            f = out[s.place]
            hours = (s.end - s.start) / 3.6e9
            gib = s.memory_kib / KIB_PER_GIB
            if s.state in counted:
                f.vcpu_hours += s.vcpus * hours
                f.memory_gib_hours += gib * hours
            if s.place.host is not None:
                cpu, mem = fab.capacity(s.place.host, s.start, s.end)
                f.cpu_capacity_s += cpu
                f.memory_capacity_gib_s += mem
                f.memory_placed_gib_s += gib * (s.end - s.start) / 1e6
    for place, u in used.items():
        out[place].used = list(u.counts)
    # A stretch on no host that held and used nothing (a VM shut off) bills nothing.
    return {p: f for p, f in out.items() if f.vcpu_hours or f.cpu_capacity_s or any(f.used)}


def _price(f: Figures, a: Accounting) -> float:
    cpu_hours = f.vcpu_hours
    if a.bill == "max":
        cpu_hours = max(cpu_hours, f.used[CPU] / 1e9 / 3600)
    disk = (f.used[DISK_READ] + f.used[DISK_WRITE]) / GB
    net = (f.used[NET_RX] + f.used[NET_TX]) / GB
    amounts = (cpu_hours, f.memory_gib_hours, disk, net)
    return sum(r * x for r, x in zip(a.rates(), amounts, strict=True) if r is not None)


def _idle(
    fab: Fabric, units: dict[Place, Figures], a: Accounting, lo: int, hi: int
) -> list[HostIdle]:
    on: dict[str, list[Figures]] = defaultdict(list)
    for place, f in units.items():
        if place.host is not None:
            on[place.host].append(f)
    out = []
    for host in sorted(fab.hosts):
        cpu_s, mem_s = fab.capacity(host, lo, hi)
        mine = on.get(host, [])
        vcpu = sum(f.vcpu_hours for f in mine)
        mem = sum(f.memory_gib_hours for f in mine)
        idle_cpu, idle_mem = max(0.0, cpu_s / 3600 - vcpu), max(0.0, mem_s / 3600 - mem)
        cost = None
        if a.priced:
            cost = (a.vcpu_hour or 0) * idle_cpu + (a.gib_hour or 0) * idle_mem
            if a.share_idle:
                # OpenCost's way: each VM takes the share of the idle cost that its own
                # cost is of the host's; by allocation when nothing on the host costs.
                weights = [f.cost for f in mine]
                if not sum(weights):
                    weights = [f.vcpu_hours + f.memory_gib_hours for f in mine]
                total = sum(weights)
                for f, w in zip(mine, weights, strict=True):
                    f.idle_cost = cost * w / total if total else 0.0
        out.append(
            HostIdle(
                host, fab.names.get(host, host), _r(cpu_s / 3600), _r(mem_s / 3600),
                _r(vcpu), _r(mem), _r(idle_cpu), _r(idle_mem),
                None if cost is None else _r(cost),
            )
        )  # fmt: skip
    return out


def _keys(place: Place, by: str) -> list[str | None]:
    if by == "vm":
        return [place.vm]
    if by == "host":
        return [place.host]
    if by == "owner":
        return [place.owner]
    return list(place.services) or [None]


def _share(num: float, den: float) -> float | None:
    return _r(num / den) if den else None


def _row(
    key: str | None,
    name: str | None,
    parts: dict[str | None, Figures],
    a: Accounting,
    names: dict[str, str],
) -> AccountRow:
    f = Figures()
    for p in parts.values():
        f.add(p)
    priced = a.priced
    hosts = [
        HostPart(
            h, names.get(h, h) if h else None, _r(p.vcpu_hours), _r(p.memory_gib_hours),
            round(p.used[CPU] / 1e9, 9),
            _r(p.cost + p.idle_cost) if priced else None,
        )
        for h, p in sorted(parts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]  # fmt: skip
    return AccountRow(
        key, name, _r(f.vcpu_hours), _r(f.memory_gib_hours), round(f.used[CPU] / 1e9, 9),
        _share(f.used[CPU] / 1e9, f.cpu_capacity_s),
        _share(f.memory_placed_gib_s, f.memory_capacity_gib_s),
        int(f.used[DISK_READ]), int(f.used[DISK_WRITE]), int(f.used[NET_RX]), int(f.used[NET_TX]),
        _r(f.cost + f.idle_cost) if priced else None,
        _r(f.idle_cost) if priced and a.share_idle else None,
        hosts,
    )  # fmt: skip


def check_by(by: str) -> By:
    if by not in BY:
        raise BadAccount(f"unknown grouping {by!r}: --by is one of {', '.join(BY)}")
    return by  # type: ignore[return-value]


def policy_in_force(store: Store, at: datetime) -> Policy:
    """The policy recorded in force at the window's end (one with only an `accounting:`
    section included); with none, no rate card."""
    return policy_at(store, at)


def account(
    store: Store, policy: Policy, t_from: datetime, t_to: datetime, by: str = "vm"
) -> AccountAnswer:
    """Every VM's allocation, use and cost over `[t_from, t_to]`, grouped `by`."""
    check_window(t_from, t_to)
    check_by(by)
    a = policy.accounting or Accounting()
    lo, hi = to_us(t_from), to_us(t_to)
    owners = {n: s.owner for n, s in policy.services.items()}
    fab = fabric(store, lo, hi, owners)
    units = _units(fab, usage(store, fab, lo, hi), a.states)
    if a.priced:
        for f in units.values():
            f.cost = _price(f, a)
    hosts = _idle(fab, units, a, lo, hi)
    grouped: dict[str | None, dict[str | None, Figures]] = defaultdict(lambda: defaultdict(Figures))
    for place, f in units.items():
        for key in _keys(place, by):
            grouped[key][place.host].add(f)
    if by == "host":
        # A host's share is of its whole capacity over the window, not only while each
        # VM was on it.
        for key, parts in grouped.items():
            if key is not None:
                p = parts[key]
                p.cpu_capacity_s, p.memory_capacity_gib_s = fab.capacity(key, lo, hi)
    named = by in ("vm", "host")
    rows = [
        _row(k, fab.names.get(k, k) if named and k is not None else None, parts, a, fab.names)
        for k, parts in grouped.items()
    ]
    rows.sort(key=lambda r: (r.key is None, r.name or r.key or ""))
    return AccountAnswer(t_from, t_to, by, list(a.states), a.bill, a.share_idle, rows, hosts)


CSV_COLUMNS = (
    "key", "name", "vcpu_hours", "memory_gib_hours", "cpu_seconds", "cpu_share",
    "memory_share", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes",
    "cost", "idle_cost",
)  # fmt: skip


def csv_rows(a: AccountAnswer) -> list[list[object]]:
    """The rows under `CSV_COLUMNS`, an empty cell for what is not known."""
    return [["" if (v := getattr(r, c)) is None else v for c in CSV_COLUMNS] for r in a.rows]
