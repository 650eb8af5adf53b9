"""`vtrail ipam export`: the allocations live at an instant as dnsmasq `dhcp-host`
lines, a hosts file or a CSV, so that DHCP and DNS follow vtrail's pools.

Each allocated address is written with its holder's name (its `name` attribute then,
else its id's key) and MAC: the holder's own when it is a NIC, a MAC a MAC pool
allocated to the same holder, or its first NIC's (a VM's `has_nic`). An address
whose holder has no MAC is written by name alone in `dhcp-host` (dnsmasq then
matches the client's hostname).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vtrail.ids import parse_ip, parse_mac, parse_nic
from vtrail.ipam.pools import IpamError, IpamNotFound, pools_at
from vtrail.model import InvalidId, split_id
from vtrail.query.names import names_at
from vtrail.store import Store
from vtrail.store.reads.ipam import IpamReader
from vtrail.timeexpr import from_us, iso, to_us

Format = Literal["dnsmasq", "hosts", "csv"]
FORMATS: tuple[str, ...] = ("dnsmasq", "hosts", "csv")


@dataclass(frozen=True, slots=True)
class Line:
    pool: str
    address: str
    space: str | None
    entity: str
    name: str
    mac: str | None
    since: datetime


def _name(eid: str, names: dict[str, str]) -> str:
    name = names.get(eid) or split_id(eid)[1]
    # A hostname is letters, digits and '-': anything else would not resolve.
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return cleaned or "host"


def lines(store: Store, at: datetime, pool: str | None = None) -> list[Line]:
    """The allocations of addresses live at `at` (of one pool, or every one)."""
    t = to_us(at)
    if pool is not None and pool not in pools_at(store, at):
        raise IpamNotFound(f"unknown pool {pool!r} at {iso(at)}")
    r = IpamReader(store)
    live = [
        e
        for e in r.edges_by_rel(("allocated_to",), t, t + 1)
        if e.valid_from <= t and (e.valid_to is None or e.valid_to > t)
    ]
    macs: dict[str, str] = {}
    addresses = []
    for e in live:
        kind = split_id(e.src)[0]
        if kind == "mac":
            macs.setdefault(e.dst, parse_mac(e.src))
        elif kind == "ip" and (pool is None or json.loads(e.attrs).get("pool") == pool):
            addresses.append(e)
    holders = {e.dst for e in addresses}
    for h in sorted(holders - macs.keys()):
        if split_id(h)[0] == "nic":
            macs[h] = parse_nic(h)[1].lower()
            continue
        ids = r.ids_equal([h])
        nics = sorted(
            x.dst for x in r.edges_of([n for n, _ in ids], t, t + 1, out=("has_nic",), into=())
        )
        for nic in nics:
            try:
                macs[h] = parse_nic(nic)[1].lower()
                break
            except InvalidId:
                continue
    names = names_at(store, holders, at)
    out = []
    for e in addresses:
        a = parse_ip(e.src)
        out.append(
            Line(
                str(json.loads(e.attrs).get("pool", "")),
                str(a.address),
                a.space,
                e.dst,
                _name(e.dst, names),
                macs.get(e.dst),
                from_us(e.valid_from),
            )
        )
    out.sort(
        key=lambda x: (
            x.pool,
            ipaddress.ip_address(x.address).version,
            int(ipaddress.ip_address(x.address)),
        )
    )
    return out


def render(found: list[Line], fmt: Format, at: datetime) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["pool", "address", "space", "entity", "name", "mac", "since"])
        for x in found:
            w.writerow(
                [x.pool, x.address, x.space or "", x.entity, x.name, x.mac or "", iso(x.since)]
            )
        return buf.getvalue()
    head = f"# vtrail ipam export: the allocations live at {iso(at)}\n"
    if fmt == "hosts":
        return head + "".join(f"{x.address}\t{x.name}\n" for x in found)
    body = []
    for x in found:
        # dnsmasq writes an IPv6 address in brackets in dhcp-host.
        addr = f"[{x.address}]" if ":" in x.address else x.address
        body.append(
            f"dhcp-host={x.mac},{addr},{x.name}\n" if x.mac else f"dhcp-host={x.name},{addr}\n"
        )
    return head + "".join(body)


@dataclass(frozen=True, slots=True)
class ExportAnswer:
    at: datetime
    format: str
    pool: str | None
    lines: list[Line]
    #: The file itself.
    text: str


def export(store: Store, fmt: str, at: datetime, pool: str | None = None) -> ExportAnswer:
    if fmt not in FORMATS:
        raise IpamError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    found = lines(store, at, pool)
    return ExportAnswer(at, fmt, pool, found, render(found, fmt, at))  # type: ignore[arg-type]
