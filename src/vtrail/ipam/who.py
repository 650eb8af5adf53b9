"""`vtrail ipam who ADDRESS|MAC`: every holder of an address or a MAC, how it held it
(allocated from a pool, observed on an interface, leased by DHCP), and when.

An address is asked of every space that recorded it, or of the one after `@`. Its
holders are the edges that reach its ids: `allocated_to` (the holder the pool gave
it to), `leased_to` (the client's `mac:` a DHCP server leased it to) and
`has_address` (the interface netlink or libvirt saw holding it). A MAC's holders are
the NICs whose id ends in it, the holder a MAC pool gave it to, and the addresses it
was leased. Versions of one edge that only changed attributes are one holding.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vtrail.ids import address_prefixes, bare_ip_id, ip_id, ip_text_prefix, mac_id, space_of
from vtrail.ipam.intervals import Span, join
from vtrail.ipam.pools import is_mac, read_target
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.ipam import Edge, IpamReader
from vtrail.store.reads.rows import bounds
from vtrail.timeexpr import from_us, to_us

How = Literal["allocated", "observed", "leased"]
_HOW: dict[str, How] = {
    "allocated_to": "allocated",
    "has_address": "observed",
    "leased_to": "leased",
}


@dataclass(frozen=True, slots=True)
class Holder:
    #: Who held it: the allocation's holder, the interface or NIC, the client's `mac:`
    #: (or, asked of a MAC, the address it was leased).
    entity: str
    how: How
    t_from: datetime
    t_to: datetime | None
    #: The id it was held under (`ip:<address>@<space>`, `mac:<mac>`, the NIC's).
    id: str
    #: Its address space (None for a MAC).
    space: str | None
    #: Who said so: `ipam`, a collector's source, a lease file's.
    source: str
    #: The pool an allocation came from, or the hostname a lease names.
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class WhoAnswer:
    #: What was asked, written canonically (`10.0.3.7`, `52:54:00:12:34:56`).
    address: str
    space: str | None
    at: datetime | None
    t_from: datetime | None
    t_to: datetime | None
    holders: list[Holder]


def _window(at: datetime | None, t_from: datetime | None, t_to: datetime | None) -> tuple[int, int]:
    if at is not None:
        t = to_us(at)
        return t, t + 1
    check_window(t_from, t_to)
    return bounds(None if t_from is None else to_us(t_from), None if t_to is None else to_us(t_to))


def _detail(e: Edge) -> str | None:
    attrs = json.loads(e.attrs)
    for key in ("pool", "hostname"):
        value = attrs.get(key)
        if isinstance(value, str):
            return value
    return None


def holders_of(edges: Iterable[Edge], asked: set[str], lo: int, hi: int) -> list[Holder]:
    """One holder per edge (its versions joined) that meets `[lo, hi)`; `asked` are the
    ids asked about, so that the holder is the edge's other end."""
    spans: dict[tuple[str, str, str], list[Span]] = {}
    last: dict[tuple[str, str, str], Edge] = {}
    for e in edges:
        key = (e.src, e.rel, e.dst)
        spans.setdefault(key, []).append((e.valid_from, e.valid_to))
        if key not in last or e.valid_from >= last[key].valid_from:
            last[key] = e
    out = []
    for key, found in spans.items():
        e = last[key]
        mine, other = (e.src, e.dst) if e.src in asked else (e.dst, e.src)
        space = space_of(mine) if mine.startswith(ip_text_prefix()) else None
        for s, t in join(found):
            if s < hi and (t is None or t > lo):
                out.append(
                    Holder(
                        other,
                        _HOW[e.rel],
                        from_us(s),
                        None if t is None else from_us(t),
                        mine,
                        space,
                        e.source,
                        _detail(e),
                    )
                )
    return out


def who(
    store: Store,
    text: str,
    *,
    at: datetime | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> WhoAnswer:
    """Every holder of the address or MAC `text` at `at`, or in the window (the whole
    history when neither is given), in the order they began."""
    what, space = read_target(text)
    lo, hi = _window(at, t_from, t_to)
    r = IpamReader(store)
    holders: list[Holder] = []
    if is_mac(what):
        ids = r.ids_equal([mac_id(what)])
        edges = r.edges_of([n for n, _ in ids], lo, hi, out=("allocated_to",), into=("leased_to",))
        holders += holders_of(edges, {mac_id(what)}, lo, hi)
        nics = r.nics_with_mac(what)
        lives: dict[str, list[Span]] = {}
        said: dict[str, str] = {}
        for life in r.lives([n for n, _ in nics], lo, hi):
            lives.setdefault(life.eid, []).append((life.valid_from, life.valid_to))
            said[life.eid] = life.source
        for nic, found in lives.items():
            for s, t in join(found):
                holders.append(
                    Holder(
                        nic,
                        "observed",
                        from_us(s),
                        None if t is None else from_us(t),
                        nic,
                        None,
                        said[nic],
                    )
                )
    else:
        address = ipaddress.ip_address(what)
        if space is not None:
            ids = r.ids_equal([ip_id(address, space)])
        else:
            ids = r.ids_with_prefix(address_prefixes(address)) + r.ids_equal([bare_ip_id(address)])
        edges = r.edges_of(
            [n for n, _ in ids], lo, hi, out=("allocated_to", "leased_to"), into=("has_address",)
        )
        holders += holders_of(edges, {eid for _, eid in ids}, lo, hi)
    holders.sort(key=lambda h: (h.t_from, h.how, h.entity))
    return WhoAnswer(what, space, at, t_from, t_to, holders)
