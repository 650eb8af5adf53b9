"""Admission benchmark: `admit` p50 and p99, beside the fixed cost every admission pays.

    python bench/admit.py [--dir DIR] [--vms 10000] [--images 1000] [--asks 300]

The store is recorded through the recorder: 200 hosts and 10,000 running VMs
of 100 owners, each VM with one NIC holding one address and one image of
1,000, each image with its catalog facts (a tenth uncertified, a tenth
vulnerable) and its path. The policy has one provisioning rule of each kind
and quotas on every owner (VMs, vCPUs, memory, addresses), so every admission
resolves the disks, tests every rule and adds up its owner's usage.

Figures: the first admission on a new connection, which reads the whole fleet
(as the hook does with `--db`, a process per start); then each admission of a
new domain (random owner, image and host) on one connection, as
`POST /api/admission` makes it, with nothing recorded between them and with a
recorder migrating one VM before each; and the baseline in the same run: what
any admission pays before it decides, reading the policy in force and parsing
the domain XML.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.collectors.libvirt.parse import parse_domain_xml
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.provisioning.admission import admit
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, store_files
from vtrail.triage.policy_at import policy_at

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOSTS = 200
OWNERS = 100
SOURCE = "libvirt+qemu:///system@bench"
POLICY = """
provisioning:
  rules:
    - {name: certified-only, certified: true}
    - {name: no-vulnerable, security: [ok, unknown]}
    - {name: team-images, owners: "team-1*", images: ["img-*"]}
    - {name: team-hosts, owners: "team-2*", hosts: [hv-000, hv-001, hv-002]}
  quotas:
    "*": {vms: 150, vcpus: 400, memory: 600GiB, addresses: 150}
"""


def image_path(i: int) -> str:
    return f"/var/lib/libvirt/images/img-{i:04d}.qcow2"


def catalog(images: int) -> Observation:
    out = []
    for i in range(images):
        attrs = {
            "paths": [image_path(i)],
            "catalog.name": f"img-{i:04d}",
            "catalog.version": "1",
            "catalog.security": "vulnerable" if i % 10 == 1 else "ok",
        }
        if i % 10:
            attrs["catalog.certified_by"] = "sec-team"
        out.append(EntityObs(f"image:img-{i:04d}@1", "image", attrs))
    return Observation("catalog", T0, "snapshot", tuple(out))


def fleet(vms: int, images: int, rng: random.Random) -> Observation:
    entities = [EntityObs(f"host:hv-{h:03d}", "host", {"hostname": f"hv-{h:03d}"})
                for h in range(HOSTS)]  # fmt: skip
    relations = []
    for n in range(vms):
        vm, nic = f"vm:{n:08d}-0000-0000-0000-000000000000", f"nic:{n:08d}/52:54:00:00:00:01"
        ip = f"ip:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}@lan"
        img = rng.randrange(images)
        disk = {"target": "vda", "source": image_path(img), "device": "disk", "type": "file"}
        entities += [
            EntityObs(vm, "vm", {"name": f"vm-{n}", "state": "running", "vcpus": 2,
                                 "memory_kib": 4 << 20, "disks": [disk],
                                 "asset.owner": f"team-{n % OWNERS}"}),
            EntityObs(nic, "nic", {"mac": "52:54:00:00:00:01"}),
            EntityObs(ip, "ip", {"address": ip[3:].split("@", 1)[0]}),
        ]  # fmt: skip
        relations += [
            RelationObs(RelKey(vm, "runs_on", f"host:hv-{n % HOSTS:03d}")),
            RelationObs(RelKey(vm, "uses_image", f"image:img-{img:04d}@1")),
            RelationObs(RelKey(vm, "has_nic", nic)),
            RelationObs(RelKey(nic, "has_address", ip)),
        ]
    return Observation(SOURCE, T0, "snapshot", tuple(entities), tuple(relations))


def domain(n: int, rng: random.Random, images: int) -> str:
    disk = image_path(rng.randrange(images))
    owner = f"team-{rng.randrange(OWNERS)}"
    return (
        f"<domain type='kvm'><name>new-{n}</name><uuid>{n:08d}-1111-1111-1111-111111111111</uuid>"
        "<memory unit='GiB'>4</memory><vcpu>2</vcpu><metadata>"
        '<vtrail:asset xmlns:vtrail="https://vtrail.dev/xmlns/asset/1">'
        f"<vtrail:owner>{owner}</vtrail:owner></vtrail:asset></metadata><devices>"
        f"<disk type='file' device='disk'><source file='{disk}'/><target dev='vda'/></disk>"
        "<interface type='network'><mac address='52:54:00:aa:bb:cc'/>"
        "<source network='default'/></interface></devices></domain>"
    )


def build(path: Path, vms: int, images: int) -> None:
    for stale in store_files(path):
        stale.unlink(missing_ok=True)
    rng = random.Random(14)
    store = SqliteStore(path)
    try:
        rec = Recorder(store)
        rec.record([catalog(images)])
        rec.record([fleet(vms, images, rng)])
        rec.record([to_observation(parse_policy(POLICY), T0 + timedelta(seconds=1))])
    finally:
        store.close()


def timed(asks: int, one: Callable[[int], object]) -> list[float]:
    out = []
    for n in range(asks):
        t = time.perf_counter()
        one(n)
        out.append((time.perf_counter() - t) * 1000)
    return out


def p99(ms: list[float]) -> float:
    return statistics.quantiles(ms, n=100)[98]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=1_000)
    ap.add_argument("--asks", type=int, default=300)
    args = ap.parse_args()
    where = args.dir or Path(tempfile.mkdtemp(prefix="vtrail-bench-admit-"))
    path = where / "admit.db"
    t = time.perf_counter()
    build(path, args.vms, args.images)
    print(f"store: {args.vms:,} VMs, {args.images:,} images, {HOSTS} hosts, "
          f"recorded in {time.perf_counter() - t:.1f} s")  # fmt: skip
    rng = random.Random(7)
    xmls = [domain(n, rng, args.images) for n in range(args.asks)]
    hosts = [f"hv-{rng.randrange(HOSTS):03d}" for _ in range(args.asks)]
    at = T0 + timedelta(minutes=1)
    cold = []
    for n in range(3):
        fresh = SqliteStore(path, readonly=True)
        t = time.perf_counter()
        admit(fresh, xmls[n], at, host=hosts[n])
        cold.append((time.perf_counter() - t) * 1000)
        fresh.close()
    store = SqliteStore(path, readonly=True)
    writer = SqliteStore(path)
    rec = Recorder(writer)
    try:
        denied = sum(
            not admit(store, x, at, host=h).allow for x, h in zip(xmls, hosts, strict=True)
        )
        base = timed(args.asks, lambda n: (policy_at(store, at), parse_domain_xml(xmls[n])))
        found = timed(args.asks, lambda n: admit(store, xmls[n], at, host=hosts[n]))
        # A recorder writing beside it: one VM migrates before each admission, which then
        # goes on from the last one's fleet with that change.
        moving = []
        for n in range(args.asks):
            when = at + timedelta(seconds=n + 1)
            vm = f"vm:{n:08d}-0000-0000-0000-000000000000"
            rec.record([Observation(SOURCE, when, "event", (), (
                RelationObs(RelKey(vm, "runs_on", f"host:hv-{(n + 1) % HOSTS:03d}")),),
                gone_relations=(RelKey(vm, "runs_on", f"host:hv-{n % HOSTS:03d}"),))])  # fmt: skip
            t = time.perf_counter()
            admit(store, xmls[n], when, host=hosts[n])
            moving.append((time.perf_counter() - t) * 1000)
    finally:
        store.close()
        writer.close()
    print(f"admissions: {args.asks}, {denied} denied")
    print(f"{'first on a new connection':36s} median {statistics.median(cold):7.2f} ms")
    for name, ms in (
        ("baseline (policy in force + parse)", base),
        ("admit", found),
        ("admit, a change recorded before each", moving),
    ):
        print(f"{name:36s} p50 {statistics.median(ms):7.2f} ms   p99 {p99(ms):7.2f} ms")


if __name__ == "__main__":
    main()
