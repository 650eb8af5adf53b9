"""`vtrail assets`: every VM and host live at an instant, with its asset facts and flags,
and every thing an inventory lists that nothing recorded then."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vtrail.assets.facts import (
    HW_NAMES,
    Fact,
    facts,
    flags,
    hardware,
    support,
)
from vtrail.ids import parse_asset
from vtrail.model import InvalidId, Version, split_id
from vtrail.store import Store
from vtrail.store.reads.assets import AssetReader
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import from_us, iso, to_us

#: What an asset record is of.
KINDS = ("vm", "host")


@dataclass(frozen=True, slots=True)
class AssetRow:
    entity: str
    kind: str
    name: str | None
    owner: str | None
    cost_centre: str | None
    purpose: str | None
    support_end: str | None
    #: `in-support`, `ended`, `unknown` or `unreadable` (facts.Support).
    support: str
    #: The host a VM ran on at the instant.
    host: str | None
    #: None for a thing only an inventory lists.
    first_seen: datetime | None
    flags: list[str]
    #: A host's vendor, model, serial and BIOS (its DMI table).
    hardware: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AssetsAnswer:
    at: datetime
    owner: str | None
    flagged: bool
    assets: list[AssetRow]


#: The columns of the CSV, in order; `flags` and `hardware` are joined with `;`.
CSV_COLUMNS = [
    "entity", "kind", "name", "owner", "cost_centre", "purpose", "support_end", "support",
    "host", "first_seen", "flags", *HW_NAMES.values(),
]  # fmt: skip


def registered(store: Store, t: int) -> dict[str, Version]:
    """What inventories said at `t`, by the VM or host each row describes."""
    out: dict[str, Version] = {}
    for v in StateReader(store).snapshot(t, "asset")[0]:
        try:
            out[parse_asset(v.entity)] = v
        except InvalidId:
            continue  # posted by hand under an id that names no VM or host
    return out


def assets(
    store: Store, at: datetime, owner: str | None = None, flagged: bool = False
) -> AssetsAnswer:
    """Every VM and host live at `at`, and every one an inventory lists then; with
    `owner`, those it names (case aside); with `flagged`, those with a flag."""
    t, r, reader = to_us(at), StateReader(store), AssetReader(store)
    live: dict[str, Version] = {}
    hosts: dict[str, str] = {}
    firsts: dict[str, int] = {}
    for kind in KINDS:
        versions, relations = r.snapshot(t, kind)
        live |= {v.entity: v for v in versions}
        hosts |= {x.key.src: x.key.dst for x in relations if x.key.rel == "runs_on"}
        firsts |= reader.firsts(kind)
    register = {e: v for e, v in registered(store, t).items() if split_id(e)[0] in KINDS}
    rows = []
    for eid in sorted(live.keys() | register.keys()):
        own, theirs = live.get(eid), register.get(eid)
        fields = facts(own, theirs)
        sup = support(fields, at)
        row = AssetRow(
            entity=eid,
            kind=split_id(eid)[0],
            name=name_of(own),
            owner=_value(fields, "owner"),
            cost_centre=_value(fields, "cost_centre"),
            purpose=_value(fields, "purpose"),
            support_end=sup.end,
            support=sup.status,
            host=hosts.get(eid),
            first_seen=from_us(firsts[eid]) if eid in firsts else None,
            flags=flags(fields, sup, recorded=own is not None),
            hardware=hardware(own),
        )
        if owner is not None and (row.owner or "").casefold() != owner.casefold():
            continue
        if flagged and not row.flags:
            continue
        rows.append(row)
    return AssetsAnswer(at, owner, flagged, rows)


def csv_rows(a: AssetsAnswer) -> list[list[str]]:
    """The answer as CSV cells under `CSV_COLUMNS`."""
    out = []
    for x in a.assets:
        out.append(
            [
                x.entity, x.kind, x.name or "", x.owner or "", x.cost_centre or "",
                x.purpose or "", x.support_end or "", x.support, x.host or "",
                iso(x.first_seen) or "", ";".join(x.flags),
                *(x.hardware.get(n, "") for n in HW_NAMES.values()),
            ]
        )  # fmt: skip
    return out


def _value(fields: dict[str, Fact], name: str) -> str | None:
    fact = fields.get(name)
    return fact.value if fact else None


def name_of(v: Version | None) -> str | None:
    """A VM's name, or a host's."""
    if v is None:
        return None
    name = v.attrs.get("name", v.attrs.get("hostname"))
    return name if isinstance(name, str) else None
