"""Ten hours of two hosts and three VMs, recorded through the recorder, whose usage and
cost the accounting tests work out by hand.

- hv-a: 8 CPUs, 16 GiB; hv-b: 4 CPUs, 8 GiB. Both from hour 0.
- web-1 (2 vCPUs, 4 GiB, service web, owned by team-web through it) runs on hv-a and
  migrates to hv-b at hour 4. hv-a's collector reads its CPU counter until then
  (1,800 s an hour), hv-b's from hour 5 (900 s at its first reading, then 1,800 s an
  hour). Its NIC received 1 GB on hv-a and 3 GB on hv-b (hv-b's first reading), and
  sent 1 GB on hv-a.
- db-1 (4 vCPUs, 8 GiB, service db, `asset.owner: alice`) stays on hv-a: running,
  paused from hour 2 to 3 (its counter stands still), shut off from hour 6 to 7, and
  started again: its counters restart from zero (CPU reads 2,000 s at hour 8). It
  uses 3,600 CPU-seconds an hour while running, reads 5 GB and writes 2.5 GB.
- batch-1 (1 vCPU, 2 GiB, no service, no owner) runs on hv-b the whole time and uses
  12 CPU-hours: more than its one vCPU (emulator threads).
"""

from __future__ import annotations

from pathlib import Path

from factory import at, ent, event, rel, sample
from vtrail.model import Observation
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.triage.derive import derivers

H = 3600
GIB_KIB = 2**20
S = 10**9  # a CPU-second in the counter's nanoseconds
WEB = "vm:aaaaaaaa-0000-4000-8000-000000000001"
DB = "vm:aaaaaaaa-0000-4000-8000-000000000002"
BATCH = "vm:aaaaaaaa-0000-4000-8000-000000000003"
WEB_NIC = f"nic:{WEB[3:]}/52:54:00:00:00:01"
HV_A, HV_B = "host:hv-a", "host:hv-b"
SRC_A, SRC_B = "libvirt:hv-a", "libvirt:hv-b"

POLICY = """
services:
  web: {owner: team-web, members: {kind: vm, name: "web-*"}}
  db:  {owner: team-db,  members: {kind: vm, name: "db-*"}}
accounting:
  rates: {vcpu-hour: 0.5, gib-hour: 0.25, disk-gb: 2, network-gb: 1}
"""


def h(hours: float) -> float:
    return hours * H


def _web() -> object:
    return ent(WEB, name="web-1", state="running", vcpus=2, memory_kib=4 * GIB_KIB)


def _db(state: str) -> object:
    return ent(
        DB, name="db-1", state=state, vcpus=4, memory_kib=8 * GIB_KIB, **{"asset.owner": "alice"}
    )


def _batch() -> object:
    return ent(BATCH, name="batch-1", state="running", vcpus=1, memory_kib=2 * GIB_KIB)


def observations(policy: str = POLICY) -> list[Observation]:
    out = [to_observation(parse_policy(policy, "policy.yaml"), at(0))]
    out.append(
        event(
            SRC_A,
            0,
            ent(HV_A, hostname="hv-a", cpus=8, memory_mib=16384),
            _web(),
            rel(WEB, "runs_on", HV_A),
            ent(WEB_NIC, mac="52:54:00:00:00:01"),
            rel(WEB, "has_nic", WEB_NIC),
            _db("running"),
            rel(DB, "runs_on", HV_A),
            sample(WEB, "cpu_time_ns", 50 * S),
            sample(DB, "cpu_time_ns", 1000 * S),
            sample(WEB_NIC, "rx_bytes", 0),
            sample(WEB_NIC, "tx_bytes", 500_000_000),
            sample(DB, "disk.vda.rd_bytes", 0),
            sample(DB, "disk.vda.wr_bytes", 10**9),
        )
    )
    out.append(
        event(
            SRC_B,
            0,
            ent(HV_B, hostname="hv-b", cpus=4, memory_mib=8192),
            _batch(),
            rel(BATCH, "runs_on", HV_B),
            sample(BATCH, "cpu_time_ns", 0),
        )
    )
    web_a = {1: 1850, 2: 3650, 3: 5450, 4: 7250}
    db_cpu = {1: 4600, 2: 8200, 3: 8200, 4: 11800, 5: 15400, 6: 19000, 8: 2000, 9: 5600, 10: 9200}
    for hour in range(1, 11):
        items: list[object] = []
        if hour in web_a:
            items.append(sample(WEB, "cpu_time_ns", web_a[hour] * S))
        if hour in db_cpu:
            items.append(sample(DB, "cpu_time_ns", db_cpu[hour] * S))
        if hour == 2:
            items += [sample(WEB_NIC, "rx_bytes", 10**9), _db("paused")]
        if hour == 3:
            items.append(_db("running"))
        if hour == 4:
            items += [sample(WEB_NIC, "tx_bytes", 1_500_000_000)]
            items.append(sample(DB, "disk.vda.wr_bytes", 3 * 10**9))
        if hour == 5:
            items.append(sample(DB, "disk.vda.rd_bytes", 3 * 10**9))
        if hour == 7:
            items.append(_db("running"))
        if hour == 8:
            items.append(sample(DB, "disk.vda.wr_bytes", 500_000_000))
        if hour == 10:
            items.append(sample(DB, "disk.vda.rd_bytes", 5 * 10**9))
        gone: tuple[tuple[str, str, str], ...] = ()
        if hour == 4:
            gone = ((WEB, "runs_on", HV_A), (WEB, "has_nic", WEB_NIC))
        if hour == 6:
            # Shut off: libvirt says the new state, and the domain no longer runs anywhere.
            items.append(_db("shutoff"))
            gone = ((DB, "runs_on", HV_A),)
        if hour == 7:
            items.append(rel(DB, "runs_on", HV_A))
        out.append(
            event(SRC_A, h(hour), *items, gone=(WEB,) if hour == 4 else (), gone_relations=gone)
        )
    web_b = {5: 900, 6: 2700, 7: 4500, 8: 6300, 9: 8100, 10: 9900}
    for hour in range(4, 11):
        items = []
        if hour == 4:
            items += [_web(), rel(WEB, "runs_on", HV_B), ent(WEB_NIC, mac="52:54:00:00:00:01")]
            items.append(rel(WEB, "has_nic", WEB_NIC))
        if hour in web_b:
            items.append(sample(WEB, "cpu_time_ns", web_b[hour] * S))
        if hour == 6:
            items.append(sample(WEB_NIC, "rx_bytes", 3 * 10**9))
        if hour == 10:
            items.append(sample(BATCH, "cpu_time_ns", 12 * H * S))
        out.append(event(SRC_B, h(hour), *items))
    return out


def ended() -> list[Observation]:
    """The VMs' end at hour 10, for a window that reaches past it."""
    return [
        event(SRC_A, h(10), gone=(DB,), gone_relations=((DB, "runs_on", HV_A),)),
        event(
            SRC_B, h(10), gone=(WEB, BATCH),
            gone_relations=((WEB, "runs_on", HV_B), (BATCH, "runs_on", HV_B)),
        ),
    ]  # fmt: skip


def record(path: Path | str, policy: str = POLICY) -> Path | str:
    """Record the story into `path`: a SQLite file, or a PostgreSQL URL."""
    store = open_store(path)
    store.derivers = derivers()
    try:
        Recorder(store).record(observations(policy))
    finally:
        store.close()
    return path
