"""Continuity: a VM re-created under a new uuid is linked to the one it replaced.

A VM undefined and defined again (a rebuild, a restore, a move between tools)
gets a new uuid and so a new `vm:` id, but it keeps what made it that machine:
its disks, often its MACs. When a VM is born holding a disk another VM held when
it ended, or a MAC another VM had, and the other ended no later than the new one
began, the two are linked as likely the same asset, with that evidence and when.
Lives that overlap are two machines, however much they share; a VM that shares
nothing with any other is linked to none.

A CD-ROM or floppy image (an installer ISO every VM mounts) is no evidence: only
`device: disk` sources count. Among several VMs a newcomer could continue, it
continues the one that ended last; each VM is continued by one VM at most, the
first born after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vtrail.ids import parse_nic, vm_id
from vtrail.model import JSONValue
from vtrail.store import Store
from vtrail.store.reads.assets import AssetReader, Life
from vtrail.timeexpr import from_us

VERDICT = "likely the same asset"


@dataclass(frozen=True, slots=True)
class Evidence:
    #: `disk` (a disk's source path) or `mac`.
    kind: str
    value: str
    #: When the earlier VM last had it, and when the later one first did.
    last_seen: datetime
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Link:
    #: The VM that ended, and the VM born after it that carries on its disks or MACs.
    earlier: str
    later: str
    #: When the earlier one ended, and when the later one was first seen.
    ended: datetime
    first_seen: datetime
    evidence: list[Evidence] = field(default_factory=list)
    verdict: str = VERDICT


def disk_sources(attrs: Mapping[str, JSONValue]) -> set[str]:
    """The source of every `device: disk` of a VM's `disks` attribute."""
    disks = attrs.get("disks")
    if not isinstance(disks, list):
        return set()
    out: set[str] = set()
    for d in disks:
        if isinstance(d, dict) and d.get("device") == "disk":
            source = d.get("source")
            if isinstance(source, str) and source:
                out.add(source)
    return out


def links(store: Store) -> list[Link]:
    """Every re-creation the record shows, by the later VM's birth."""
    r = AssetReader(store)
    vms = r.lives("vm")
    # MAC -> (vm id, first, end) of each NIC that had it.
    macs: dict[str, list[tuple[str, int, int | None]]] = defaultdict(list)
    for nic in r.lives("nic"):
        uuid, mac = parse_nic(nic.eid)
        macs[mac.lower()].append((vm_id(uuid), nic.first, nic.end))
    ended = {v.eid: v for v in vms if v.end is not None}
    disks_at_end: dict[str, list[str]] = defaultdict(list)
    for v in ended.values():
        for path in disk_sources(v.last):
            disks_at_end[path].append(v.eid)
    macs_of: dict[str, dict[str, tuple[int, int | None]]] = defaultdict(dict)
    for mac, held in macs.items():
        for vm, first, end in held:
            macs_of[vm][mac] = (first, end)
    taken: set[str] = set()
    out: list[Link] = []
    for later in sorted(vms, key=lambda v: (v.first, v.eid)):
        found = _evidence(later, ended, disks_at_end, macs, macs_of)
        candidates = [e for e in found if e not in taken]
        if not candidates:
            continue
        earlier = max(candidates, key=lambda e: (_end(ended[e]), len(found[e]), e))
        taken.add(earlier)
        out.append(
            Link(
                earlier,
                later.eid,
                from_us(_end(ended[earlier])),
                from_us(later.first),
                sorted(found[earlier], key=lambda x: (x.kind, x.value)),
            )
        )
    return out


def _end(v: Life) -> int:
    assert v.end is not None
    return v.end


def _evidence(
    later: Life,
    ended: dict[str, Life],
    disks_at_end: dict[str, list[str]],
    macs: dict[str, list[tuple[str, int, int | None]]],
    macs_of: dict[str, dict[str, tuple[int, int | None]]],
) -> dict[str, list[Evidence]]:
    """What each VM that ended before `later` began shares with it."""
    found: dict[str, list[Evidence]] = defaultdict(list)

    def before(eid: str) -> bool:
        v = ended.get(eid)
        return v is not None and eid != later.eid and _end(v) <= later.first

    born = from_us(later.first)
    for path in sorted(disk_sources(later.born)):
        for eid in disks_at_end.get(path, ()):
            if before(eid):
                found[eid].append(Evidence("disk", path, from_us(_end(ended[eid])), born))
    for mac, (first, _) in sorted(macs_of.get(later.eid, {}).items()):
        for eid, _, end in macs[mac]:
            if before(eid):
                last = end if end is not None else _end(ended[eid])
                found[eid].append(Evidence("mac", mac, from_us(last), from_us(first)))
    return found
