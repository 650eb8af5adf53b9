"""`vtrail plan rolling`: the hosts split into ordered groups that can be drained together,
each with its drain plan, hroller-style: a graph whose nodes are hosts, an edge between
two that must not be drained at once, coloured with as few colours as networkx's greedy
strategies find.

Two hosts conflict when draining both at once would

- take two members of one `anti-affinity` service off their hosts together (the
  replicas meant to be apart are never moving at the same time);
- leave a `same-domain` rule's members no host of their domain to go to (the two are
  all the hosts left of it);
- leave a service with no member running (its members run on these two hosts only).

A group is then planned as one drain of all its hosts, from the fleet as it stood at
T (the hosts of earlier groups are back, with what ran on them). A group whose plan
leaves a VM nowhere to go (no room, or a rule broken wherever it goes: a same-domain
rule's domain drained whole), or whose hosts together hold every member of a service
running on more than one host, is split in two, and so on; a
host that cannot be drained even alone refuses the whole plan, with the reason.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

import networkx as nx

from vtrail.ids import domain_id
from vtrail.maintenance.drain import Capacity, Move, capacity, place, undo
from vtrail.maintenance.fleet import HOST, Fleet
from vtrail.policy.model import Policy
from vtrail.store import Store, UnknownEntity
from vtrail.triage.fabric import Place

#: networkx's greedy colouring strategies, tried in turn; the fewest colours wins.
STRATEGIES = (
    "largest_first",
    "DSATUR",
    "smallest_last",
    "independent_set",
    "connected_sequential_bfs",
)
_NONE: frozenset[str] = frozenset()
DOMAIN = domain_id("")


class Unsafe(Exception):
    """The hosts cannot be drained safely, in any grouping: the reason is the message."""


@dataclass(frozen=True, slots=True)
class Group:
    #: From 1, in the order to drain them.
    order: int
    hosts: list[str]
    moves: list[Move]


@dataclass(frozen=True, slots=True)
class Conflict:
    a: str
    b: str
    reason: str


@dataclass(frozen=True, slots=True)
class RollingAnswer:
    at: datetime
    capacity: Capacity
    #: The colouring strategy that gave the fewest groups.
    strategy: str
    #: The colours it needed, before any group was split for capacity.
    colours: int
    groups: list[Group]
    conflicts: list[Conflict]


def select(fleet: Fleet, selector: str | None) -> list[str]:
    """The hosts `selector` names: comma-separated host names or globs (`hv-*`), or
    `domain:NAME` for a domain's hosts; None: every host."""
    if selector is None:
        return sorted(fleet.hosts)
    out: set[str] = set()
    for part in (p.strip() for p in selector.split(",")):
        if not part:
            continue
        if part.startswith(DOMAIN):
            name = part.removeprefix(DOMAIN)
            if name not in fleet.policy.domains:
                known = ", ".join(sorted(fleet.policy.domains)) or "none"
                raise UnknownEntity(f"the policy has no domain {name!r} (domains: {known})")
            found = [h for h in fleet.hosts if fleet.cx.domains.of(_at(h)) & {name}]
        elif any(c in part for c in "*?["):
            glob = part.removeprefix(HOST)
            found = [h for h, x in fleet.hosts.items() if fnmatch.fnmatchcase(x.name, glob)]
        else:
            found = [fleet.host(part)]
        if not found:
            raise UnknownEntity(f"{part!r} names no host at the instant asked")
        out.update(found)
    return sorted(out)


def _at(host: str) -> Place:
    return Place(host, _NONE, _NONE)


def conflicts(fleet: Fleet, hosts: list[str]) -> list[Conflict]:
    """Each pair of `hosts` not to drain together, with the first reason found."""
    chosen = set(hosts)
    found: dict[tuple[str, str], str] = {}

    def add(pair: tuple[str, str], reason: str) -> None:
        a, b = sorted(pair)
        found.setdefault((a, b), reason)

    runs: dict[str, set[str]] = {}
    for s, members in fleet.members.items():
        where = {h for m in members if (h := fleet.where(m)) is not None and h in fleet.hosts}
        if where:
            runs[s] = where
    for rule in sorted(fleet.policy.rules.values(), key=lambda r: r.name):
        where = set().union(*(runs.get(s, set()) for s in rule.services)) & chosen
        if rule.kind == "anti-affinity":
            for pair in combinations(sorted(where), 2):
                add(pair, f"{rule.name}: both hold members of {', '.join(rule.services)}")
        elif rule.kind == "same-domain":
            for d in sorted({d for h in where for d in fleet.cx.domains.of(_at(h))}):
                inside = [h for h in fleet.hosts if d in fleet.cx.domains.of(_at(h))]
                if len(inside) == 2 and set(inside) <= chosen and set(inside) & where:
                    add((inside[0], inside[1]), f"{rule.name}: the only hosts of {d}")
    for s, where in sorted(runs.items()):
        if len(where) == 2 and where <= chosen:
            a, b = sorted(where)
            add((a, b), f"service {s} runs on these two only")
    return [Conflict(a, b, r) for (a, b), r in sorted(found.items())]


def _colouring(hosts: list[str], edges: list[Conflict]) -> tuple[str, list[list[str]]]:
    g = nx.Graph()
    g.add_nodes_from(hosts)
    g.add_edges_from((c.a, c.b) for c in edges)
    best: tuple[str, list[list[str]]] | None = None
    for strategy in STRATEGIES:
        colour = nx.greedy_color(g, strategy=strategy)
        groups: dict[int, list[str]] = {}
        for h in hosts:
            groups.setdefault(colour[h], []).append(h)
        ordered = sorted(groups.values(), key=lambda hs: (-len(hs), hs[0]))
        if best is None or len(ordered) < len(best[1]):
            best = (strategy, ordered)
    assert best is not None
    return best


def _covers(fleet: Fleet, hosts: list[str]) -> str | None:
    """Why draining `hosts` together would leave a service with no member running; None
    when it would not."""
    chosen = set(hosts)
    for s, members in sorted(fleet.members.items()):
        where = {fleet.where(m) for m in members} - {None}
        if len(where) > 1 and where <= chosen:
            return f"service {s} runs on these hosts only"
    return None


def _plan(fleet: Fleet, hosts: list[str]) -> tuple[list[Move] | None, str]:
    """The group's drain plan, or None and why it cannot be drained together."""
    why = _covers(fleet, hosts)
    if why is not None and len(hosts) > 1:
        return None, why
    moves = place(fleet, hosts, full=False)
    undo(fleet, moves)
    stuck = [m.stuck for m in moves if m.stuck is not None]
    if stuck:
        return None, stuck[0]
    return moves, ""


def rolling(
    store: Store, policy: Policy, at: datetime, selector: str | None = None
) -> RollingAnswer:
    """The hosts `selector` names (default: all) in ordered groups drained together."""
    fleet = Fleet(store, policy, at)
    hosts = select(fleet, selector)
    edges = conflicts(fleet, hosts)
    strategy, coloured = _colouring(hosts, edges)
    pending = list(coloured)
    done: list[tuple[list[str], list[Move]]] = []
    while pending:
        group = pending.pop(0)
        moves, why = _plan(fleet, group)
        if moves is not None:
            done.append((group, moves))
            continue
        if len(group) == 1:
            name = fleet.hosts[group[0]].name
            raise Unsafe(f"cannot drain {name} safely: {why}")
        half = (len(group) + 1) // 2
        pending[:0] = [group[:half], group[half:]]
    groups = [Group(i, hs, ms) for i, (hs, ms) in enumerate(done, 1)]
    return RollingAnswer(at, capacity(policy), strategy, len(coloured), groups, edges)
