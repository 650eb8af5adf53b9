"""`account` over the story (story.py) on both stores, every figure worked out by hand.

The window is hours 0 to 10 unless a test says otherwise. Rates: 0.5 a vCPU-hour,
0.25 a GiB-hour, 2 a GB on disk, 1 a GB on the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounting.story import BATCH, DB, HV_A, HV_B, POLICY, WEB, h, record
from factory import at
from stores import STORES, recorded
from vtrail.accounting.account import AccountAnswer, AccountRow, account, policy_in_force
from vtrail.policy.load import parse_policy
from vtrail.store import SqliteStore, Store, open_store


@pytest.fixture(scope="module", params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The story on a SQLite file, then on a real PostgreSQL server."""
    s = open_store(recorded(request, tmp_path_factory, "account", record), readonly=True)
    yield s
    s.close()


def ask(store: Store, by: str = "vm", lo: float = 0, hi: float = 10, **card: Any) -> AccountAnswer:
    policy = policy_in_force(store, at(h(hi)))
    if card:
        policy = parse_policy(
            POLICY.replace("accounting:\n", f"accounting:\n  {_yaml(card)}\n"), "p"
        )
    return account(store, policy, at(h(lo)), at(h(hi)), by)


def _yaml(card: dict[str, Any]) -> str:
    return "\n  ".join(
        f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in card.items()
    )


def rows(a: AccountAnswer) -> dict[str | None, AccountRow]:
    return {r.key: r for r in a.rows}


def test_each_vm_its_allocation_use_share_and_cost(store: Store) -> None:
    a = rows(ask(store))
    web, db, batch = a[WEB], a[DB], a[BATCH]
    # web-1: running all 10 h with 2 vCPUs and 4 GiB: 4 h on hv-a, 6 h on hv-b.
    assert (web.vcpu_hours, web.memory_gib_hours) == (20.0, 40.0)
    # hv-a read 4 x 1,800 s; hv-b's series took over: its first reading (900 s) counts
    # whole, then 5 x 1,800 s.
    assert web.cpu_seconds == 7200 + 900 + 9000
    # CPU over the capacity of the hosts it was on: 8 CPUs x 4 h + 4 CPUs x 6 h.
    assert web.cpu_share == round(17100 / ((8 * 4 + 4 * 6) * 3600), 6)
    # 4 GiB of 16 GiB for 4 h, of 8 GiB for 6 h.
    assert web.memory_share == round(4 * 10 / (16 * 4 + 8 * 6), 6)
    assert (web.net_rx_bytes, web.net_tx_bytes) == (4 * 10**9, 10**9)
    assert (web.disk_read_bytes, web.disk_write_bytes) == (0, 0)
    # hv-a: 8 vCPU-h, 16 GiB-h, 2 GB; hv-b: 12 vCPU-h, 24 GiB-h, 3 GB.
    assert [
        (p.name, p.vcpu_hours, p.memory_gib_hours, p.cpu_seconds, p.cost) for p in web.hosts
    ] == [
        ("hv-a", 8.0, 16.0, 7200.0, 4 + 4 + 2.0),
        ("hv-b", 12.0, 24.0, 9900.0, 6 + 6 + 3.0),
    ]
    assert web.cost == 25.0 and web.idle_cost is None
    # db-1: running 0-2, 3-6 and 7-10 (8 h); paused and shut off do not count.
    assert (db.vcpu_hours, db.memory_gib_hours) == (32.0, 64.0)
    # 3,600 s an hour running, nothing while paused, and 2,000 s read after the restart
    # (a reset, counted whole): 7 x 3,600 + 2,000.
    assert db.cpu_seconds == 27200.0
    # On hv-a for the 9 h it was running or paused: 8 CPUs, 16 GiB.
    assert db.cpu_share == round(27200 / (8 * 9 * 3600), 6)
    assert db.memory_share == 0.5
    # Read 3 GB then 2 GB; wrote 2 GB, then 0.5 GB after its counter restarted.
    assert (db.disk_read_bytes, db.disk_write_bytes) == (5 * 10**9, 2_500_000_000)
    assert db.cost == 16 + 16 + 2 * 7.5
    assert [p.name for p in db.hosts] == ["hv-a"]
    # batch-1: 1 vCPU and 2 GiB on hv-b for 10 h; 12 CPU-hours used.
    assert (batch.vcpu_hours, batch.memory_gib_hours, batch.cpu_seconds) == (10.0, 20.0, 43200.0)
    assert (batch.cpu_share, batch.memory_share) == (43200 / 144000, 0.25)
    assert batch.cost == 5 + 5.0
    assert [r.name for r in ask(store).rows] == ["batch-1", "db-1", "web-1"]


def test_hosts_their_vms_and_idle_capacity(store: Store) -> None:
    answer = ask(store, "host")
    a = rows(answer)
    assert set(a) == {HV_A, HV_B}
    # hv-a: web-1's first 4 h and db-1's 8 h; hv-b: web-1's last 6 h and batch-1's 10 h.
    assert (a[HV_A].vcpu_hours, a[HV_A].memory_gib_hours) == (8 + 32.0, 16 + 64.0)
    assert (a[HV_B].vcpu_hours, a[HV_B].memory_gib_hours) == (12 + 10.0, 24 + 20.0)
    assert a[HV_A].cpu_seconds == 7200 + 27200.0
    assert a[HV_B].cpu_seconds == 9900 + 43200.0
    # Of the whole host over the window: 8 CPUs x 10 h; memory placed 4 x 4 + 8 x 9 GiB-h
    # (db-1 paused holds its memory) of 16 x 10.
    assert a[HV_A].cpu_share == round(34400 / 288000, 6)
    assert a[HV_A].memory_share == round(88 / 160, 6)
    assert a[HV_B].cpu_share == round(53100 / 144000, 6)
    assert a[HV_B].memory_share == round(44 / 80, 6)
    assert (a[HV_A].cost, a[HV_B].cost) == (10 + 47.0, 15 + 10.0)
    idle = {x.host: x for x in answer.hosts}
    assert [
        (x.capacity_vcpu_hours, x.capacity_memory_gib_hours, x.allocated_vcpu_hours,
         x.idle_vcpu_hours, x.idle_memory_gib_hours, x.idle_cost)
        for x in (idle[HV_A], idle[HV_B])
    ] == [
        (80.0, 160.0, 40.0, 40.0, 80.0, 0.5 * 40 + 0.25 * 80),
        (40.0, 80.0, 22.0, 18.0, 36.0, 0.5 * 18 + 0.25 * 36),
    ]  # fmt: skip


def test_owners_and_services(store: Store) -> None:
    owners = rows(ask(store, "owner"))
    # db-1's own asset.owner wins over its service's; web-1 is owned through web;
    # batch-1 has no owner.
    assert {k: r.vcpu_hours for k, r in owners.items()} == {
        "alice": 32.0,
        "team-web": 20.0,
        None: 10.0,
    }
    assert [r.key for r in ask(store, "owner").rows] == ["alice", "team-web", None]
    services = rows(ask(store, "service"))
    assert {k: (r.vcpu_hours, r.cpu_seconds, r.cost) for k, r in services.items()} == {
        "web": (20.0, 17100.0, 25.0),
        "db": (32.0, 27200.0, 47.0),
        None: (10.0, 43200.0, 10.0),
    }


def test_paused_time_counts_when_the_card_says_so(store: Store) -> None:
    db = rows(ask(store, states="[running, paused]"))[DB]
    # One more hour: 2 to 3.
    assert (db.vcpu_hours, db.memory_gib_hours) == (36.0, 72.0)
    assert db.cost == 18 + 18 + 15.0
    assert db.cpu_seconds == 27200.0


def test_max_of_allocated_and_used_and_idle_shared_out(store: Store) -> None:
    answer = ask(store, bill="max", **{"share-idle": True})
    a = rows(answer)
    # batch-1 used 12 CPU-hours of the 10 it was allocated: it pays for 12. The others
    # used less than they were allocated.
    own = {WEB: (10.0, 15.0), DB: (47.0,), BATCH: (6 + 5.0,)}
    # hv-a's idle 40 goes 10:47 to web-1 and db-1; hv-b's 18 goes 15:11 to web-1, batch-1.
    shares = {WEB: 40 * 10 / 57 + 18 * 15 / 26, DB: 40 * 47 / 57, BATCH: 18 * 11 / 26}
    for vm, parts in own.items():
        assert a[vm].idle_cost == round(shares[vm], 6)
        assert a[vm].cost == round(sum(parts) + shares[vm], 6)
    assert [p.cost for p in a[WEB].hosts] == [
        round(10 + 40 * 10 / 57, 6),
        round(15 + 18 * 15 / 26, 6),
    ]
    assert [x.idle_cost for x in answer.hosts] == [40.0, 18.0]


def test_a_window_that_cuts_the_readings(store: Store) -> None:
    """Hours 0.5 to 9.5: the counter blocks are cut by the window, and decoded."""
    a = rows(ask(store, lo=0.5, hi=9.5))
    # web-1: 3.5 h on hv-a, 5.5 h on hv-b; readings at 1-4 h on hv-a, 5-9 h on hv-b.
    assert [(p.vcpu_hours, p.cpu_seconds) for p in a[WEB].hosts] == [(7.0, 7200.0), (11.0, 8100.0)]
    # db-1: the readings at 1-6, 8 and 9 h; running 1.5 + 3 + 2.5 h.
    assert (a[DB].vcpu_hours, a[DB].cpu_seconds) == (28.0, 6 * 3600 + 2000.0)
    # batch-1's only reading after hour 0 is at hour 10.
    assert (a[BATCH].vcpu_hours, a[BATCH].cpu_seconds) == (9.0, 0.0)


def test_a_first_reading_on_the_windows_start_counts_nothing(store: Store) -> None:
    """From before the first reading, each block's first reading grows from nothing (a
    series' first reading counts nothing); from hour 0 that reading is on the window's
    start, where counting starts. Nothing was recorded before hour 0: the same answer."""
    before, edge = ask(store, lo=-1), ask(store, lo=0)
    assert before.rows == edge.rows and before.hosts == edge.hosts


def test_a_window_with_nothing_recorded(store: Store) -> None:
    a = ask(store, lo=-3, hi=-1)
    assert a.rows == [] and a.hosts == []


def test_without_a_rate_card_there_is_no_cost(tmp_path: Path) -> None:
    s = SqliteStore(record(tmp_path / "v.db", POLICY.split("accounting:")[0]), readonly=True)
    try:
        a = ask(s)
    finally:
        s.close()
    assert all(r.cost is None and r.idle_cost is None for r in a.rows)
    assert rows(a)[WEB].vcpu_hours == 20.0
    assert all(x.idle_cost is None for x in a.hosts)
