"""What the user typed (an id, a VM name, a MAC, an address, `IP@SPACE`) as entity ids.

Every question starts here, so that a name means the same thing everywhere and
an ambiguous one is refused the same way: with its candidates listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from vtrail.model import InvalidId, kind_of, split_id
from vtrail.query import spaces
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.search import SearchReader
from vtrail.timeexpr import iso, to_us

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.IGNORECASE)


class Ambiguous(LookupError):
    """A name that matches several entities; `candidates` lists them."""

    def __init__(self, query: str, candidates: list[str]) -> None:
        super().__init__(f"{query!r} is ambiguous: {', '.join(candidates)}")
        self.candidates = candidates


class HeldInSeveralSpaces(Ambiguous):
    """An address held in more than one address space at the instant asked about."""

    def __init__(self, query: str, at: datetime, found: list[spaces.Holding]) -> None:
        addr = query.split("@", 1)[0].strip()
        LookupError.__init__(
            self,
            f"{addr} was held in {len(found)} address spaces at {iso(at)}: "
            + "; ".join(h.describe() for h in found)
            + f". Name one: {addr}@<space> (or --space)",
        )
        self.candidates = [h.ip for h in found]


def resolve(store: Store, text: str) -> list[str]:
    """Entity ids that `text` (an id, VM name, MAC or IP) may mean."""
    r = SearchReader(store)
    text = text.strip()
    if _is_recorded_id(store, text):
        return [text]
    address = spaces.parse_query(text)
    if address is not None:
        return spaces.candidates(store, *address)
    if _MAC.match(text):
        mac = text.lower()
        found_mac = {store.entity_name(e) for e in r.by_attr("mac", mac)}
        found_mac |= set(r.nics_with_mac(mac))  # any VM's NIC of that MAC
        nics = sorted(x for x in found_mac if kind_of(x) == "nic")
        return nics or sorted(found_mac)
    named = sorted({store.entity_name(e) for e in r.by_attr("name", text)})
    vms = [x for x in named if kind_of(x) == "vm"]
    return vms or named


def address_at(
    store: Store, text: str, at: datetime, space: str | None = None
) -> spaces.Holding | None:
    """The one place an address the user typed was at `at`; None when `text` is no address
    or one nothing recorded. Held in several spaces then: `HeldInSeveralSpaces`."""
    query = spaces.parse_query(text)
    if query is None:
        if space is not None:
            raise UnknownEntity(f"a space picks one holder of an address; {text!r} is none")
        return None
    address, qualifier = query
    if space is not None and qualifier is not None and space != qualifier:
        raise UnknownEntity(f"{text!r} and --space {space!r} name two different spaces")
    space = space or qualifier
    found, live = spaces.holdings(store, address, to_us(at), space)
    if not found:
        if space is None:
            return None
        raise UnknownEntity(f"address space {space!r} never held {address}")
    if len(found) > 1:
        if live:
            raise HeldInSeveralSpaces(text, at, found)
        raise Ambiguous(text, [h.ip for h in found])
    return found[0]


def _is_recorded_id(store: Store, text: str) -> bool:
    try:
        split_id(text)
        store.entity_id(text)
    except (InvalidId, UnknownEntity):
        return False
    return True


def as_vm_id(text: str, space: str | None) -> bool:
    """Whether `text`, asked without a space, is read first as a VM's id: the common
    question, which `where` answers in one statement (no address, no owner to climb)."""
    return space is None and text.partition(":")[0] == "vm"


def resolve_one(store: Store, text: str) -> str:
    found = resolve(store, text)
    if not found:
        raise UnknownEntity(f"nothing recorded matches {text!r} (an id, VM name, MAC or IP)")
    if len(found) > 1:
        raise Ambiguous(text, found)
    return found[0]


def names_at(store: Store, ids: Iterable[str], *instants: datetime) -> dict[str, str]:
    """The `name` attribute each of `ids` had at the first of `instants` it was alive at;
    ids without one are left out. For tables, which show a thing by its name."""
    wanted = set(ids)
    out: dict[str, str] = {}
    g = GraphReader(store)
    for t in instants:
        for eid, node in g.nodes(wanted - out.keys(), to_us(t)).items():
            name = node.attrs.get("name")
            if isinstance(name, str) and name:
                out[eid] = name
    return out
