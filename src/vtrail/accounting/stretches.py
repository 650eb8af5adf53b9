"""Each VM's life in a window as stretches of one state, size, host, owner and services.

A stretch begins and ends where anything billed about the VM changed: a version
(its state, `vcpus`, `memory_kib`, `asset.owner`), its live `runs_on` relation (a
migration is one stretch ending on the old host at the recorded instant and the next
beginning on the new one) or a `member_of` relation. Hosts get the same treatment for
their capacity (`cpus`, `memory_mib`).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from vtrail.assetattrs import OWNER
from vtrail.ids import parse_named
from vtrail.model import JSONValue
from vtrail.store import Store
from vtrail.store.reads.triage import RelationRow, TriageReader, VersionRow

RUNS_ON, MEMBER_OF, HAS_NIC = "runs_on", "member_of", "has_nic"
KIB_PER_GIB = 2**20
MIB_PER_GIB = 2**10


@dataclass(frozen=True, slots=True)
class Place:
    """What a VM's usage is billed to: its host, owner and services then."""

    vm: str
    host: str | None
    owner: str | None
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stretch:
    start: int
    end: int
    place: Place
    state: str | None
    vcpus: int
    memory_kib: int


@dataclass(frozen=True, slots=True)
class HostSpan:
    start: int
    end: int
    cpus: int
    memory_mib: int


def _int(attrs: Mapping[str, JSONValue], key: str) -> int:
    v = attrs.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


def _text(attrs: Mapping[str, JSONValue], key: str) -> str | None:
    v = attrs.get(key)
    return v if isinstance(v, str) and v else None


def _clip(lo: int, hi: int, start: int, end: int | None) -> tuple[int, int] | None:
    a, b = max(lo, start), min(hi, hi if end is None else end)
    return (a, b) if b > a else None


@dataclass(slots=True)
class Fabric:
    """The VMs' stretches, the hosts' capacity, NICs' VMs and names, over `[lo, hi]`."""

    stretches: dict[str, list[Stretch]]
    hosts: dict[str, list[HostSpan]]
    nic_vm: dict[str, str]
    names: dict[str, str]

    def capacity(self, host: str, start: int, end: int) -> tuple[float, float]:
        """The host's CPU-seconds and memory GiB-seconds in `[start, end)`."""
        cpu = mem = 0.0
        for s in self.hosts.get(host, ()):
            span = _clip(start, end, s.start, s.end)
            if span is not None:
                cpu += s.cpus * (span[1] - span[0]) / 1e6
                mem += s.memory_mib / MIB_PER_GIB * (span[1] - span[0]) / 1e6
        return cpu, mem


def _by_src(rows: list[RelationRow], lo: int, hi: int) -> dict[str, list[tuple[int, int, str]]]:
    out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for r in rows:
        span = _clip(lo, hi, r.valid_from, r.valid_to)
        if span is not None:
            out[r.src].append((span[0], span[1], r.dst))
    return out


def _versions(
    rows: list[VersionRow], lo: int, hi: int
) -> dict[str, list[tuple[int, int, VersionRow]]]:
    out: dict[str, list[tuple[int, int, VersionRow]]] = defaultdict(list)
    for v in rows:
        span = _clip(lo, hi, v.valid_from, v.valid_to)
        if span is not None:
            out[v.eid].append((span[0], span[1], v))
    for spans in out.values():
        spans.sort(key=lambda s: s[0])
    return out


def _at(spans: list[tuple[int, int, str]], t: int) -> list[str]:
    return sorted(dst for a, b, dst in spans if a <= t < b)


def _vm_stretches(
    vm: str,
    versions: list[tuple[int, int, VersionRow]],
    runs: list[tuple[int, int, str]],
    members: list[tuple[int, int, str]],
    service_owner: Mapping[str, str | None],
) -> list[Stretch]:
    cuts = sorted({t for a, b, _ in (*versions, *runs, *members) for t in (a, b)})
    starts = [a for a, _, _ in versions]
    out: list[Stretch] = []
    for a, b in itertools.pairwise(cuts):
        i = bisect.bisect_right(starts, a) - 1
        if i < 0 or versions[i][1] <= a:
            continue  # not recorded then: absent
        attrs = versions[i][2].attrs
        hosts = _at(runs, a)
        services = tuple(parse_named(s, "service") for s in _at(members, a))
        owner = _text(attrs, OWNER) or next(
            (o for s in services if (o := service_owner.get(s))), None
        )
        place = Place(vm, hosts[0] if hosts else None, owner, services)
        state = _text(attrs, "state")
        vcpus, mem = _int(attrs, "vcpus"), _int(attrs, "memory_kib")
        last = out[-1] if out else None
        if (
            last is not None
            and last.end == a
            and (last.place, last.state, last.vcpus, last.memory_kib) == (place, state, vcpus, mem)
        ):
            out[-1] = Stretch(last.start, b, place, state, vcpus, mem)
        else:
            out.append(Stretch(a, b, place, state, vcpus, mem))
    return out


def fabric(store: Store, lo: int, hi: int, service_owner: Mapping[str, str | None]) -> Fabric:
    reader = TriageReader(store)
    live, began = reader.versions(lo, hi, ("vm", "host"))
    versions = _versions(live + began, lo, hi)
    live_r, began_r = reader.relations(lo, hi, (RUNS_ON, MEMBER_OF, HAS_NIC))
    rels = live_r + began_r
    runs = _by_src([r for r in rels if r.rel == RUNS_ON], lo, hi)
    members = _by_src([r for r in rels if r.rel == MEMBER_OF], lo, hi)
    names: dict[str, str] = {}
    stretches: dict[str, list[Stretch]] = {}
    hosts: dict[str, list[HostSpan]] = {}
    for eid, spans in versions.items():
        last = spans[-1][2]
        names[eid] = _text(last.attrs, "name") or _text(last.attrs, "hostname") or eid
        if last.kind == "vm":
            found = _vm_stretches(
                eid, spans, runs.get(eid, []), members.get(eid, []), service_owner
            )
            if found:
                stretches[eid] = found
        else:
            hosts[eid] = [
                HostSpan(a, b, _int(v.attrs, "cpus"), _int(v.attrs, "memory_mib"))
                for a, b, v in spans
            ]
    nic_vm = {r.dst: r.src for r in sorted(rels, key=lambda r: r.valid_from) if r.rel == HAS_NIC}
    return Fabric(stretches, hosts, nic_vm, names)
