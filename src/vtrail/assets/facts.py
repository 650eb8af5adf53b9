"""One asset's facts at an instant, from its own record and the register's, and its flags.

Two places may say who owns a VM: its own libvirt metadata (attributes of the
`vm:` entity) and an inventory (the `asset:<id>` entity). The thing's own word
comes first, since it travels with the VM; the register fills in what it leaves
out. Where both give a field different values, both are kept and the asset is
flagged, so that neither is silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vtrail.assetattrs import FIELDS, HARDWARE, OWNER, SUPPORT_END, support_end
from vtrail.model import JSONValue, Version

#: The fields of an asset record, as its JSON names them (`cost_centre`).
NAMES = {attr: attr.removeprefix("asset.") for attr in FIELDS.values()}
HW_NAMES = {attr: attr.removeprefix("hw.") for attr in HARDWARE.values()}

#: The flags, in the order a table shows them.
UNOWNED = "unowned"
SUPPORT_ENDED = "support-ended"
UNRECORDED = "unrecorded"
DISAGREE = "disagreement"


@dataclass(frozen=True, slots=True)
class Fact:
    value: str
    #: The source that said it (`libvirt+...@hv-a`, `inventory:/etc/vtrail/assets.yaml`).
    source: str
    #: What the other place said, when it said otherwise.
    disputed_by: str | None = None
    disputed_value: str | None = None


@dataclass(frozen=True, slots=True)
class Support:
    #: `in-support`, `ended`, `unknown` (no date) or `unreadable` (not a date).
    status: str
    end: str | None
    #: Days from the instant asked to the end; negative once past.
    days_left: int | None


def facts(own: Version | None, register: Version | None) -> dict[str, Fact]:
    """The fields either says, by JSON name, the thing's own word first."""
    out: dict[str, Fact] = {}
    for attr, name in NAMES.items():
        mine = _text(own.attrs.get(attr)) if own else None
        theirs = _text(register.attrs.get(attr)) if register else None
        if mine is not None and own is not None:
            disputed = theirs is not None and theirs != mine and register is not None
            out[name] = Fact(
                mine,
                own.source,
                register.source if disputed and register else None,
                theirs if disputed else None,
            )
        elif theirs is not None and register is not None:
            out[name] = Fact(theirs, register.source)
    return out


def hardware(own: Version | None) -> dict[str, str]:
    """A host's vendor, model, serial and BIOS as its DMI table gave them."""
    if own is None:
        return {}
    return {n: t for a, n in HW_NAMES.items() if (t := _text(own.attrs.get(a))) is not None}


def support(fields: dict[str, Fact], at: datetime) -> Support:
    fact = fields.get(NAMES[SUPPORT_END])
    if fact is None:
        return Support("unknown", None, None)
    try:
        end = support_end(fact.value)
    except ValueError:
        return Support("unreadable", fact.value, None)
    days = (end - at.date()).days
    return Support("in-support" if days >= 0 else "ended", end.isoformat(), days)


def flags(fields: dict[str, Fact], sup: Support, *, recorded: bool) -> list[str]:
    out = []
    if NAMES[OWNER] not in fields:
        out.append(UNOWNED)
    if sup.status == "ended":
        out.append(SUPPORT_ENDED)
    if not recorded:
        out.append(UNRECORDED)
    if any(f.disputed_by for f in fields.values()):
        out.append(DISAGREE)
    return out


def _text(value: JSONValue) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None
