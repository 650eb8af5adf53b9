"""The fabric as a graph at an instant: `topology`, its neighbourhoods, and Graphviz output.

Nodes are the entities live at T (hosts, VMs, NICs, ports, bridges, veth
peers, OVS bridges, routers, networks, addresses); edges are the relations
live at T. Each node carries a `group`: the host or network namespace it lives
in, which is what makes a drawing read like a network diagram (a VM sits in
the box of the host it ran on at T, a veth end in the box of its namespace).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import networkx as nx

from vtrail.ids import INTERFACE_KINDS, host_id, namespace_of, netns_id, router_id
from vtrail.model import JSONValue, split_id
from vtrail.query.names import resolve_one
from vtrail.query.state import check_kind
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.graph import EdgeRow, GraphReader, NodeRow
from vtrail.timeexpr import from_us, iso, to_us

#: Kinds whose natural key is `<namespace>/<ifname>`.
NAMESPACED = INTERFACE_KINDS
MAX_DEPTH = 10


class BadGraphQuery(ValueError):
    """A topology narrowing that cannot be answered (depth out of range, kind unknown)."""


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str
    label: str
    #: The host or namespace it lives in at T; `netns:<name>` for a namespace
    #: that is not itself a recorded entity.
    group: str | None
    #: When its current version began; None for an entity only ever named by a
    #: relation (a `runs_on` to a host no source describes).
    since: datetime | None
    attrs: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    rel: str
    dst: str
    attrs: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Topology:
    at: datetime
    around: str | None
    depth: int | None
    kind: str | None
    counts: dict[str, int]
    nodes: list[Node]
    edges: list[Edge]


# -- labels and groups -----------------------------------------------------------


def label(eid: str, kind: str, attrs: dict[str, JSONValue]) -> str:
    key = eid.split(":", 1)[1]
    name = attrs.get("name")
    if kind == "vm":
        return str(name) if name else key[:8]
    if kind in NAMESPACED or kind == "nic":
        return key.rsplit("/", 1)[-1]
    if kind == "ip":
        # Drawn with what holds it: its space goes without saying.
        return key.partition("@")[0]
    return str(name) if isinstance(name, str) and kind not in ("ip", "net") else key


@dataclass(frozen=True, slots=True)
class Places:
    """What `place` needs to know of the fabric at T, as lookups: the topology answers
    them from the nodes and edges it holds, a path walk by reading what it crosses."""

    #: The kind of an entity (what its id says).
    kind_of: Callable[[str], str]
    #: The entity is part of the fabric at T.
    exists: Callable[[str], bool]
    #: The host a VM ran on (`runs_on`).
    host_of: Callable[[str], str | None]
    #: The VM a NIC belongs to (`has_nic`).
    vm_of: Callable[[str], str | None]
    #: What holds an address (`has_address`).
    holder_of: Callable[[str], str | None]


def place(eid: str, at: Places) -> str | None:
    """The host or namespace `eid` lives in at T: a VM the host it ran on, a NIC or an
    address that of what held it, an interface its namespace (the host's when it is a
    host's root namespace, else its router, else `netns:<ns>`), a router the host whose
    root namespace it is; None when nothing says."""
    kind = at.kind_of(eid)
    for _ in range(2):  # an address → its NIC → its VM
        up = at.vm_of(eid) if kind == "nic" else at.holder_of(eid) if kind == "ip" else None
        if up is None:
            break
        eid, kind = up, at.kind_of(up)
    if kind == "vm":
        return at.host_of(eid)
    if kind not in NAMESPACED and kind not in ("router", "netns"):
        return None
    ns = namespace_of(eid)
    if ns is None:
        return None
    candidates = (host_id(ns), router_id(ns)) if kind in NAMESPACED else (host_id(ns),)
    found = next((c for c in candidates if at.exists(c)), None)
    return found or (netns_id(ns) if kind in NAMESPACED else None)


def _groups(kinds: dict[str, str], edges: list[EdgeRow]) -> dict[str, str]:
    """Which host or namespace each node lives in, from the ids and the edges at T."""
    host: dict[str, str] = {}
    vm_of_nic: dict[str, str] = {}
    owner: dict[str, str] = {}
    for e in edges:
        if e.rel == "runs_on" and kinds.get(e.src) == "vm":
            host[e.src] = e.dst
        elif e.rel == "has_nic":
            vm_of_nic[e.dst] = e.src
        elif e.rel == "has_address":
            owner[e.dst] = e.src
    at = Places(kinds.__getitem__, kinds.__contains__, host.get, vm_of_nic.get, owner.get)
    out = {}
    for eid in kinds:
        group = place(eid, at)
        if group is not None:
            out[eid] = group
    return out


# -- the questions ----------------------------------------------------------------


def _build(rows: list[NodeRow], edges: list[EdgeRow]) -> tuple[list[Node], list[Edge]]:
    """Typed nodes and edges from the rows live at T, sorted by id.

    An entity only named by a relation (a `runs_on` to a host no source
    describes) is a node too, with no attributes and no `since`.
    """
    kinds = {r.eid: r.kind for r in rows}
    for e in edges:
        for end in (e.src, e.dst):
            if end not in kinds:
                kinds[end] = split_id(end)[0]
    groups = _groups(kinds, edges)
    nodes = []
    for r in rows:
        attrs: dict[str, JSONValue] = r.attrs
        nodes.append(
            Node(
                r.eid,
                r.kind,
                label(r.eid, r.kind, attrs),
                groups.get(r.eid),
                from_us(r.valid_from),
                attrs,
            )
        )
    described = {r.eid for r in rows}
    for eid, kind in kinds.items():
        if eid not in described:
            nodes.append(Node(eid, kind, label(eid, kind, {}), groups.get(eid), None, {}))
    nodes.sort(key=lambda n: n.id)
    out = [Edge(e.src, e.rel, e.dst, json.loads(e.attrs) if e.attrs != "{}" else {}) for e in edges]
    out.sort(key=lambda e: (e.src, e.rel, e.dst))
    return nodes, out


def graph_of(nodes: list[Node], edges: list[Edge]) -> nx.MultiDiGraph:
    """A networkx graph of a topology: node attributes `kind`, `label`, `group`, `since`,
    `attrs`; one edge per relation, keyed by its name, with its `attrs`."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(
        (
            n.id,
            {
                "kind": n.kind,
                "label": n.label,
                "group": n.group,
                "since": n.since,
                "attrs": n.attrs,
            },
        )
        for n in nodes
    )
    g.add_edges_from((e.src, e.dst, e.rel, {"attrs": e.attrs}) for e in edges)
    return g


def fabric(store: Store, at: datetime) -> nx.MultiDiGraph:
    """The whole fabric at `at` as a networkx graph (see `graph_of`)."""
    return graph_of(*_build(*GraphReader(store).live(to_us(at))))


def topology(
    store: Store,
    at: datetime,
    around: str | None = None,
    depth: int = 2,
    kind: str | None = None,
) -> Topology:
    """The fabric at `at`, whole, within `depth` hops of `around`, or narrowed to one kind
    (its entities, their relations and the entities at the other end)."""
    if around is not None and not 0 <= depth <= MAX_DEPTH:
        raise BadGraphQuery(f"depth must be between 0 and {MAX_DEPTH}, not {depth}")
    check_kind(store, kind)
    center = resolve_one(store, around) if around is not None else None
    nodes, edges = _build(*GraphReader(store).live(to_us(at)))
    keep: set[str] | None = None
    if center is not None:
        # Hops count along relations either way: networkx's undirected view of the fabric.
        g = nx.Graph()
        g.add_nodes_from(n.id for n in nodes)
        g.add_edges_from((e.src, e.dst) for e in edges)
        if center not in g:
            raise UnknownEntity(f"{center} was not part of the fabric at {iso(at)}")
        keep = set(nx.single_source_shortest_path_length(g, center, depth))
    if kind is not None:
        own = {n.id for n in nodes if n.kind == kind and (keep is None or n.id in keep)}
        near = {x for e in edges if e.src in own or e.dst in own for x in (e.src, e.dst)}
        keep = own | (near if keep is None else near & keep)
    if keep is not None:
        nodes = [n for n in nodes if n.id in keep]
        edges = [e for e in edges if e.src in keep and e.dst in keep]
    counts = dict(sorted(Counter(n.kind for n in nodes).items()))
    counts["edges"] = len(edges)
    return Topology(at, center, depth if around is not None else None, kind, counts, nodes, edges)


# -- Graphviz -------------------------------------------------------------------------

_SHAPES: dict[str, str] = {
    "host": 'shape=box3d, fillcolor="#e8eef7"',
    "vm": 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    "nic": 'shape=ellipse, fillcolor="#f1f5f9", fontsize=9',
    "port": 'shape=box, fillcolor="#f8fafc", fontsize=9, height=0.3',
    "bridge": 'shape=hexagon, fillcolor="#dcfce7"',
    "router": 'shape=octagon, fillcolor="#fde68a"',
    "ip": 'shape=note, fillcolor="#ffffff", fontsize=9',
    "net": 'shape=component, fillcolor="#f3e8ff"',
}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(t: Topology) -> str:
    """Graphviz source: one cluster per host or namespace, shapes by kind."""
    title = _q(f"fabric at {iso(t.at)}")
    lines = [
        "digraph vtrail {",
        f"  graph [rankdir=LR, fontname=Helvetica, labelloc=t, label={title}];",
        '  node [fontname=Helvetica, fontsize=10, style=filled, fillcolor="#ffffff"];',
        '  edge [fontname=Helvetica, fontsize=8, color="#64748b"];',
    ]
    by_group: dict[str | None, list[Node]] = {}
    groups = {n.group for n in t.nodes}
    for n in t.nodes:
        # A host or router is drawn inside the cluster it names.
        by_group.setdefault(n.id if n.id in groups else n.group, []).append(n)

    def node_line(n: Node) -> str:
        shape = _SHAPES.get(n.kind, "shape=box")
        text = f"{n.label}\n{n.kind}" if n.kind in ("host", "router", "bridge") else n.label
        return f"    {_q(n.id)} [label={_q(text)}, {shape}];"

    for i, (group, members) in enumerate(sorted(by_group.items(), key=lambda kv: kv[0] or "")):
        if group is None:
            lines.extend(node_line(n) for n in members)
            continue
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label={_q(group)}; style=rounded; color="#94a3b8";')
        lines.extend(node_line(n) for n in members)
        lines.append("  }")
    for e in t.edges:
        style = ", style=dashed" if e.rel in ("peer", "has_address") else ""
        tail = ", dir=none" if e.rel == "peer" else ""
        lines.append(f"  {_q(e.src)} -> {_q(e.dst)} [label={_q(e.rel)}{style}{tail}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
