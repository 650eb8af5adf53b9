"""Leases into one snapshot observation: each live lease an `ip:<address>@<space>`
leased to its client's `mac:<mac>` (`leased_to`, with the hostname), the address's
expiry on its entity. A lease past its expiry is left out: the server may not have
rewritten its file yet, but the address is no longer the client's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from vtrail.collectors.leases.parse import Lease
from vtrail.ids import ip_id, mac_id
from vtrail.model import EntityObs, JSONValue, Observation, RelationObs, RelKey


def live(leases: Iterable[Lease], now: float) -> list[Lease]:
    return [x for x in leases if x.expires is None or x.expires > now]


def to_observation(source: str, space: str, leases: Iterable[Lease], at: datetime) -> Observation:
    entities, relations = lease_facts(space, leases, at)
    return Observation(source, at, "snapshot", entities, relations)


def lease_facts(
    space: str, leases: Iterable[Lease], at: datetime
) -> tuple[tuple[EntityObs, ...], tuple[RelationObs, ...]]:
    """The live leases' addresses (in `space`), clients and `leased_to` edges: what a
    lease file says, and what a libvirt network's DHCP server says of its own."""
    entities: dict[str, EntityObs] = {}
    relations: dict[RelKey, RelationObs] = {}
    for x in live(leases, at.timestamp()):
        iid = ip_id(x.address, space)
        attrs: dict[str, JSONValue] = {
            "address": x.address,
            "family": 6 if ":" in x.address else 4,
            "lease_expires": x.expires,
        }
        if x.client_id is not None:
            attrs["client_id"] = x.client_id
        entities[iid] = EntityObs(iid, "ip", {k: v for k, v in attrs.items() if v is not None})
        if x.mac is None:
            continue
        mid = mac_id(x.mac)
        entities[mid] = EntityObs(mid, "mac", {"mac": x.mac})
        key = RelKey(iid, "leased_to", mid)
        relations[key] = RelationObs(key, {"hostname": x.hostname} if x.hostname else {})
    return tuple(entities.values()), tuple(relations.values())
