"""What the IPAM tests record: a policy with pools, and the observations a collector
or the allocator would have made, each at the instant a test gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vtrail.ids import ip_id
from vtrail.model import EntityObs, Observation, RelationObs, RelKey
from vtrail.policy.load import parse_policy
from vtrail.policy.record import to_observation
from vtrail.recording.recorder import Recorder

NOW = datetime.now(UTC).replace(microsecond=0)
POOLS = """
pools:
  lab:  {prefix: 10.0.3.0/24, space: lab, reserved: [10.0.3.1], stale-days: 7}
  lab6: {prefix: "2001:db8:3::/64", space: lab}
  macs: {mac-prefix: "02:00:00"}
  one:  {mac-prefix: "02:00", from-ip: lab}
"""


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def apply_pools(recorder: Recorder, text: str = POOLS, at: datetime | None = None) -> None:
    recorder.record([to_observation(parse_policy(text, "policy.yaml"), at or ago(30))])


def holds(recorder: Recorder, source: str, holder: str, address: str, space: str,
          t0: datetime, t1: datetime | None) -> None:  # fmt: skip
    """`holder` (an interface) held `address` in `space` from `t0` to `t1`, as netlink
    says it: an event when it appears, another when it goes."""
    iid = ip_id(address, space)
    rel = RelKey(holder, "has_address", iid)
    recorder.record(
        [
            Observation(
                source,
                t0,
                "event",
                (EntityObs(iid, "ip", {"address": address}),),
                (RelationObs(rel),),
            )
        ]
    )
    if t1 is not None:
        recorder.record([Observation(source, t1, "event", gone_relations=(rel,))])


def plugged(recorder: Recorder, nic: str, into: str, t0: datetime, t1: datetime | None) -> None:
    """A NIC plugged from `t0` to `t1`, as libvirt says of a running domain's NIC."""
    src = f"libvirt+test:///{nic}"
    rel = RelKey(nic, "plugged_into", into)
    recorder.record(
        [Observation(src, t0, "event", (EntityObs(nic, "nic", {}),), (RelationObs(rel),))]
    )
    if t1 is not None:
        recorder.record([Observation(src, t1, "event", gone=(nic,), gone_relations=(rel,))])


def allocated(recorder: Recorder, pool: str, address: str, space: str, holder: str,
              t0: datetime) -> None:  # fmt: skip
    """The event `vtrail ipam allocate` records, put at `t0` (it records at its own now)."""
    iid = ip_id(address, space)
    recorder.record(
        [
            Observation(
                "ipam",
                t0,
                "event",
                (EntityObs(iid, "ip", {"address": address, "pool": pool}),),
                (RelationObs(RelKey(iid, "allocated_to", holder), {"pool": pool}),),
            )
        ]
    )


def waiters(lock: Path) -> int:
    """How many processes or threads wait for a lock on the file `lock` (/proc/locks lists
    each waiter with `->`)."""
    inode = f":{lock.stat().st_ino} "
    return sum(
        line.split()[1] == "->" and inode in line
        for line in Path("/proc/locks").read_text().splitlines()
    )
