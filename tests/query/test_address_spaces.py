"""Addresses live in address spaces: one address held in two namespaces is two entities.

A real fabric: clients `a` and `b` on two bridges of a switch namespace `s`,
joined by a router namespace `r`, and a namespace `c` on no bridge at all
that holds the same address as `a` (10.78.1.10/24), as two tenants would. It
is recorded by the real netlink collector. The address must be two entities;
`where` must refuse the bare address (CLI and API alike, naming both holders)
and answer it qualified; the path from `b` must reach `a`'s through the
router, in `a`'s space. Every name starts with `vts`; all is removed after.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stores import STORES, location
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.ids import ip_id, netns_id, port_id, router_id
from vtrail.query.graph import topology
from vtrail.query.names import HeldInSeveralSpaces
from vtrail.query.path import path
from vtrail.query.state import where
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, UnknownEntity, open_store
from vtrail.store.reads.graph import GraphReader
from vtrail.timeexpr import iso

SKIP = None
if os.geteuid() != 0:
    SKIP = "needs root to create network namespaces, bridges and veth pairs"
elif shutil.which("ip") is None:
    SKIP = "needs iproute2's `ip`"
elif subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode:
    SKIP = "`ip netns` does not work here"

pytestmark = [pytest.mark.root, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

TWICE = "10.78.1.10"


def sh(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


@dataclass(frozen=True)
class Recorded:
    db: str
    at: datetime
    a: str
    b: str
    c: str
    r: str


def build(a: str, b: str, c: str, r: str, s: str) -> None:
    for ns in (a, b, c, r, s):
        sh("ip", "netns", "add", ns)
    for br in ("br1", "br2"):
        sh("ip", "-n", s, "link", "add", br, "type", "bridge")
        sh("ip", "-n", s, "link", "set", br, "up")
    legs = [
        (a, "eth0", "a-p", "br1", f"{TWICE}/24"),
        (r, "r1", "r1-p", "br1", "10.78.1.1/24"),
        (r, "r2", "r2-p", "br2", "10.78.2.1/24"),
        (b, "eth0", "b-p", "br2", "10.78.2.20/24"),
    ]
    for ns, inner, outer, br, addr in legs:
        sh("ip", "-n", s, "link", "add", outer, "type", "veth", "peer", inner, "netns", ns)
        sh("ip", "-n", s, "link", "set", outer, "master", br, "up")
        sh("ip", "-n", ns, "addr", "add", addr, "dev", inner)
        sh("ip", "-n", ns, "link", "set", inner, "up")
    sh("ip", "-n", a, "route", "add", "default", "via", "10.78.1.1")
    sh("ip", "-n", b, "route", "add", "default", "via", "10.78.2.1")
    sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # Another tenant: the same address, on a link of its own.
    sh("ip", "-n", c, "link", "add", "c0", "type", "veth", "peer", "name", "c1")
    sh("ip", "-n", c, "addr", "add", f"{TWICE}/24", "dev", "c0")
    sh("ip", "-n", c, "link", "set", "c0", "up")


@pytest.fixture(scope="module", params=STORES)
def fabric(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Recorded]:
    from vtrail.collectors.netlink import NetlinkCollector

    tag = "vts" + secrets.token_hex(2)
    a, b, c, r, s = (f"{tag}{x}" for x in "abcrs")
    try:
        build(a, b, c, r, s)
        db = location(request, request.param, tmp_path_factory.mktemp("spaces") / "vtrail.db")
        store = open_store(db)
        observations = []
        for ns in (a, b, c, r, s):
            collector = NetlinkCollector(ns, hostname="vts-test")
            try:
                observations.append(collector.snapshot())
            finally:
                collector.close()
        Recorder(store).record(observations)
        store.close()
        yield Recorded(db, datetime.now(UTC), a, b, c, r)
    finally:
        for ns in (a, b, c, r, s):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def store(fabric: Recorded) -> Iterator[SqliteStore]:
    st = open_store(fabric.db, readonly=True)
    yield st
    st.close()


def test_one_address_in_two_namespaces_is_two_entities(
    fabric: Recorded, store: SqliteStore
) -> None:
    found = GraphReader(store).ever_with_prefix(f"ip:{TWICE}@")
    assert found == sorted([ip_id(TWICE, fabric.a), ip_id(TWICE, fabric.c)])


def test_where_refuses_an_address_held_twice_and_names_both(
    fabric: Recorded, store: SqliteStore
) -> None:
    with pytest.raises(HeldInSeveralSpaces) as refused:
        where(store, TWICE, fabric.at)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{TWICE} was held in 2 address spaces at {iso(fabric.at)}" in message
    assert port_id(fabric.a, "eth0") in message and port_id(fabric.c, "c0") in message
    assert f"{TWICE}@<space>" in message

    done = CliRunner().invoke(cli, ["where", TWICE, "--at", iso(fabric.at), "--db", str(fabric.db)])
    assert done.exit_code != 0
    assert done.output.strip() == f"error: {message}"

    with TestClient(create_app(Settings(db=fabric.db))) as client:
        got = client.get("/api/where", params={"what": TWICE, "at": iso(fabric.at)})
        assert got.status_code == 409
        assert got.json() == {"detail": message}
        picked = client.get(
            "/api/where", params={"what": TWICE, "at": iso(fabric.at), "space": fabric.c}
        )
        assert picked.status_code == 200 and picked.json()["entity"] == port_id(fabric.c, "c0")


def test_a_space_picks_one(fabric: Recorded, store: SqliteStore) -> None:
    in_c = where(store, f"{TWICE}@{fabric.c}", fabric.at)
    assert in_c.entity == port_id(fabric.c, "c0")
    assert in_c.addresses == [ip_id(TWICE, fabric.c)]
    in_a = where(store, TWICE, fabric.at, space=fabric.a)
    assert in_a.entity == port_id(fabric.a, "eth0")
    with pytest.raises(UnknownEntity, match="never held"):
        where(store, TWICE, fabric.at, space=fabric.b)
    # An address held once needs no space.
    assert where(store, "10.78.2.20", fabric.at).entity == port_id(fabric.b, "eth0")

    done = CliRunner().invoke(
        cli,
        ["where", TWICE, "--space", fabric.c, "--at", iso(fabric.at), "--db", str(fabric.db)],
    )
    assert done.exit_code == 0 and port_id(fabric.c, "c0") in done.output


def test_the_path_crosses_the_router_into_the_space_it_names(
    fabric: Recorded, store: SqliteStore
) -> None:
    with pytest.raises(HeldInSeveralSpaces):
        path(store, fabric.b, TWICE, fabric.at)
    p = path(store, fabric.b, f"{TWICE}@{fabric.a}", fabric.at)
    assert p.reachable, p.reason
    hops = [h.entity for h in p.hops]
    assert hops[0] == netns_id(fabric.b)
    assert router_id(fabric.r) in hops
    assert hops[-2:] == [port_id(fabric.a, "eth0"), netns_id(fabric.a)]
    assert p.b == ip_id(TWICE, fabric.a)
    # c holds the same address but no router reaches it.
    lonely = path(store, fabric.b, f"{TWICE}@{fabric.c}", fabric.at)
    assert not lonely.reachable
    assert port_id(fabric.c, "c0") not in [h.entity for h in lonely.hops]
    # And the way back from a, by namespace, to b's address.
    back = path(store, fabric.a, "10.78.2.20", fabric.at)
    assert back.reachable and router_id(fabric.r) in [h.entity for h in back.hops]


def test_topology_draws_each_address_in_its_namespace(fabric: Recorded, store: SqliteStore) -> None:
    nodes = {n.id: n for n in topology(store, fabric.at).nodes}
    assert nodes[ip_id(TWICE, fabric.a)].group == netns_id(fabric.a)
    assert nodes[ip_id(TWICE, fabric.c)].group == netns_id(fabric.c)
    assert nodes[ip_id("10.78.1.1", fabric.r)].group == router_id(fabric.r)
