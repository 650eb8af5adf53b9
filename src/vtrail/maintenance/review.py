"""`vtrail plan review --from T1 --to T2`: what really happened in a maintenance window.

Read from the record, to the recorded instant of each change:

- a **migration** is a VM's `runs_on` moving from one host to another: its run on the
  target began (`at`) and its run on the source ended (`ended`); `gap_seconds` is how
  long it ran nowhere in between (0 for a live migration, whose two runs overlap or
  touch);
- a VM's **downtime** is each interval of the window in which it ran nowhere: `stopped`
  while it was recorded but not running, `absent` while it was not recorded at all
  (destroyed, or undefined before being defined elsewhere). The time before a VM
  first appears in the window is not downtime;
- the **violations** are `vtrail check`'s over the window, with the policy in force at
  its end;
- a host is **drained** at the first instant it ran no VM after running some; the
  hosts are listed in that order, with when a VM ran there again.

With a saved plan (`plan rolling -o json`), each planned move is held against the
migrations (`as planned`, `elsewhere`, `not moved`), and the order the hosts were
drained in against the plan's groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from vtrail.maintenance.fleet import Fleet
from vtrail.maintenance.plan_file import SavedPlan
from vtrail.maintenance.rolling import select
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.check import check
from vtrail.triage.fabric import RUNS_ON
from vtrail.triage.policy_at import policy_at


@dataclass(frozen=True, slots=True)
class Migration:
    vm: str
    name: str
    source: str
    target: str
    #: When it began to run on the target.
    at: datetime
    #: When its run on the source ended.
    ended: datetime
    gap_seconds: float


@dataclass(frozen=True, slots=True)
class Downtime:
    vm: str
    name: str
    #: `stopped` or `absent`.
    kind: str
    t_from: datetime
    #: None: still down at the window's end.
    t_to: datetime | None
    seconds: float


@dataclass(frozen=True, slots=True)
class RuleViolation:
    rule: str
    kind: str
    t_from: datetime
    t_to: datetime | None
    members: list[str]
    reason: str
    in_force_at_start: bool


@dataclass(frozen=True, slots=True)
class Drained:
    host: str
    #: The first instant it ran no VM, after running some.
    at: datetime
    #: The VMs that ran on it in the window before then.
    vms: list[str]
    #: When a VM ran there again; None: not in the window.
    since: datetime | None


@dataclass(frozen=True, slots=True)
class MoveReview:
    vm: str
    host: str
    planned: str | None
    #: Where it went from `host` in the window, in order.
    actual: list[str]
    #: `as planned`, `elsewhere` or `not moved`.
    status: str


@dataclass(frozen=True, slots=True)
class PlanReview:
    moves: list[MoveReview]
    #: One line per pair of hosts drained against the plan's order.
    out_of_order: list[str]
    not_drained: list[str]
    unplanned: list[str]
    as_planned: bool


@dataclass(frozen=True, slots=True)
class ReviewAnswer:
    t_from: datetime
    t_to: datetime
    hosts: list[str]
    migrations: list[Migration]
    downtime: list[Downtime]
    violations: list[RuleViolation]
    drained: list[Drained]
    plan: PlanReview | None


def _runs(rows: list[RelationRow], lo: int, hi: int) -> dict[str, list[tuple[str, int, int]]]:
    """Each VM's runs, `(host, start, end)` clipped to the window, by start."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for r in rows:
        end = hi if r.valid_to is None else min(r.valid_to, hi)
        start = max(r.valid_from, lo)
        if start <= end:
            out.setdefault(r.src, []).append((r.dst, start, end))
    for runs in out.values():
        runs.sort(key=lambda x: (x[1], x[2], x[0]))
    return out


def _spans(rows: list[VersionRow], lo: int, hi: int) -> dict[str, list[tuple[int, int]]]:
    """Each entity's recorded life in the window, consecutive versions joined."""
    out: dict[str, list[tuple[int, int]]] = {}
    for r in sorted(rows, key=lambda r: (r.eid, r.valid_from)):
        start, end = max(r.valid_from, lo), hi if r.valid_to is None else min(r.valid_to, hi)
        if start > end:
            continue
        spans = out.setdefault(r.eid, [])
        if spans and spans[-1][1] >= start:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return out


def _minus(span: tuple[int, int], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """What of `span` no interval of `cut` (sorted by start) covers."""
    out, at = [], span[0]
    for a, b in cut:
        if b <= at or a >= span[1]:
            continue
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < span[1]:
        out.append((at, span[1]))
    return out


def _migrations(
    vm: str, name: str, runs: list[tuple[str, int, int]], lo: int, hi: int
) -> list[Migration]:
    out = []
    for (a, _, a_end), (b, b_start, _) in pairwise(runs):
        if a == b or b_start <= lo or a_end >= hi:
            continue
        gap = max(0, b_start - a_end) / 1e6
        out.append(Migration(vm, name, a, b, from_us(b_start), from_us(a_end), gap))
    return out


def _downtime(
    vm: str, name: str, runs: list[tuple[str, int, int]], life: list[tuple[int, int]], hi: int
) -> list[Downtime]:
    if not life:
        return []
    ran = sorted((s, e) for _, s, e in runs)
    out = []
    for gap in _minus((life[0][0], hi), ran):
        stopped = [(max(a, gap[0]), min(b, gap[1])) for a, b in life if a < gap[1] and b > gap[0]]
        pieces = [("stopped", s) for s in stopped] + [("absent", s) for s in _minus(gap, life)]
        for kind, (a, b) in sorted(pieces, key=lambda p: p[1]):
            if b > a:
                t_to = None if b >= hi else from_us(b)
                out.append(Downtime(vm, name, kind, from_us(a), t_to, (b - a) / 1e6))
    return out


def _drained(
    hosts: list[str], runs: dict[str, list[tuple[str, int, int]]], lo: int, hi: int
) -> list[Drained]:
    by_host: dict[str, list[tuple[str, int, int]]] = {h: [] for h in hosts}
    for vm, rs in runs.items():
        for h, s, e in rs:
            if h in by_host:
                by_host[h].append((vm, s, e))
    out = []
    for h, rs in by_host.items():
        events = sorted(
            [(s, 1, vm) for vm, s, _ in rs] + [(e, -1, vm) for vm, _, e in rs if e < hi]
        )
        count, seen, emptied, back = 0, [], None, None
        i = 0
        while i < len(events):
            t = events[i][0]
            while i < len(events) and events[i][0] == t:
                count += events[i][1]
                if events[i][1] > 0 and emptied is None:
                    seen.append(events[i][2])
                i += 1
            if emptied is None and count == 0 and seen:
                emptied = t
            elif emptied is not None and count > 0 and back is None:
                back = t
        if emptied is not None:
            since = from_us(back) if back is not None else None
            out.append(Drained(h, from_us(emptied), sorted(set(seen)), since))
    return sorted(out, key=lambda d: (d.at, d.host))


def _compare(plan: SavedPlan, migrations: list[Migration], drained: list[Drained]) -> PlanReview:
    went: dict[tuple[str, str], list[str]] = {}
    for m in migrations:
        went.setdefault((m.vm, m.source), []).append(m.target)
    moves = []
    for p in plan.moves:
        actual = went.get((p.vm, p.host), [])
        status = "not moved" if not actual else "as planned" if p.target in actual else "elsewhere"
        moves.append(MoveReview(p.vm, p.host, p.target, actual, status))
    when = {d.host: d.at for d in drained}
    group = {h: i for i, hs in enumerate(plan.groups) for h in hs}
    late = []
    for a, ta in when.items():
        for b, tb in when.items():
            if a in group and b in group and group[a] < group[b] and tb < ta:
                late.append(
                    f"{b} (group {group[b] + 1}) was drained before {a} (group {group[a] + 1})"
                )
    not_drained = sorted(h for h in group if h not in when)
    unplanned = sorted(h for h in when if h not in group)
    ok = not late and not not_drained and all(m.status == "as planned" for m in moves)
    return PlanReview(moves, sorted(late), not_drained, unplanned, ok)


def review(
    store: Store,
    t_from: datetime,
    t_to: datetime,
    selector: str | None = None,
    plan: SavedPlan | None = None,
) -> ReviewAnswer:
    check_window(t_from, t_to)
    lo, hi = to_us(t_from), to_us(t_to)
    policy = policy_at(store, t_to)
    hosts = select(Fleet(store, policy, t_from), selector)
    if plan is not None and selector is None:
        hosts = sorted(set(hosts) | {h for hs in plan.groups for h in hs})
    r = TriageReader(store)
    live, began = r.relations(lo, hi, (RUNS_ON,))
    runs = _runs(live + began, lo, hi)
    chosen = set(hosts)
    vms = sorted(v for v, rs in runs.items() if any(h in chosen for h, _, _ in rs))
    vlive, vbegan = r.versions(lo, hi, None, vms) if vms else ([], [])
    life = _spans([v for v in vlive + vbegan if v.eid in set(vms)], lo, hi)
    names = {v.eid: v.attrs.get("name") for v in vlive + vbegan}
    migrations, downtime = [], []
    for vm in vms:
        name = names.get(vm)
        label = name if isinstance(name, str) else vm
        migrations += _migrations(vm, label, runs[vm], lo, hi)
        downtime += _downtime(vm, label, runs[vm], life.get(vm, []), hi)
    migrations.sort(key=lambda m: (m.at, m.vm))
    checked = check(store, policy, "recorded", t_from=t_from, t_to=t_to)
    violations = [
        RuleViolation(rc.name, rc.kind, v.t_from, v.t_to, v.members, v.reason, v.in_force_at_start)
        for rc in checked.rules
        for v in rc.violations
    ]
    violations.sort(key=lambda v: (v.t_from, v.rule))
    drained = _drained(hosts, runs, lo, hi)
    compared = _compare(plan, migrations, drained) if plan is not None else None
    return ReviewAnswer(t_from, t_to, hosts, migrations, downtime, violations, drained, compared)
