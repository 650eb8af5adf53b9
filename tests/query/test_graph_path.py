"""Path at T over the demo story, and the routing rules on small hand-made fabrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.story import DB, DB_NIC, GHOST, WEB, WEB_NIC, at, record_story
from stores import STORES, location
from vtrail.query.graph import topology
from vtrail.query.path import BadPath, compare, path
from vtrail.recording.ingest import ingest_lines
from vtrail.store import Store, UnknownEntity, open_store, store_files


@pytest.fixture(scope="module", params=STORES)
def story(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    where = location(request, request.param, tmp_path_factory.mktemp("story") / "vtrail.db")
    record_story(where)
    store = open_store(where, readonly=True)
    yield store
    store.close()


def ids(answer: Any) -> list[str]:
    return [h.entity for h in answer.hops]


BEFORE = [
    WEB,
    WEB_NIC,
    "port:hv-a/vnet0",
    "bridge:hv-a/br-web",
    "port:hv-a/v-web",
    "port:rtr/r-web",
    "router:rtr",
    "port:rtr/r-db",
    "port:hv-a/v-db",
    "bridge:hv-a/br-db",
    "port:hv-a/vnet1",
    DB_NIC,
    DB,
]


def test_path_between_two_vms_crosses_the_router(story: Store) -> None:
    p = path(story, "web-1", "db-1", at(2))
    assert p.reachable and p.reason is None and p.broken_at is None
    assert ids(p) == BEFORE
    assert [h.via for h in p.hops][:4] == [None, "has_nic", "plugged_into", "port_of"]
    assert (p.src_address, p.dst_address) == ("10.0.1.10/24", "10.0.2.20/24")
    (route,) = p.routes
    # The /24 wins over the default route: longest prefix, not order or metric.
    assert (route.router, route.prefix, route.dev, route.gateway) == (
        "router:rtr",
        "10.0.2.0/24",
        "r-db",
        None,
    )
    assert route.connected and route.candidates == 2


def test_after_the_migration_the_path_crosses_the_tunnel(story: Store) -> None:
    p = path(story, WEB, DB, at(12))
    assert p.reachable
    assert ids(p)[2:7] == [
        "port:hv-b/vnet1",
        "bridge:hv-b/br-web",
        "port:hv-b/vx-web",
        "port:hv-a/vx-web",
        "bridge:hv-a/br-web",
    ]
    assert p.hops[5].via == "peer" and p.hops[0].group == "host:hv-b"


def test_compare_shows_what_the_migration_changed(story: Store) -> None:
    c = compare(story, "web-1", "db-1", at(2), at(12))
    assert c.changed
    assert c.diverged_after == WEB_NIC
    assert c.removed == ["port:hv-a/vnet0"]
    assert c.added == [
        "port:hv-b/vnet1",
        "bridge:hv-b/br-web",
        "port:hv-b/vx-web",
        "port:hv-a/vx-web",
    ]
    same = compare(story, "web-1", "db-1", at(12), at(15))
    assert not same.changed and same.removed == same.added == []


def test_a_nic_on_an_isolated_bridge_breaks_the_path_there(story: Store) -> None:
    p = path(story, "web-1", "db-1", at(25))
    assert not p.reachable
    assert p.broken_at == "bridge:hv-b/br-iso"
    assert ids(p)[-1] == "bridge:hv-b/br-iso"
    assert "no path at 2026-11-20T03:25:00.000Z" in (p.reason or "")
    assert "gateway in 10.0.1.0/24" in (p.reason or "")
    assert path(story, "web-1", "db-1", at(35)).reachable


def test_endpoints_may_be_ips_macs_nics_and_namespaces(story: Store) -> None:
    by_ip = path(story, "10.0.1.10", "10.0.2.20", at(2))
    assert by_ip.reachable and ids(by_ip) == BEFORE[1:-1]
    assert (by_ip.a, by_ip.b) == ("ip:10.0.1.10", "ip:10.0.2.20")
    by_mac = path(story, "52:54:00:00:01:10", DB, at(2))
    assert ids(by_mac)[0] == WEB_NIC and ids(by_mac)[-1] == DB
    from_ns = path(story, "rtr", "web-1", at(12))
    assert from_ns.reachable
    assert ids(from_ns)[:2] == ["router:rtr", "port:rtr/r-web"]
    assert ids(from_ns)[-1] == WEB
    itself = path(story, "web-1", "10.0.1.10", at(2))
    assert itself.reachable and ids(itself) == [WEB]
    # Same segment: no router in the way.
    local = path(story, "web-1", "app-2", at(12))
    assert local.reachable and local.routes == []
    assert "router:rtr" not in ids(local)


def test_an_outside_address_follows_the_default_route(story: Store) -> None:
    p = path(story, "web-1", "8.8.8.8", at(12))
    assert p.routes[-1].prefix == "0.0.0.0/0" and p.routes[-1].gateway == "192.0.2.1"
    assert not p.reachable and p.broken_at == "port:rtr/uplink"


def test_what_did_not_exist_is_said_so(story: Store) -> None:
    p = path(story, "web-1", "db-1", at(-5))
    assert not p.reachable and "did not exist" in (p.reason or "")
    ghost = path(story, "web-1", GHOST, at(12))
    assert not ghost.reachable
    with pytest.raises(UnknownEntity):
        path(story, "nope", "db-1", at(2))
    with pytest.raises(BadPath, match=r"net:10\.0\.1\.0/24 is a net"):
        path(story, "net:10.0.1.0/24", "db-1", at(2))


# -- routing rules on hand-made fabrics ------------------------------------------------

T = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def _fabric(
    tmp_path: Path,
    routes: dict[str, list[dict[str, Any]]],
    router: dict[str, Any],
    hosts: tuple[str, ...] = (),
) -> Store:
    """c (10.1.0.5) on bridge s/b1 — router r — bridges s/b2 (10.2.0.0/24) and s/b3.

    `routes` are r's, by the interface (r1, r2, r3) each leaves through, as the
    netlink collector records them; c has a default route through r. `hosts`
    are namespaces that are a host's root namespace too.
    """
    ents = [
        *({"id": f"host:{h}", "attrs": {"hostname": h}} for h in hosts),
        {"id": "router:r", "attrs": router},
        {"id": "bridge:s/b1", "attrs": {}},
        {"id": "bridge:s/b2", "attrs": {}},
        {"id": "bridge:s/b3", "attrs": {}},
    ]
    rels: list[dict[str, Any]] = []
    for ns, ifname, bridge, addr in (
        ("c", "eth0", "b1", "10.1.0.5/24"),
        ("r", "r1", "b1", "10.1.0.1/24"),
        ("r", "r2", "b2", "10.2.0.1/24"),
        ("r", "r3", "b3", "10.3.0.1/24"),
        ("d", "eth0", "b2", "10.2.0.9/24"),
        ("e", "eth0", "b3", "10.3.0.9/24"),
    ):
        port, outer = f"port:{ns}/{ifname}", f"port:s/{ns}-{ifname}"
        ip, plen = addr.split("/")
        table = routes.get(ifname, []) if ns == "r" else []
        if port == "port:c/eth0":
            table = [{"dst": "0.0.0.0/0", "via": "10.1.0.1", "metric": 0}]
        ents += [{"id": port, "attrs": {"routes": table}}, {"id": outer, "attrs": {}}]
        ents.append({"id": f"ip:{ip}", "attrs": {"prefixlen": int(plen)}})
        rels += [
            {"src": port, "rel": "peer", "dst": outer},
            {"src": outer, "rel": "port_of", "dst": f"bridge:s/{bridge}"},
            {"src": port, "rel": "has_address", "dst": f"ip:{ip}"},
        ]
    obs = {
        "source": "hand",
        "observed_at": T.isoformat(),
        "kind": "snapshot",
        "entities": ents,
        "relations": rels,
    }
    store = open_store(tmp_path / "hand.db")
    ingest_lines(store, [json.dumps(obs)])
    return store


def test_longest_prefix_beats_metric_and_metric_breaks_ties(tmp_path: Path) -> None:
    store = _fabric(
        tmp_path,
        {
            "r3": [
                {"dst": "10.0.0.0/8", "via": "10.3.0.9", "metric": 1},
                {"dst": "10.2.0.0/16", "via": "10.3.0.9", "metric": 20},
            ],
            "r2": [{"dst": "10.2.0.0/16", "metric": 10}],
        },
        {"forwarding": True},
    )
    p = path(store, "c", "10.2.0.9", T + timedelta(seconds=1))
    assert p.reachable, p.reason
    first, step = p.routes
    assert (first.router, first.dev, first.gateway) == ("netns:c", "eth0", "10.1.0.1")
    # The connected /24 of r2 is longer than every recorded route.
    assert (step.prefix, step.dev, step.connected, step.candidates) == (
        "10.2.0.0/24",
        "r2",
        True,
        4,
    )
    # Where no connected prefix covers it, the /16s tie on length and the lower metric wins.
    far = path(store, "c", "10.2.7.7", T + timedelta(seconds=1))
    assert (far.routes[1].prefix, far.routes[1].dev, far.routes[1].metric) == (
        "10.2.0.0/16",
        "r2",
        10,
    )
    store.close()


def test_blackholes_and_non_forwarding_routers_stop_traffic(tmp_path: Path) -> None:
    # A route that drops leaves by no device: any interface of the namespace carries it.
    store = _fabric(
        tmp_path, {"r1": [{"dst": "10.2.0.0/25", "type": "blackhole"}]}, {"forwarding": True}
    )
    p = path(store, "c", "10.2.0.9", T + timedelta(seconds=1))
    assert not p.reachable and p.broken_at == "router:r" and "blackhole" in (p.reason or "")
    store.close()
    for stale in store_files(tmp_path / "hand.db"):
        stale.unlink(missing_ok=True)
    store = _fabric(tmp_path, {}, {"forwarding": False})
    p = path(store, "c", "10.2.0.9", T + timedelta(seconds=1))
    assert not p.reachable and "did not forward" in (p.reason or "")
    store.close()


def test_each_hop_sits_in_the_box_the_topology_draws_it_in(tmp_path: Path) -> None:
    # r is a host's root namespace that forwards: the router lives in the host's box.
    store = _fabric(tmp_path, {}, {"forwarding": True}, hosts=("r", "s"))
    when = T + timedelta(seconds=1)
    p = path(store, "c", "10.2.0.9", when)
    assert p.reachable, p.reason
    drawn = {n.id: n.group for n in topology(store, when).nodes}
    # Every hop but the two ends (netns:c, netns:d, which are no entities) is drawn.
    on_both = [h for h in p.hops if h.entity in drawn]
    assert len(on_both) == len(p.hops) - 2
    assert [h.group for h in on_both] == [drawn[h.entity] for h in on_both]
    groups = {h.entity: h.group for h in p.hops}
    assert groups["router:r"] == "host:r"
    assert groups["port:r/r1"] == "host:r" and groups["bridge:s/b1"] == "host:s"
    assert groups["port:d/eth0"] == "netns:d"
    store.close()
