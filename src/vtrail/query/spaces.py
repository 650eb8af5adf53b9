"""Which recorded address a user means: an address is one entity per address space.

A user types `10.0.0.1`, `10.0.0.1/24` or `10.0.0.1@ns1` (`@` then the space,
as in the id `ip:10.0.0.1@ns1`). The space may also be given by a VM's name
for the addresses its guest holds. `holdings` says where the address was held
at an instant, one `Holding` per space, so that a question can refuse an
address held in two places instead of answering with one of them.

Ids recorded before address spaces (`ip:10.0.0.1`, one entity however many
namespaces held it) are split here by the space of each holder, so the same
refusal holds for stores recorded before the change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vtrail.ids import (
    IPAddr,
    address_prefixes,
    bare_ip_id,
    guest_space,
    holder_space,
    parse_ip,
    parse_vm,
)
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.search import SearchReader


@dataclass(frozen=True, slots=True)
class Holding:
    """An address in one space: its entity and what held it there at the instant asked."""

    ip: str
    #: None for an id from before address spaces that nothing held then.
    space: str | None
    holders: list[str]

    def describe(self) -> str:
        where = self.space if self.space is not None else self.ip
        return f"{where} ({', '.join(self.holders)})" if self.holders else where


#: What an address can begin with. Most of what users type (ids, names) begins with
#: something else: told apart here, not by `ipaddress` raising twice to say so.
_ADDRESS_START = frozenset("0123456789abcdefABCDEF:")


def parse_query(text: str) -> tuple[IPAddr, str | None] | None:
    """`(address, space or None)` of what a user typed, or None when it is no address."""
    local, at, space = text.strip().partition("@")
    if not local or local[0] not in _ADDRESS_START or not ("." in local or ":" in local):
        return None
    try:
        address = ipaddress.ip_address(local.split("/", 1)[0])
    except ValueError:
        return None
    return address, (space.strip() or None) if at else None


def recorded(store: Store, address: IPAddr) -> list[str]:
    """Every `ip:` entity ever recorded for `address`, in any space, old ids included."""
    g = GraphReader(store)
    found = [x for prefix in address_prefixes(address) for x in g.ever_with_prefix(prefix)]
    try:
        store.entity_id(bare_ip_id(address))
    except UnknownEntity:
        return sorted(found)
    return sorted([*found, bare_ip_id(address)])


def _space_names(store: Store, space: str) -> set[str]:
    """The spaces a qualifier may mean: itself, and the guest space of VMs of that name."""
    vms = (store.entity_name(e) for e in SearchReader(store).by_attr("name", space))
    return {space} | {guest_space(uuid) for vm in vms if (uuid := parse_vm(vm)) is not None}


def holdings(
    store: Store, address: IPAddr, t: int, space: str | None = None
) -> tuple[list[Holding], bool]:
    """Where `address` was at `t` (microseconds), one `Holding` per space, and whether any
    was live then. When none was, every space it was ever recorded in, held by nothing.
    `space` keeps only that space (or the guest of the VM of that name)."""
    ids = recorded(store, address)
    if not ids:
        return [], False
    wanted = _space_names(store, space) if space is not None else None
    g = GraphReader(store)
    held: dict[str, list[str]] = {}
    for e in g.edges(ids, t, ["has_address"]):
        held.setdefault(e.dst, []).append(e.src)
    alive = g.nodes(ids, t)
    live: list[Holding] = []
    for ip in ids:
        own = parse_ip(ip).space
        holders = sorted(held.get(ip, []))
        if own is None and holders:
            # One old id for every namespace that held it: one holding per holder's space.
            by_space: dict[str | None, list[str]] = {}
            for h in holders:
                by_space.setdefault(holder_space(h), []).append(h)
            live += [Holding(ip, s, hs) for s, hs in by_space.items()]
        elif holders or ip in alive:
            live.append(Holding(ip, own, holders))
    live = [h for h in live if wanted is None or h.space in wanted]
    if live:
        return live, True
    return [Holding(ip, parse_ip(ip).space, []) for ip in _in(ids, wanted)], False


def candidates(store: Store, address: IPAddr, space: str | None = None) -> list[str]:
    """The `ip:` ids `address` may mean at any time, in `space` when given."""
    wanted = _space_names(store, space) if space is not None else None
    return _in(recorded(store, address), wanted)


def _in(ids: list[str], wanted: set[str] | None) -> list[str]:
    return [ip for ip in ids if wanted is None or parse_ip(ip).space in wanted]
