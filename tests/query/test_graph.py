"""Topology at T over the demo story (tests/api/story.py): groups, ghosts, narrowing, DOT."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.story import APP, DB, GHOST, ROUTER, WEB, WEB_NIC, at, record_story
from stores import STORES, location
from vtrail.query.graph import BadGraphQuery, fabric, to_dot, topology
from vtrail.query.jsonable import fields_json, to_jsonable, topology_json
from vtrail.store import Store, UnknownEntity, open_store


@pytest.fixture(scope="module", params=STORES)
def story(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    where = location(request, request.param, tmp_path_factory.mktemp("story") / "vtrail.db")
    record_story(where)
    store = open_store(where, readonly=True)
    yield store
    store.close()


def nodes(store: Store, minute: float) -> dict[str, object]:
    return {n.id: n for n in topology(store, at(minute)).nodes}


def test_a_migrated_vm_sits_in_the_box_of_the_host_it_ran_on(story: Store) -> None:
    before, after = nodes(story, 2), nodes(story, 12)
    assert before[WEB].group == "host:hv-a"  # type: ignore[attr-defined]
    assert after[WEB].group == "host:hv-b"  # type: ignore[attr-defined]
    # Its NIC and address travel with it; the router's ports stay in the router's box.
    assert after[WEB_NIC].group == "host:hv-b"  # type: ignore[attr-defined]
    assert after["ip:10.0.1.10"].group == "host:hv-b"  # type: ignore[attr-defined]
    assert after["port:rtr/r-web"].group == ROUTER  # type: ignore[attr-defined]
    assert after[DB].group == "host:hv-a"  # type: ignore[attr-defined]


def test_the_ghost_bridge_is_there_only_inside_its_lifetime(story: Store) -> None:
    assert GHOST not in nodes(story, 4.9)
    assert GHOST in nodes(story, 5)
    assert GHOST in nodes(story, 6.5)
    assert GHOST not in nodes(story, 7)


def test_edges_are_the_relations_live_at_t(story: Store) -> None:
    t = topology(story, at(25))
    edges = {(e.src, e.rel, e.dst) for e in t.edges}
    assert ("port:hv-b/vnet1", "port_of", "bridge:hv-b/br-iso") in edges
    assert ("port:hv-b/vnet1", "port_of", "bridge:hv-b/br-web") not in edges
    assert (WEB, "runs_on", "host:hv-b") in edges
    # Routes are the interfaces' own (their `routes` attribute), not edges.
    assert not [e for e in t.edges if e.rel == "routes"]
    uplink = next(n for n in t.nodes if n.id == "port:rtr/uplink")
    assert uplink.attrs["routes"] == [{"dst": "0.0.0.0/0", "via": "192.0.2.1", "metric": 100}]
    assert t.counts["vm"] == 3 and t.counts["edges"] == len(t.edges)


def test_around_narrows_to_a_neighbourhood(story: Store) -> None:
    t = topology(story, at(2), around="web-1", depth=1)
    assert t.around == WEB
    assert {n.id for n in t.nodes} == {WEB, WEB_NIC, "host:hv-a"}
    wider = {n.id for n in topology(story, at(2), around=WEB, depth=3).nodes}
    assert "bridge:hv-a/br-web" in wider and APP not in wider
    only_bridges = topology(story, at(2), kind="bridge")
    kinds = {n.kind for n in only_bridges.nodes}
    assert kinds == {"bridge", "port"}  # bridges and what touches them


def test_bad_narrowing_is_refused(story: Store) -> None:
    with pytest.raises(BadGraphQuery, match="depth"):
        topology(story, at(2), around=WEB, depth=11)
    with pytest.raises(UnknownEntity, match="nope"):
        topology(story, at(2), around="nope")
    with pytest.raises(UnknownEntity, match="was not part of the fabric"):
        topology(story, at(2), around=GHOST)


def test_the_fast_json_is_the_generic_json(story: Store) -> None:
    t = topology(story, at(6))
    assert to_jsonable(t) == topology_json(t) == fields_json(t)


def test_fabric_is_a_networkx_graph(story: Store) -> None:
    g = fabric(story, at(12))
    assert g.nodes[WEB]["group"] == "host:hv-b"
    assert g.has_edge(WEB, "host:hv-b", key="runs_on")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_dot_output_renders_with_graphviz(story: Store, tmp_path: Path) -> None:
    source = to_dot(topology(story, at(6)))
    assert 'label="host:hv-a"' in source and GHOST in source
    for fmt in ("svg", "plain"):
        done = subprocess.run(
            ["dot", f"-T{fmt}"],
            input=source,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
    # The plain format lists every laid-out node by name.
    assert f'node "{GHOST}"' in done.stdout and f'node "{WEB}"' in done.stdout
