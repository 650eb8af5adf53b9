"""The demo story as observations: what the graph, API and browser tests record.

Forty minutes of a small fabric, one snapshot a minute from each host:

- hv-a has two bridges, `br-web` (10.0.1.0/24) and `br-db` (10.0.2.0/24), joined
  by the router namespace `rtr` (veth pairs v-web/r-web and v-db/r-db), whose
  table also has a default route, so that picking the /24 is a real longest
  prefix match. `br-web` is stretched to hv-b over a tunnel port (`vx-web`).
- web-1 (10.0.1.10) starts on hv-a, is paused at minute 9 and runs on hv-b from
  minute 10; at minute 20 its NIC is moved to `br-iso` on hv-b, a bridge with no
  uplink, and at minute 30 back to `br-web`.
- db-1 (10.0.2.20) stays on hv-a; app-2 (10.0.1.11) runs on hv-b.
- The ghost: bridge `br-tmp` on hv-a lives from minute 5 to minute 7 and
  carries traffic through its port `tmp0` meanwhile.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from vtrail.policy.load import load_policy
from vtrail.recording.ingest import ingest_lines
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.timeexpr import iso
from vtrail.triage import policy_at
from vtrail.triage.derive import derivers

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
MINUTES = 40
#: The story's policy: services, domains, rules and a probe over its fabric.
STORY_POLICY = Path(__file__).resolve().parent / "story-policy.yaml"
WEB = "vm:11111111-1111-4111-8111-111111111111"
DB = "vm:22222222-2222-4222-8222-222222222222"
APP = "vm:33333333-3333-4333-8333-333333333333"
WEB_NIC = f"nic:{WEB[3:]}/52:54:00:00:01:10"
DB_NIC = f"nic:{DB[3:]}/52:54:00:00:02:20"
APP_NIC = f"nic:{APP[3:]}/52:54:00:00:01:11"
GHOST = "bridge:hv-a/br-tmp"
ROUTER = "router:rtr"


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def _ent(eid: str, **attrs: Any) -> dict[str, Any]:
    return {"id": eid, "attrs": attrs}


def _rel(src: str, rel: str, dst: str, **attrs: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"src": src, "rel": rel, "dst": dst}
    if attrs:
        d["attrs"] = attrs
    return d


def _iface(
    ns: str,
    name: str,
    bridge: str | None = None,
    peer: str | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> tuple:
    pid = f"port:{ns}/{name}"
    ents = [_ent(pid, ifname=name, netns=ns, **({"routes": routes} if routes else {}))]
    rels = []
    if bridge:
        rels.append(_rel(pid, "port_of", f"bridge:{ns}/{bridge}"))
    if peer:
        rels.append(_rel(pid, "peer", peer))
    return ents, rels


def _vm(vm: str, nic: str, name: str, host: str, port: str, bridge: str, ip: str, state: str):
    mac = nic.rsplit("/", 1)[1]
    ents = [
        _ent(vm, name=name, uuid=vm[3:], state=state, vcpus=2, memory_kib=2097152),
        _ent(nic, mac=mac, model="virtio", bridge=bridge, target=port),
        _ent(f"port:{host}/{port}", ifname=port, mac=mac),
        _ent(f"ip:{ip}", prefixlen=24, family="inet"),
    ]
    rels = [
        _rel(vm, "runs_on", f"host:{host}"),
        _rel(vm, "has_nic", nic),
        _rel(nic, "plugged_into", f"port:{host}/{port}"),
        _rel(f"port:{host}/{port}", "port_of", f"bridge:{host}/{bridge}"),
        _rel(nic, "has_address", f"ip:{ip}"),
    ]
    return ents, rels


def _hv_a(m: int) -> tuple[list, list, list]:
    ents = [
        _ent("host:hv-a", hostname="hv-a", cpus=32, memory_mib=262144, hypervisor="qemu"),
        _ent("bridge:hv-a/br-web", name="br-web", stp=False),
        _ent("bridge:hv-a/br-db", name="br-db", stp=False),
        _ent(ROUTER, name="rtr", ip_forward=True),
        _ent("ip:10.0.1.1", prefixlen=24, family="inet"),
        _ent("ip:10.0.2.1", prefixlen=24, family="inet"),
        _ent("ip:192.0.2.2", prefixlen=30, family="inet"),
        _ent("net:10.0.1.0/24", prefix="10.0.1.0/24"),
        _ent("net:10.0.2.0/24", prefix="10.0.2.0/24"),
    ]
    rels = [
        _rel("port:rtr/r-web", "has_address", "ip:10.0.1.1"),
        _rel("port:rtr/r-db", "has_address", "ip:10.0.2.1"),
        _rel("port:rtr/uplink", "has_address", "ip:192.0.2.2"),
    ]
    # The router's table, each route on the interface it leaves by (as netlink records it).
    table = {
        "r-web": [{"dst": "10.0.1.0/24", "via": None, "metric": 0}],
        "r-db": [{"dst": "10.0.2.0/24", "via": None, "metric": 0}],
        "uplink": [{"dst": "0.0.0.0/0", "via": "192.0.2.1", "metric": 100}],
    }
    for ns, name, bridge, peer in (
        ("hv-a", "v-web", "br-web", "port:rtr/r-web"),
        ("rtr", "r-web", None, None),
        ("hv-a", "v-db", "br-db", "port:rtr/r-db"),
        ("rtr", "r-db", None, None),
        ("rtr", "uplink", None, None),
        ("hv-a", "vx-web", "br-web", "port:hv-b/vx-web"),
    ):
        e, r = _iface(ns, name, bridge, peer, table.get(name) if ns == "rtr" else None)
        ents += e
        rels += r
    samples = []
    if m < 10:
        state = "paused" if m == 9 else "running"
        e, r = _vm(WEB, WEB_NIC, "web-1", "hv-a", "vnet0", "br-web", "10.0.1.10", state)
        ents += e
        rels += r
        samples.append({"entity": "port:hv-a/vnet0", "metric": "tx_bytes", "value": 1500 * m * 60})
    e, r = _vm(DB, DB_NIC, "db-1", "hv-a", "vnet1", "br-db", "10.0.2.20", "running")
    ents += e
    rels += r
    if 5 <= m < 7:
        ents += [_ent(GHOST, name="br-tmp", stp=False), _ent("port:hv-a/tmp0", ifname="tmp0")]
        rels.append(_rel("port:hv-a/tmp0", "port_of", GHOST))
        sent = 40_000_000 * (m - 4)
        samples += [
            {"entity": GHOST, "metric": "tx_bytes", "value": sent},
            {"entity": "port:hv-a/tmp0", "metric": "rx_bytes", "value": sent},
        ]
    for port, rate in (("port:hv-a/vnet1", 900), ("port:rtr/r-web", 1200), ("port:rtr/r-db", 1100)):
        samples.append({"entity": port, "metric": "tx_bytes", "value": rate * m * 60})
        samples.append({"entity": port, "metric": "rx_bytes", "value": rate * m * 45})
    return ents, rels, samples


def _hv_b(m: int) -> tuple[list, list, list]:
    ents = [
        _ent("host:hv-b", hostname="hv-b", cpus=32, memory_mib=262144, hypervisor="qemu"),
        _ent("bridge:hv-b/br-web", name="br-web", stp=False),
    ]
    e, rels = _iface("hv-b", "vx-web", "br-web")
    ents += e
    e, r = _vm(APP, APP_NIC, "app-2", "hv-b", "vnet0", "br-web", "10.0.1.11", "running")
    ents += e
    rels += r
    samples = []
    if m >= 20:
        ents.append(_ent("bridge:hv-b/br-iso", name="br-iso", stp=False))
    if m >= 10:
        bridge = "br-iso" if 20 <= m < 30 else "br-web"
        e, r = _vm(WEB, WEB_NIC, "web-1", "hv-b", "vnet1", bridge, "10.0.1.10", "running")
        ents += e
        rels += r
        samples.append({"entity": "port:hv-b/vnet1", "metric": "tx_bytes", "value": 1500 * m * 60})
    samples.append({"entity": "port:hv-b/vnet0", "metric": "tx_bytes", "value": 700 * m * 60})
    return ents, rels, samples


def story_lines() -> list[str]:
    lines = []
    for m in range(MINUTES + 1):
        for host, part in (("hv-a", _hv_a), ("hv-b", _hv_b)):
            ents, rels, samples = part(m)
            lines.append(
                json.dumps(
                    {
                        "source": f"story@{host}",
                        "observed_at": iso(at(m)),
                        "kind": "snapshot",
                        "entities": ents,
                        "relations": rels,
                        "samples": samples,
                    }
                )
            )
    return lines


_P = TypeVar("_P", Path, str)


def record_story(path: _P) -> _P:
    """Record the story into the store at `path` (a file, or a PostgreSQL URL)."""
    store = open_store(path)
    try:
        ingest_lines(store, story_lines())
    finally:
        store.close()
    return path


def apply_story_policy(path: str | Path, minute: float = 1, *, derived: bool = False) -> None:
    """Record the story's policy in force from `minute` on into the store at `path`;
    `derived`: membership derived from then on too, as `vtrail policy apply` and PUT
    /api/policy record it."""
    store = open_store(path)
    try:
        if derived:
            store.derivers = derivers()
        recorder = Recorder(store)
        policy_at.apply(
            store, load_policy(STORY_POLICY), at(minute), lambda o: recorder.record([o])
        )
    finally:
        store.close()
