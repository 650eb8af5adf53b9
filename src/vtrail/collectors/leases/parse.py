"""A lease file's text into leases: dnsmasq's lease file and Kea's memfile CSV.

dnsmasq rewrites its file whole, one lease a line: `EXPIRY MAC ADDRESS HOSTNAME
CLIENT-ID` (expiry in epoch seconds, 0 for an infinite lease; `*` for no hostname or
client id). Its DHCPv6 leases follow a `duid` line and name an IAID, not a MAC:
they are read with no MAC. Kea appends a row per change to its CSV (`address,
hwaddr, client_id, valid_lifetime, expire, subnet_id, …, hostname, state, …`), and
its cleanup rewrites it; the last row of an address is its lease, live while its
`state` is 0. Its DHCPv6 file has `duid` and, optionally, `hwaddr`.

What a line cannot be read as is skipped and counted: a file half-written by its
server must not stop the ones after it.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Lease:
    address: str
    #: The client's MAC, lower case; None for a DHCPv6 lease that names none.
    mac: str | None
    #: Epoch seconds; None for a lease that never expires.
    expires: int | None
    hostname: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    #: `dnsmasq` or `kea`.
    format: str
    leases: tuple[Lease, ...]
    #: Lines that could not be read.
    skipped: int = 0


def _mac(text: str) -> str | None:
    m = text.strip().lower().replace("-", ":")
    return m if _MAC.match(m) else None


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _text(value: str) -> str | None:
    v = value.strip()
    return None if v in ("", "*") else v


def parse_dnsmasq(text: str) -> Parsed:
    leases: list[Lease] = []
    skipped = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "duid":
            continue
        if len(parts) < 4 or not parts[0].isdigit():
            skipped += 1
            continue
        address = _address(parts[2])
        if address is None:
            skipped += 1
            continue
        expiry = int(parts[0])
        mac = _mac(parts[1]) if ":" not in address else None
        if ":" not in address and mac is None:
            skipped += 1
            continue
        client = _text(parts[4]) if len(parts) > 4 else None
        leases.append(Lease(address, mac, expiry or None, _text(parts[3]), client))
    return Parsed("dnsmasq", tuple(leases), skipped)


def parse_kea(text: str) -> Parsed:
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        return Parsed("kea", ())
    col = {name.strip(): i for i, name in enumerate(header)}
    last: dict[str, Lease | None] = {}
    skipped = 0
    for row in rows:
        if not row:
            continue
        try:
            address = _address(row[col["address"]])
            expire = int(row[col["expire"]])
            state = int(row[col["state"]]) if "state" in col else 0
        except (IndexError, KeyError, ValueError):
            skipped += 1
            continue
        if address is None:
            skipped += 1
            continue
        hw = row[col["hwaddr"]] if "hwaddr" in col and col["hwaddr"] < len(row) else ""
        host = row[col["hostname"]] if "hostname" in col and col["hostname"] < len(row) else ""
        client = row[col["client_id"]] if "client_id" in col and col["client_id"] < len(row) else ""
        if not client and "duid" in col and col["duid"] < len(row):
            client = row[col["duid"]]
        # A row later in the file replaces the address's lease; a state other than 0
        # (declined, expired and reclaimed) ends it.
        last[address] = (
            Lease(address, _mac(hw), expire or None, _text(host), _text(client))
            if state == 0
            else None
        )
    return Parsed("kea", tuple(x for x in last.values() if x is not None), skipped)


def parse(text: str) -> Parsed:
    """Either format, told apart by Kea's header line."""
    first = text.split("\n", 1)[0]
    if first.startswith("address,"):
        return parse_kea(text)
    return parse_dnsmasq(text)
