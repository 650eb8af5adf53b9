"""The conflict scan's shortcuts change no answer: on random stories (pools that overlap,
count only some spaces or narrow mid-window; addresses held, leased and allocated at
random, in and out of their pools' spaces), every address conflict it finds over a
window or at an instant is exactly what the plain computation of tests/ipam/reference.py
finds."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipam.fabric import NOW, ago, allocated, apply_pools, holds
from ipam.reference import as_row, ordered, reference
from vtrail.ids import ip_id
from vtrail.ipam.conflicts import conflicts
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.timeexpr import to_us

ADDRESS_KINDS = {"duplicate-address", "unallocated", "stale-allocation", "outside-pool"}
ADDRESSES = ["10.0.3.2", "10.0.3.5", "10.0.3.100", "10.0.3.110", "10.0.9.3", "2001:db8:3::5"]
SPACES = ["lab", "blue", "far"]
HOLDERS = ["port:blue/eth0", "port:blue/eth1", "port:red/eth0"]
EXTRA = [
    "",
    "  far: {prefix: 10.0.9.0/28, space: far, observed-in: [far, blue]}\n",
    "  mid: {range: 10.0.3.100-10.0.3.120, space: lab, stale-days: 1}\n",
]
#: Hours before now, over three weeks.
hours = st.integers(min_value=0, max_value=21 * 24)
lasting = st.none() | st.integers(min_value=1, max_value=10 * 24)

held = st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(SPACES),
                 st.sampled_from(HOLDERS), hours, lasting)  # fmt: skip
leased = st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(SPACES),
                   st.sampled_from(["mac:52:54:00:00:00:01", "mac:52:54:00:00:00:02"]),
                   hours, lasting)  # fmt: skip
allocation = st.tuples(st.sampled_from(["lab", "lab6", "far", "mid", "gone"]),
                       st.sampled_from(ADDRESSES), st.sampled_from(SPACES),
                       st.sampled_from(["vm:a", "vm:b"]), hours, lasting)  # fmt: skip
#: An address allocated from `lab` and used soon after: what the scan sets aside as plain.
plainly = st.tuples(st.sampled_from(ADDRESSES[:4]), hours, st.integers(0, 30), lasting)


def pools(stale: int, extra: str, prefix: str = "10.0.3.0/24") -> str:
    return (
        f"pools:\n  lab: {{prefix: {prefix}, space: lab, reserved: [10.0.3.1], "
        f"stale-days: {stale}}}\n  lab6: {{prefix: '2001:db8:3::/64', space: lab}}\n" + extra
    )


def at(h: int) -> datetime:
    return ago(hours=h)


def until(h: int, d: int | None) -> datetime | None:
    return None if d is None else ago(hours=max(h - d, 0))


def lease(recorder: Recorder, address: str, space: str, mac: str, t0: datetime,
          t1: datetime | None) -> None:  # fmt: skip
    iid = ip_id(address, space)
    rel = RelKey(iid, "leased_to", mac)
    src = f"leases:/var/lib/misc/{space}.leases"
    ent = EntityObs(iid, "ip", {"address": address})
    recorder.record([Observation(src, t0, "event", (ent,), (RelationObs(rel),))])
    if t1 is not None:
        recorder.record([Observation(src, t1, "event", gone_relations=(rel,))])


def release(recorder: Recorder, pool: str, address: str, space: str, vm: str,
            t1: datetime | None) -> None:  # fmt: skip
    if t1 is not None:
        rel = RelKey(ip_id(address, space), "allocated_to", vm)
        recorder.record([Observation("ipam", t1, "event", gone_relations=(rel,))])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stale=st.integers(1, 4),
    extra=st.sampled_from(EXTRA),
    narrowed=st.none() | hours,
    holdings=st.lists(held, max_size=5),
    leases=st.lists(leased, max_size=2),
    allocations=st.lists(allocation, max_size=4),
    plain=st.lists(plainly, max_size=3),
    window=st.tuples(hours, hours),
    instant=hours,
)
def test_the_scan_finds_what_the_plain_computation_finds(
    stale: int,
    extra: str,
    narrowed: int | None,
    holdings: list[tuple[str, str, str, int, int | None]],
    leases: list[tuple[str, str, str, int, int | None]],
    allocations: list[tuple[str, str, str, str, int, int | None]],
    plain: list[tuple[str, int, int, int | None]],
    window: tuple[int, int],
    instant: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "vtrail.db")
        recorder = Recorder(store)
        apply_pools(recorder, pools(stale, extra))
        if narrowed is not None:
            apply_pools(recorder, pools(stale, extra, "10.0.3.0/26"), at=at(narrowed))
        for address, h, lag, d in plain:
            allocated(recorder, "lab", address, "lab", "vm:plain", at(h + lag))
            holds(recorder, "netlink:plain", "port:plain/eth0", address, "blue", at(h), until(h, d))
        for address, space, holder, h, d in holdings:
            holds(recorder, f"netlink:{space}", holder, address, space, at(h), until(h, d))
        for address, space, mac, h, d in leases:
            lease(recorder, address, space, mac, at(h), until(h, d))
        for pool, address, space, vm, h, d in allocations:
            allocated(recorder, pool, address, space, vm, at(h))
            release(recorder, pool, address, space, vm, until(h, d))

        first, last = sorted(window)
        t_from, t_to = at(last), at(first) if first != last else NOW
        if t_from < t_to:
            got = conflicts(store, t_from=t_from, t_to=t_to).conflicts
            want = reference(store, to_us(t_from), to_us(t_to))
            assert ordered(as_row(c) for c in got if c.kind in ADDRESS_KINDS) == want
        got = conflicts(store, at=at(instant)).conflicts
        want = reference(store, to_us(at(instant)), to_us(at(instant)) + 1)
        assert ordered(as_row(c) for c in got if c.kind in ADDRESS_KINDS) == want
        store.close()
