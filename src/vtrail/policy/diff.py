"""What changed from one policy to another: services, domains, rules and probes added,
removed or changed, each with its file form before and after."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from vtrail.policy.accounting import accounting_document
from vtrail.policy.document import (
    domain_document,
    rule_document,
    service_document,
    triage_document,
)
from vtrail.policy.images import entry_document
from vtrail.policy.maintenance import maintenance_document
from vtrail.policy.model import Policy
from vtrail.policy.pools import pool_document
from vtrail.policy.probes import probe_document
from vtrail.policy.provisioning import Provisioning, provisioning_document

T = TypeVar("T")

Part = Literal[
    "service",
    "domain",
    "rule",
    "pool",
    "probe",
    "triage",
    "provisioning",
    "accounting",
    "maintenance",
    "image",
]
Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class PolicyChange:
    #: What changed: a service, a domain, a rule or a probe.
    part: Part
    name: str
    change: Change
    #: Its file form before and after (None where it did not exist).
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _part(
    part: Part,
    old: Mapping[str, T],
    new: Mapping[str, T],
    document: Callable[[T], dict[str, Any]],
) -> list[PolicyChange]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        a = document(old[name]) if name in old else None
        b = document(new[name]) if name in new else None
        if a == b:
            continue
        change: Change = "added" if a is None else "removed" if b is None else "changed"
        out.append(PolicyChange(part, name, change, a, b))
    return out


def changes(old: Policy, new: Policy) -> list[PolicyChange]:
    """Every service, domain, rule and probe that differs, in that order, each by name;
    then the `triage:` section (named `ranking`) and the `accounting:` one (`rates`) when
    they differ."""
    return [
        *_part("service", old.services, new.services, service_document),
        *_part("domain", old.domains, new.domains, domain_document),
        *_part("rule", old.rules, new.rules, rule_document),
        *_part("pool", old.pools, new.pools, pool_document),
        *_part("probe", old.probes, new.probes, probe_document),
        *_part("image", old.images, new.images, entry_document),
        *_part("triage", {"ranking": old.triage}, {"ranking": new.triage}, triage_document),
        *_part("provisioning", _section(old.provisioning), _section(new.provisioning),
               provisioning_document),
        *_part("accounting", _rates(old), _rates(new), accounting_document),
        *_part("maintenance", {"capacity": old.maintenance}, {"capacity": new.maintenance},
               maintenance_document),
    ]  # fmt: skip


def _section(p: Provisioning) -> dict[str, Provisioning]:
    return {"provisioning": p} if p else {}


def _rates(p: Policy) -> dict[str, Any]:
    return {} if p.accounting is None else {"rates": p.accounting}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: value}


def changed_keys(c: PolicyChange) -> list[tuple[str, Any, Any]]:
    """`(key, before, after)` of each value that differs, keys dotted (`max-hops.hops`)."""
    a, b = _flat(c.before or {}), _flat(c.after or {})
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
