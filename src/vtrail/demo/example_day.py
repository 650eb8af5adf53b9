"""`vtrail tour`: replay the bundled example journal (a day in a small fabric) and ask it questions.

The journal ships as `vtrail/data/example-day.jsonl`; `python -m vtrail.demo.example_day`
regenerates it from `example_day()` (a test keeps the two equal).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from vtrail.ids import bridge_id, guest_space, host_id, ip_id, nic_id, port_id, vm_id
from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs
from vtrail.wire import to_line

DAY = datetime(2026, 11, 20, tzinfo=UTC)
HOSTS = ("hv-a", "hv-b", "hv-c")
GHOST = bridge_id("sw", "br-ghost")


def _uuid(n: int) -> str:
    return f"6695eb01-f6a4-8304-79aa-{n:012x}"


class _Fabric:
    """The state of the example fabric; each call to `snapshot` reports one host."""

    def __init__(self) -> None:
        self.vms: dict[int, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}

    def add(self, n: int, name: str, host: str, bridge: str) -> None:
        self.vms[n] = {"name": name, "host": host, "bridge": bridge, "state": "running"}

    def snapshot(self, host: str, at: datetime, rng: random.Random) -> Observation:
        ents = [EntityObs(host_id(host), "host", {"hostname": host, "cpus": 32})]
        rels, samples = [], []
        for n, vm in sorted(self.vms.items()):
            if vm["host"] != host:
                continue
            vid, mac = vm_id(_uuid(n)), f"52:54:00:00:00:{n:02x}"
            nic, port = nic_id(_uuid(n), mac), port_id(host, f"vnet{n}")
            # The guest holds its address, and keeps it when it migrates.
            ip = ip_id(f"10.0.{n % 2}.{10 + n}", guest_space(_uuid(n)))
            ents += [
                EntityObs(vid, "vm", {"name": vm["name"], "state": vm["state"], "vcpus": 2}),
                EntityObs(nic, "nic", {"mac": mac, "model": "virtio"}),
                EntityObs(port, "port", {"ifname": f"vnet{n}"}),
            ]
            rels += [
                RelationObs(RelKey(vid, "runs_on", host_id(host))),
                RelationObs(RelKey(vid, "has_nic", nic)),
                RelationObs(RelKey(nic, "plugged_into", port)),
                RelationObs(RelKey(port, "port_of", bridge_id(host, vm["bridge"]))),
                RelationObs(RelKey(nic, "has_address", ip)),
            ]
            for metric, step in (("rx_bytes", 400_000), ("tx_bytes", 250_000)):
                key = f"{nic}|{metric}"
                self.counters[key] = self.counters.get(key, 0) + rng.randrange(step)
                samples.append(SampleObs(nic, metric, self.counters[key]))
        return Observation(
            f"libvirt+qemu:///system@{host}",
            at,
            "snapshot",
            tuple(ents),
            tuple(rels),
            tuple(samples),
        )


def example_day() -> list[Observation]:
    """A day of three hypervisors polled every 15 minutes, with the incidents of a real day:
    a migration at 03:05, a NIC replugged at 09:40, a bridge that lived for 50 seconds at
    03:10 and carried 1.5 GB, a VM destroyed at 14:00, a source lost from 18:00 to 18:40."""
    rng = random.Random(20261120)
    f = _Fabric()
    for n, (name, host, bridge) in enumerate(
        [
            ("web-1", "hv-a", "br0"),
            ("web-2", "hv-b", "br0"),
            ("db-1", "hv-a", "br1"),
            ("cache-1", "hv-c", "br0"),
            ("batch-7", "hv-c", "br1"),
        ],
        1,
    ):
        f.add(n, name, host, bridge)
    out: list[Observation] = []
    for step in range(96):
        at = DAY + timedelta(minutes=15 * step)
        if at == DAY + timedelta(hours=3, minutes=15):
            f.vms[1]["host"] = "hv-b"  # web-1 migrated at about 03:05
        if at == DAY + timedelta(hours=9, minutes=45):
            f.vms[2]["bridge"] = "br1"  # web-2's NIC moved to br1 at about 09:40
        if at == DAY + timedelta(hours=14, minutes=15):
            del f.vms[5]  # batch-7 destroyed
        for k, host in enumerate(HOSTS):
            t = at + timedelta(seconds=k)
            lost = host == "hv-c" and DAY + timedelta(hours=18) <= at < DAY + timedelta(
                hours=18, minutes=45
            )
            if host == "hv-c" and at == DAY + timedelta(hours=18):
                out.append(Observation(f"libvirt+qemu:///system@{host}", t, "disconnect"))
            if host == "hv-c" and at == DAY + timedelta(hours=18, minutes=30):
                f.vms[4]["state"] = "shutoff"  # happened while nobody could see it
                del f.vms[4]
            if not lost:
                out.append(f.snapshot(host, t, rng))
    # The ghost bridge, seen by the switch's netlink events.
    born = DAY + timedelta(hours=3, minutes=10)
    src = "netlink:sw@switch-1"
    carried = [0, 420_000_000, 1_100_000_000, 1_500_000_000]
    for i, total in enumerate(carried):
        t = born + timedelta(seconds=i * 16)
        ents = (EntityObs(GHOST, "bridge", {"ifname": "br-ghost", "mtu": 9000}),) if i == 0 else ()
        gone = (GHOST,) if i == len(carried) - 1 else ()
        out.append(
            Observation(
                src,
                t + timedelta(seconds=2 if gone else 0),
                "event",
                ents,
                (),
                (SampleObs(GHOST, "tx_bytes", total),),
                gone,
            )
        )
    out.sort(key=lambda o: o.observed_at)
    return out


def bundled_lines() -> list[str]:
    text = resources.files("vtrail").joinpath("data/example-day.jsonl").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip()]


if __name__ == "__main__":
    for o in example_day():
        print(to_line(o))
