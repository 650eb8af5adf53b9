"""A probe's targets at an instant, from a real store: the service's or domain's members
then, each at its address then; entity ids and raw addresses as given."""

from __future__ import annotations

from pathlib import Path

from factory import at, ent, event, rel, snap
from vtrail.policy.load import parse_policy
from vtrail.policy.model import Probe
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.triage.derive import derivers
from vtrail.triage.probe_targets import probe_targets

POLICY = """\
services: {db: {members: {kind: vm, name: "db-*"}}}
domains: {rack-1: {hosts: [hv-a]}}
probes:
  - {name: svc, from: {netns: h-web}, to: db}
  - {name: rack, from: {netns: h-web}, to: {domain: rack-1}}
  - {name: some, from: {netns: h-web}, to: {ids: ["vm:db-2", "ip:10.0.0.9@x"]}}
  - {name: raw, from: {netns: h-web}, to: {addresses: ["10.0.0.7"]}}
"""


def vm(name: str, host: str, *addresses: str) -> list[object]:
    nic = f"nic:{name}/52:54:00:00:00:0{name[-1]}"
    out: list[object] = [
        ent(f"vm:{name}", name=name),
        ent(nic, mac="x"),
        rel(f"vm:{name}", "runs_on", f"host:{host}"),
        rel(f"vm:{name}", "has_nic", nic),
    ]
    for a in addresses:
        out += [ent(f"ip:{a}@{name}", address=a), rel(nic, "has_address", f"ip:{a}@{name}")]
    return out


def probes(tmp_path: Path) -> tuple[SqliteStore, dict[str, Probe]]:
    store = SqliteStore(tmp_path / "t.db")
    store.derivers = derivers()
    policy = parse_policy(POLICY)
    hosts = [ent("host:hv-a", hostname="hv-a"), ent("host:hv-b", hostname="hv-b")]
    rec = Recorder(store)
    rec.record([snap("lv", 0, *hosts, *vm("db-1", "hv-a", "fe80::1", "10.0.0.2", "fd00::2"))])
    rec.record([to_observation(policy, at(10))])
    # db-2 joins at 20 s on hv-b; db-1 moves to hv-b with a new address at 30 s.
    rec.record([event("lv", 20, *vm("db-2", "hv-b", "10.0.0.4"))])
    rec.record(
        [
            event(
                "lv", 30, *vm("db-1", "hv-b", "10.0.0.3"),
                gone_relations=(
                    ("nic:db-1/52:54:00:00:00:01", "has_address", "ip:10.0.0.2@db-1"),
                    ("vm:db-1", "runs_on", "host:hv-a"),
                ),
            )
        ]
    )  # fmt: skip
    return store, policy.probes


def test_a_services_members_then_at_their_addresses_then(tmp_path: Path) -> None:
    store, p = probes(tmp_path)
    assert probe_targets(store, p["svc"], at(5), "h-web") == [], "no policy in force yet"
    # IPv4 first; of db-1's three addresses, 10.0.0.2.
    assert probe_targets(store, p["svc"], at(15), "h-web") == [("vm:db-1", "10.0.0.2")]
    assert probe_targets(store, p["svc"], at(25), "h-web") == [
        ("vm:db-1", "10.0.0.2"),
        ("vm:db-2", "10.0.0.4"),
    ]
    assert probe_targets(store, p["svc"], at(35), "h-web") == [
        ("vm:db-1", "10.0.0.3"),
        ("vm:db-2", "10.0.0.4"),
    ]


def test_a_domains_members_are_those_in_it_then(tmp_path: Path) -> None:
    store, p = probes(tmp_path)
    assert probe_targets(store, p["rack"], at(25), "h-web") == [("vm:db-1", "10.0.0.2")]
    assert probe_targets(store, p["rack"], at(35), "h-web") == [], "db-1 left hv-a"


def test_ids_and_raw_addresses(tmp_path: Path) -> None:
    store, p = probes(tmp_path)
    assert probe_targets(store, p["some"], at(25), "h-web") == [
        ("vm:db-2", "10.0.0.4"),
        ("ip:10.0.0.9@x", "10.0.0.9"),
    ]
    assert probe_targets(store, p["raw"], at(25), "h-web") == [("ip:10.0.0.7@h-web", "10.0.0.7")]
