"""The policy's `maintenance:` section: how far a host's capacity may be overcommitted
when `vtrail plan` looks for room to move a VM (docs/maintenance.md).

```yaml
maintenance:
  overcommit: {cpu: 4, memory: 1.5}
```

A host with 32 cpus and 65,536 MiB then holds at most 128 vCPUs and 98,304 MiB of
VM memory. Without the section nothing is overcommitted (both ratios 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vtrail.ids import maintenance_settings_id
from vtrail.policy.places import At, Bad, PolicyError, described, read_mapping

#: The one entity the section is recorded as, when it differs from the defaults.
MAINTENANCE_ID = maintenance_settings_id()
_KEYS = ("overcommit",)
_RATIOS = ("cpu", "memory")
#: The largest ratio taken: more is a typo, not a plan.
RATIO_MAX = 64.0


@dataclass(frozen=True, slots=True)
class Maintenance:
    #: vCPUs a host may hold per cpu it has.
    cpu_ratio: float = 1.0
    #: VM memory a host may hold per unit of memory it has.
    memory_ratio: float = 1.0


def _ratio(value: object, at: At) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise at.bad(f"expected a ratio (a number), got {described(value)}")
    if not 0 < value <= RATIO_MAX:
        raise at.bad(f"{value} is out of range: above 0, at most {RATIO_MAX:g}")
    return float(value)


def read_maintenance(value: object, at: At) -> Maintenance:
    if value is None:
        return Maintenance()
    m = read_mapping(value, at, _KEYS, "a mapping (overcommit)")
    if m.get("overcommit") is None:
        return Maintenance()
    here = at.key(m, "overcommit")
    ratios = read_mapping(m["overcommit"], here, _RATIOS, "a mapping of ratios (cpu, memory)")
    found = {k: _ratio(v, here.key(ratios, k)) for k, v in ratios.items()}
    return Maintenance(found.get("cpu", 1.0), found.get("memory", 1.0))


def maintenance_document(m: Maintenance) -> dict[str, Any]:
    return {"overcommit": {"cpu": m.cpu_ratio, "memory": m.memory_ratio}}


def maintenance_from(eid: str, attrs: Mapping[str, Any]) -> Maintenance:
    """Read back with the file's own reader: it was checked when it was applied."""
    try:
        return read_maintenance(dict(attrs), At(eid))
    except Bad as e:
        raise PolicyError(f"{eid} as recorded is no policy's: {e.place}: {e.reason}") from None
