"""The policy's `accounting:` section: which VM states are billed and the rate card that
turns recorded usage into cost (docs/accounting.md), read and checked in one line per
fault like the other sections, and written back in the file's form.

```yaml
accounting:
  states: [running, paused]
  rates: {vcpu-hour: 0.02, gib-hour: 0.005, disk-gb: 0.01, network-gb: 0.02}
  bill: max          # allocated (the default), or max(allocated, used) per vCPU-hour
  share-idle: true   # each host's idle capacity shared out among its VMs by cost
```

OpenNebula's showback charges a VM its allocated CPU and memory by the hour in the
states its rules name; OpenCost charges `max(request, usage)` and shares out the
idle cost of each node. Both are options of this one section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vtrail.policy.places import At, described, known_names, quoted, read_list, read_mapping

Bill = Literal["allocated", "max"]

_KEYS = ("states", "rates", "bill", "share-idle")
_RATES = ("vcpu-hour", "gib-hour", "disk-gb", "network-gb")
_BILLS = ("allocated", "max")
#: libvirt's state words (collectors/libvirt/enums.py) in which a VM holds its host's
#: CPUs and memory; a shut-off or crashed VM holds nothing.
STATES = ("running", "paused", "blocked", "pmsuspended", "shutdown")
DEFAULT_STATES = ("running",)
#: A rate above this is a typo (a price per second, an extra zero), not a tariff.
RATE_MAX = 1e6


@dataclass(frozen=True, slots=True)
class Accounting:
    #: The states whose time counts as allocated.
    states: tuple[str, ...] = DEFAULT_STATES
    #: Price per vCPU-hour, per GiB-hour of memory, per GB (10^9 bytes) read or written
    #: on disk, per GB received or sent; None: no rate card, usage only.
    vcpu_hour: float | None = None
    gib_hour: float | None = None
    disk_gb: float | None = None
    network_gb: float | None = None
    #: `max`: a VM pays for the CPU it used when that exceeds what it was allocated.
    bill: Bill = "allocated"
    share_idle: bool = False

    @property
    def priced(self) -> bool:
        return any(r is not None for r in self.rates())

    def rates(self) -> tuple[float | None, ...]:
        return (self.vcpu_hour, self.gib_hour, self.disk_gb, self.network_gb)


def _state(value: object, at: At) -> str:
    if not isinstance(value, str) or value not in STATES:
        found = value if isinstance(value, str) else described(value)
        raise at.bad(f"unknown state {quoted(found)} {known_names(str(found), STATES, 'states')}")
    return value


def _rate(value: object, at: At) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise at.bad(f"expected a price (a number), got {described(value)}")
    if not 0 <= value <= RATE_MAX:
        raise at.bad(f"{value} is out of range: a price is from 0 to {RATE_MAX:g}")
    return float(value)


def read_accounting(value: object, at: At) -> Accounting | None:
    """The `accounting:` section, or None when the file has none."""
    if value is None:
        return None
    m = read_mapping(value, at, _KEYS, "a mapping (states, rates, bill, share-idle)")
    states: tuple[str, ...] = DEFAULT_STATES
    if "states" in m:
        states = read_list(m["states"], at.key(m, "states"), "states", _state)
        if not states:
            raise at.key(m, "states").bad("no state listed: nothing would ever be allocated")
    rates: dict[str, float] = {}
    if "rates" in m:
        where = at.key(m, "rates")
        r = read_mapping(m["rates"], where, _RATES, "a mapping of prices")
        rates = {k: _rate(v, where.key(r, k)) for k, v in r.items()}
    bill = m.get("bill", "allocated")
    if bill not in _BILLS:
        found = bill if isinstance(bill, str) else described(bill)
        known = known_names(str(found), _BILLS, "allowed")
        raise at.key(m, "bill").bad(f"unknown bill {quoted(found)} {known}")
    share = m.get("share-idle", False)
    if not isinstance(share, bool):
        raise at.key(m, "share-idle").bad(f"expected true or false, got {described(share)}")
    return Accounting(
        states,
        rates.get("vcpu-hour"),
        rates.get("gib-hour"),
        rates.get("disk-gb"),
        rates.get("network-gb"),
        "max" if bill == "max" else "allocated",
        share,
    )


def accounting_document(a: Accounting) -> dict[str, Any]:
    """The section as the file writes it (and as its `accounting:` entity records it)."""
    doc: dict[str, Any] = {"states": list(a.states)}
    rates = {k: r for k, r in zip(_RATES, a.rates(), strict=True) if r is not None}
    if rates:
        doc["rates"] = rates
    doc["bill"] = a.bill
    doc["share-idle"] = a.share_idle
    return doc
