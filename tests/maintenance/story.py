"""Two small fleets recorded through the recorder, with answers computed by hand.

`record_drain_story`: four hosts, overcommit 2 vCPUs per cpu and no memory overcommit.

| host | cpus, MiB | holds (2 vCPUs a cpu) | at 120 s it runs (vCPUs, MiB) | free at 120 s |
| --- | --- | --- | --- | --- |
| hv-a | 8, 16384 | 16, 16384 | db-1 (4, 8192), web-1 (2, 4096), batch-1 (2, 2048) | 8, 2048 |
| hv-b | 8, 16384 | 16, 16384 | db-2 (4, 8192), web-2 (2, 4096) | 10, 4096 |
| hv-c | 4, 8192 | 8, 8192 | cache-1 (1, 1024) | 7, 7168 |
| hv-d | 16, 65536 | 32, 65536 | app-1 (8, 16384), app-2 (1, 1024) | 23, 48128 |

app-2 ran on hv-a until 60 s, when it migrated to hv-d; stopped-1 is defined on hv-a
but shut off (no `runs_on`). Rules: db-apart (anti-affinity db), db-off-d
(host-anti-affinity db on hv-d), web-together (same-domain web; rack-1 is hv-a and
hv-b, rack-2 hv-c and hv-d), web-near-db (max-hops: not checked, its VMs record no NIC).

`record_rolling_story`: four hosts of 4 cpus and 8192 MiB (2 vCPUs a cpu): db-1 (2, 4096)
and web-1 (1, 2048) on h1, db-2 (2, 4096) on h2, web-2 (1, 2048) on h3, h4 empty.
"""

from __future__ import annotations

from pathlib import Path

from factory import at, ent, event, rel, snap
from vtrail.model import Observation
from vtrail.policy.load import parse_policy
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.triage import policy_at

SRC = "libvirt@fleet"

DRAIN_POLICY = """
services:
  db:    {owner: team-db, members: {kind: vm, name: "db-*"}}
  web:   {owner: team-web, members: {kind: vm, name: "web-*"}}
  batch: {members: {kind: vm, name: "batch-*"}}
  cache: {members: {kind: vm, name: "cache-*"}}
  app:   {owner: team-app, members: {kind: vm, name: "app-*"}}
domains:
  rack-1: {hosts: [hv-a, hv-b]}
  rack-2: {hosts: [hv-c, hv-d]}
rules:
  - {name: db-apart, anti-affinity: db}
  - {name: db-off-d, host-anti-affinity: {service: db, hosts: [hv-d]}}
  - {name: web-together, same-domain: web}
  - {name: web-near-db, max-hops: {from: web, to: db, hops: 2}}
maintenance:
  overcommit: {cpu: 2}
"""

ROLLING_POLICY = """
services:
  db:  {members: {kind: vm, name: "db-*"}}
  web: {members: {kind: vm, name: "web-*"}}
rules:
  - {name: db-apart, anti-affinity: db}
maintenance:
  overcommit: {cpu: 2}
"""


def host(name: str, cpus: int, mib: int) -> object:
    return ent(f"host:{name}", hostname=name, cpus=cpus, memory_mib=mib)


def vm(name: str, vcpus: int, mib: int, **attrs: object) -> object:
    return ent(
        f"vm:{name}", name=name, state="running", vcpus=vcpus, memory_kib=mib * 1024, **attrs
    )


def on(name: str, host_name: str) -> object:
    return rel(f"vm:{name}", "runs_on", f"host:{host_name}")


def record(path: Path, policy: str, *observations: Observation) -> Path:
    store = open_store(path)
    try:
        recorder = Recorder(store)
        policy_at.apply(store, parse_policy(policy), at(0), lambda o: recorder.record([o]))
        recorder.record(list(observations))
    finally:
        store.close()
    return path


def record_drain_story(path: Path) -> Path:
    placed = {
        "hv-a": [("db-1", 4, 8192), ("web-1", 2, 4096), ("batch-1", 2, 2048), ("app-2", 1, 1024)],
        "hv-b": [("db-2", 4, 8192), ("web-2", 2, 4096)],
        "hv-c": [("cache-1", 1, 1024)],
        "hv-d": [("app-1", 8, 16384)],
    }
    owners = {"db-1": {"asset.owner": "team-db"}}
    items: list[object] = [
        host("hv-a", 8, 16384),
        host("hv-b", 8, 16384),
        host("hv-c", 4, 8192),
        host("hv-d", 16, 65536),
        ent("vm:stopped-1", name="stopped-1", state="shutoff", vcpus=2, memory_kib=2 << 20),
        # The register's word on batch-1's owner: the VM itself says none.
        ent("asset:vm:batch-1", **{"asset.owner": "team-batch"}),
        # Posted by anyone: it names no VM or host, so it owns nothing.
        ent("asset:not-an-id", **{"asset.owner": "team-nobody"}),
    ]
    for h, vms in placed.items():
        for name, vcpus, mib in vms:
            items += [vm(name, vcpus, mib, **owners.get(name, {})), on(name, h)]
    return record(
        path,
        DRAIN_POLICY,
        snap(SRC, 1, *items),
        event(SRC, 60, on("app-2", "hv-d"), gone_relations=(("vm:app-2", "runs_on", "host:hv-a"),)),
    )


def record_rolling_story(path: Path) -> Path:
    items: list[object] = [host(h, 4, 8192) for h in ("h1", "h2", "h3", "h4")]
    for name, vcpus, mib, h in (
        ("db-1", 2, 4096, "h1"),
        ("web-1", 1, 2048, "h1"),
        ("db-2", 2, 4096, "h2"),
        ("web-2", 1, 2048, "h3"),
    ):
        items += [vm(name, vcpus, mib), on(name, h)]
    return record(path, ROLLING_POLICY, snap(SRC, 1, *items))
