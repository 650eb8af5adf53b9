"""What a probe measures at an instant: its `to` resolved against the history.

A service's or a domain's members are those the store holds as `member_of` /
`in_domain` at that instant (derived by the recorder as it records,
triage/derive.py), so a VM that joins is measured from the next round on. Each
member is measured at one of its addresses then (VM → `has_nic` → NIC →
`has_address` → ip, or an address it holds itself), so a VM that migrated and
took a new address is measured at the new one. Of several addresses the first
IPv4 one is taken, then the first IPv6 one that is neither link-local nor
loopback (in the order of their ids).

`{ids: [...]}` measures those entities the same way (an `ip:` id is its own
address); `{addresses: [...]}` measures the addresses as given, written on the
address's id in the vantage's space (`ip:10.0.0.9@h-web`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime

from vtrail.ids import IPAddr, domain_id, ip_id, parse_ip, service_id
from vtrail.model import InvalidId, split_id
from vtrail.policy.model import Probe
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.timeexpr import to_us
from vtrail.triage.derive import IN_DOMAIN, MEMBER_OF

#: (the entity a target's figures are written on, the address measured)
Target = tuple[str, str]


def _address(eid: str) -> IPAddr | None:
    try:
        return parse_ip(eid).address if split_id(eid)[0] == "ip" else None
    except InvalidId:
        return None


def _rank(a: IPAddr) -> tuple[int, int, str]:
    bad = a.is_link_local or a.is_loopback or a.is_unspecified or a.is_multicast
    return (int(bad), 0 if a.version == 4 else 1, str(a))


def _members(r: GraphReader, probe: Probe, t: int) -> list[str]:
    kind, names = probe.to.kind, probe.to.names
    if kind == "ids":
        return list(names)
    group, rel = (
        (service_id(names[0]), MEMBER_OF) if kind == "service" else (domain_id(names[0]), IN_DOMAIN)
    )
    return sorted({e.src for e in r.edges([group], t, [rel]) if e.dst == group})


def addresses_at(store: Store, entities: Iterable[str], at: datetime) -> dict[str, IPAddr]:
    """The address each entity is measured at, at `at` (those with none are left out)."""
    r, t = GraphReader(store), to_us(at)
    held: dict[str, list[IPAddr]] = {}
    nic_of: dict[str, str] = {}
    wanted = list(entities)
    asked = set(wanted)
    for eid in wanted:
        if (own := _address(eid)) is not None:
            held.setdefault(eid, []).append(own)
    for e in r.edges(wanted, t, ["has_nic", "has_address"]):
        if e.rel == "has_nic" and e.src in asked:
            nic_of[e.dst] = e.src
        elif e.rel == "has_address" and (a := _address(e.dst)) is not None:
            held.setdefault(e.src, []).append(a)
    for e in r.edges(list(nic_of), t, ["has_address"]):
        if e.src in nic_of and (a := _address(e.dst)) is not None:
            held.setdefault(nic_of[e.src], []).append(a)
    return {eid: min(found, key=_rank) for eid, found in held.items() if eid in asked}


def probe_targets(store: Store, probe: Probe, at: datetime, space: str) -> list[Target]:
    """`probe`'s targets at `at`; `space` is the vantage's address space (its namespace's
    name, or its host's), which names a raw address's entity."""
    if probe.to.kind == "addresses":
        return [(ip_id(a, space), str(ipaddress.ip_address(a))) for a in probe.to.names]
    members = _members(GraphReader(store), probe, to_us(at))
    found = addresses_at(store, members, at)
    return [(eid, str(found[eid])) for eid in members if eid in found]
