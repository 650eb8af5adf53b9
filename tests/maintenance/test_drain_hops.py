"""`plan drain` judges a `max-hops` rule on the path a moved VM would have: its NIC
plugged into the bridge of the same name on the candidate host, hops counted by the
path walk `vtrail check` uses. Worked out by hand:

                rtr-1 ──(192.0.2.0/30)── rtr-2
        10.0.1.1 │   │ 10.0.2.1              │ 10.0.1.1
   hv-a/br-web ──┘   └── hv-d/br-db          └── hv-c/br-web (an island of its own)
        │ vxlan                 │
   hv-b/br-web             db-1 10.0.2.20

web-1 (10.0.1.10, 2 vCPUs, 4,096 MiB) runs on hv-a, one router (rtr-1) from db-1 on
hv-d; the rule `near` allows 1. Draining hv-a, by most free memory first:

| host | free MiB | web-1 there | verdict |
| --- | ---: | --- | --- |
| hv-c | 65,536 | br-web of hv-c: gateway rtr-2, then rtr-1: 2 router hops | refused |
| hv-e | 32,768 | hv-e has no br-web: no path | refused |
| hv-b | 16,384 | br-web of hv-b, joined to hv-a's: rtr-1, 1 router hop | accepted |
| hv-d | 8,192 | hv-d has no br-web: no path | refused |

cache-1 on hv-a has a macvtap NIC (plugged into no bridge): `near` binds it too (it is
in service web), and is left unchecked for it, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import ent, rel, snap
from maintenance.conftest import plan_cli
from maintenance.story import SRC, host, on, record, vm
from stores import STORES, another, module_location

POLICY = """
services:
  web: {members: {kind: vm, name: "web-*"}}
  cache: {members: {kind: vm, name: "cache-*"}}
  db:  {members: {kind: vm, name: "db-*"}}
rules:
  - {name: near, max-hops: {from: web, to: db, hops: 1}}
  - {name: cache-near, max-hops: {from: cache, to: db, hops: 1}}
"""


def port(ns: str, name: str, bridge: str | None = None, peer: str | None = None) -> list[object]:
    pid = f"port:{ns}/{name}"
    out: list[object] = [ent(pid, ifname=name)]
    if bridge:
        out.append(rel(pid, "port_of", f"bridge:{ns}/{bridge}"))
    if peer:
        out.append(rel(pid, "peer", peer))
    return out


def addr(iface: str, ip: str, plen: int) -> list[object]:
    return [ent(f"ip:{ip}", prefixlen=plen, family="inet"), rel(iface, "has_address", f"ip:{ip}")]


def guest(name: str, mac: str, h: str, ip: str, bridge: str | None) -> list[object]:
    nic = f"nic:{name}/{mac}"
    items: list[object] = [
        vm(name, 2, 4096),
        on(name, h),
        ent(nic, mac=mac, bridge=bridge),
        rel(f"vm:{name}", "has_nic", nic),
        *addr(nic, ip, 24),
    ]
    if bridge:
        items += [*port(h, f"tap-{name}", bridge), rel(nic, "plugged_into", f"port:{h}/tap-{name}")]
    return items


def fabric() -> list[object]:
    route = [{"dst": "10.0.2.0/24", "via": "192.0.2.1", "metric": 0}]
    return [
        host("hv-a", 8, 16384),
        host("hv-b", 8, 16384),
        host("hv-c", 16, 65536),
        host("hv-d", 8, 16384),
        host("hv-e", 8, 32768),
        ent("router:rtr-1", ip_forward=True),
        ent("router:rtr-2", ip_forward=True),
        *port("hv-a", "v-web", "br-web", "port:rtr-1/r-web"),
        *port("hv-a", "vx", "br-web", "port:hv-b/vx"),
        *port("hv-b", "vx", "br-web"),
        *port("hv-d", "v-db", "br-db", "port:rtr-1/r-db"),
        *port("hv-c", "v-web", "br-web", "port:rtr-2/r-web"),
        *port("rtr-1", "r-web"),
        *port("rtr-1", "r-db"),
        *port("rtr-1", "t", peer="port:rtr-2/t"),
        *port("rtr-2", "r-web"),
        ent("port:rtr-2/t", ifname="t", routes=route),
        *addr("port:rtr-1/r-web", "10.0.1.1", 24),
        *addr("port:rtr-1/r-db", "10.0.2.1", 24),
        *addr("port:rtr-1/t", "192.0.2.1", 30),
        *addr("port:rtr-2/t", "192.0.2.2", 30),
        rel("port:rtr-2/r-web", "has_address", "ip:10.0.1.1"),
        *guest("web-1", "52:54:00:00:00:01", "hv-a", "10.0.1.10", "br-web"),
        *guest("cache-1", "52:54:00:00:00:03", "hv-a", "10.0.1.30", None),
        *guest("db-1", "52:54:00:00:00:02", "hv-d", "10.0.2.20", "br-db"),
    ]


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record(
        module_location(request, tmp_path_factory, "hops"),
        POLICY,
        snap(SRC, 1, *fabric()),
    )


def test_a_candidate_that_breaks_max_hops_is_refused_and_one_that_keeps_it_accepted(
    db: Path,
) -> None:
    # Where they are now, as `vtrail check` finds it: one router apart.
    code, out, err = plan_cli(db, "drain", "hv-a", "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    moves = {m["name"]: m for m in answer["vms"]}
    web = moves["web-1"]
    assert web["target"] == "host:hv-b"
    assert [c["host"] for c in web["candidates"]] == ["host:hv-b"]
    assert web["unchecked"] == []
    assert [(r["name"], r["checked"]) for r in answer["rules"]] == [
        ("cache-near", False),
        ("near", True),
    ]
    cache = moves["cache-1"]
    why = "not checked for cache-1: its NIC 52:54:00:00:00:03 is on no bridge by name"
    assert cache["unchecked"] == [f"cache-near: {why}"]
    # Unchecked, not refused: it goes where capacity alone says (the most free memory).
    assert cache["target"] == "host:hv-c"


def test_each_refusal_says_which_pair_and_why(
    request: pytest.FixtureRequest, db: Path, tmp_path: Path
) -> None:
    """With hv-b full, web-1 has nowhere to go; the line names the first refusal (the
    host with most free memory, hv-c: two routers, rtr-2 then rtr-1)."""
    full = record(
        Path(another(request, db, tmp_path / "full.db")),
        POLICY,
        snap(SRC, 1, *fabric(), vm("big-1", 8, 16384), on("big-1", "hv-b")),
    )
    code, out, err = plan_cli(full, "drain", "hv-a", "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    web = next(m for m in answer["vms"] if m["name"] == "web-1")
    assert web["target"] is None
    assert web["stuck"] == (
        "web-1 has nowhere to go: 3 hosts with 2 vCPUs and 4,096 MiB free, each breaks a "
        "rule (hv-c: near: web-1 to db-1: 2 router hops, at most 1)"
    )
