"""A policy as history: a snapshot observation of source `policy`, and back.

Each apply records the whole policy as one snapshot, so that, like anything
else vtrail records, it has a state at every instant: a rule taken out of the
file ends at the next apply, and the policy in force at T is rebuilt from the
versions of its entities live at T. The entities:

- `service:<name>`: `owner`, `description`, `members` (the selector: `kind`,
  `name`, `attrs` as an object, `ids`);
- `domain:<name>`: `hosts`, `bridges`, `networks`, `description`;
- `rule:<name>`: `kind`, `services`, `hosts`, `hops`, `description`;
- `pool:<name>`: the pool in the file's form (`prefix` or `range`, `space`, ...,
  or `mac-prefix`).
- `probe:<name>`: the probe in the file's form (`from`, `to`, `kind`, `every`, ...,
  `degraded`), every value said.
- `provisioning:rules`, only when the file has a `provisioning:` section: the
  section in the file's form (`rules`, `quotas`).
- `accounting:rates`, only when the file has an `accounting:` section: the section in
  the file's form.
- `catalog:<name>@<version>`: an image catalog entry in the file's form (`image`,
  `creator`, ...).
- `triage:ranking`, only when the file's `triage:` section differs from the
  defaults: `time`, `distance`, `kind`, `kinds` (an object), `window` and
  `half_life` in seconds.
- `maintenance:capacity`, only when the `maintenance:` section differs from the
  defaults: `overcommit` (`cpu`, `memory`).

Each but the last also has `name`. An attribute with no value (no owner, no hosts) is left
out. `from_attrs(to_observation(p).entities)` is `p`, exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from vtrail.ids import (
    accounting_settings_id,
    catalog_entry_id,
    catalog_prefix,
    domain_id,
    parse_named,
    pool_id,
    probe_id,
    rule_id,
    service_id,
    triage_settings_id,
)
from vtrail.model import Attrs, EntityObs, InvalidId, JSONValue, Observation, Version, split_id
from vtrail.policy.accounting import Accounting, accounting_document, read_accounting
from vtrail.policy.images import entry_document, read_recorded
from vtrail.policy.load import PolicyError
from vtrail.policy.maintenance import (
    MAINTENANCE_ID,
    Maintenance,
    maintenance_document,
    maintenance_from,
)
from vtrail.policy.model import (
    RULE_KINDS,
    Domain,
    Policy,
    Probe,
    Rule,
    RuleKind,
    Selector,
    Service,
    TriageSettings,
)
from vtrail.policy.places import At, Bad
from vtrail.policy.pools import Pool, pool_document, read_pool
from vtrail.policy.probes import probe_document, read_probe
from vtrail.policy.provisioning import ENTITY, provisioning_document, provisioning_from

#: The source every policy is recorded from.
SOURCE = "policy"
#: The kinds of the policy's entities.
KINDS = (
    "service", "domain", "rule", "pool", "probe", "triage", "provisioning", "accounting",
    "maintenance", "catalog",
)  # fmt: skip
#: The one entity of the `triage:` section.
TRIAGE_ID = triage_settings_id()
#: The one entity of the `accounting:` section.
ACCOUNTING_ID = accounting_settings_id()
#: What their ids start with.
PREFIXES = (
    service_id(""), domain_id(""), rule_id(""), pool_id(""), probe_id(""),
    TRIAGE_ID, ENTITY, ACCOUNTING_ID, MAINTENANCE_ID, catalog_prefix(),
)  # fmt: skip


def _some(**attrs: JSONValue) -> dict[str, JSONValue]:
    return {k: v for k, v in attrs.items() if v is not None and v != []}


def _selector(s: Selector) -> dict[str, JSONValue]:
    return _some(kind=s.kind, name=s.name, attrs=dict(s.attrs) or None, ids=list(s.ids))


def _entities(p: Policy) -> Iterable[EntityObs]:
    for name, s in sorted(p.services.items()):
        attrs = _some(
            name=name, owner=s.owner, description=s.description, members=_selector(s.members)
        )
        yield EntityObs(service_id(name), "service", attrs)
    for name, d in sorted(p.domains.items()):
        attrs = _some(
            name=name,
            hosts=list(d.hosts),
            bridges=list(d.bridges),
            networks=list(d.networks),
            description=d.description,
        )
        yield EntityObs(domain_id(name), "domain", attrs)
    for name, r in sorted(p.rules.items()):
        attrs = _some(
            name=name,
            kind=r.kind,
            services=list(r.services),
            hosts=list(r.hosts),
            hops=r.hops,
            description=r.description,
        )
        yield EntityObs(rule_id(name), "rule", attrs)
    for name, probe in sorted(p.probes.items()):
        yield EntityObs(probe_id(name), "probe", probe_document(probe))
    for name, pool in sorted(p.pools.items()):
        yield EntityObs(pool_id(name), "pool", {"name": name, **pool_document(pool)})
    for key, e in sorted(p.images.items()):
        eid = catalog_entry_id(e.name, e.version)
        yield EntityObs(eid, "catalog", {"name": key, **entry_document(e)})
    if p.triage != TriageSettings():
        yield EntityObs(TRIAGE_ID, "triage", _triage_attrs(p.triage))
    if p.provisioning:
        yield EntityObs(ENTITY, "provisioning", provisioning_document(p.provisioning))
    if p.accounting is not None:
        yield EntityObs(ACCOUNTING_ID, "accounting", accounting_document(p.accounting))
    if p.maintenance != Maintenance():
        yield EntityObs(MAINTENANCE_ID, "maintenance", maintenance_document(p.maintenance))


def _triage_attrs(t: TriageSettings) -> dict[str, JSONValue]:
    return {
        "time": t.time,
        "distance": t.distance,
        "kind": t.kind,
        "kinds": dict(t.kinds),
        "window": t.window,
        "half_life": t.half_life,
    }


def to_observation(policy: Policy, at: datetime) -> Observation:
    """The whole policy as source `policy` says it at `at`."""
    return Observation(SOURCE, at, "snapshot", tuple(_entities(policy)))


# -- and back ------------------------------------------------------------------------------


class _Recorded:
    """One recorded entity's attributes, read with the types the writer gave them."""

    def __init__(self, eid: str, attrs: Attrs) -> None:
        self.eid, self.attrs = eid, attrs

    def bad(self, key: str, what: str) -> PolicyError:
        return PolicyError(f"{self.eid} as recorded is no policy's: {key} is not {what}")

    def text(self, key: str) -> str | None:
        v = self.attrs.get(key)
        if v is not None and not isinstance(v, str):
            raise self.bad(key, "text")
        return v

    def texts(self, key: str) -> tuple[str, ...]:
        v = self.attrs.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.bad(key, "a list of text")
        return tuple(cast(list[str], v))

    def number(self, key: str) -> float:
        v = self.attrs.get(key)
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise self.bad(key, "a number")
        return float(v)

    def mapping(self, key: str) -> dict[str, Any]:
        v = self.attrs.get(key, {})
        if not isinstance(v, dict):
            raise self.bad(key, "an object")
        return v


def _selector_from(r: _Recorded) -> Selector:
    m = _Recorded(r.eid, r.mapping("members"))
    attrs = m.mapping("attrs")
    return Selector(m.text("kind"), m.text("name"), tuple(attrs.items()), m.texts("ids"))


def _probe_from(eid: str, attrs: Attrs) -> Probe:
    """Read back with the file's own reader: it was checked whole when it was applied
    (its services and domains then existed), so only its form is checked again."""
    try:
        return read_probe(dict(attrs), At(eid))
    except Bad as e:
        raise PolicyError(f"{eid} as recorded is no policy's: {e.place}: {e.reason}") from None


def _pool_from(eid: str, name: str, attrs: Attrs) -> Pool:
    """Read back with the file's own reader: the section was checked whole when it was
    applied, so only each pool's form is checked again."""
    try:
        return read_pool(name, {k: v for k, v in attrs.items() if k != "name"}, At(eid))
    except Bad as e:
        raise PolicyError(f"{eid} as recorded is no policy's: {e.place}: {e.reason}") from None


def from_attrs(entities: Iterable[tuple[str, Attrs]]) -> Policy:
    """The policy whose entities (id and attributes) these are; others' are ignored."""
    p = Policy()
    for eid, attrs in entities:
        try:
            kind = split_id(eid)[0]
        except InvalidId:
            continue
        if kind not in KINDS:
            continue
        r = _Recorded(eid, attrs)
        if kind == "triage":
            p = replace(p, triage=_triage_from(r))
            continue
        if kind == "provisioning":
            p = replace(p, provisioning=provisioning_from(eid, attrs))
            continue
        if kind == "accounting":
            p = replace(p, accounting=_accounting_from(eid, attrs))
            continue
        if kind == "maintenance":
            p = replace(p, maintenance=maintenance_from(eid, attrs))
            continue
        name = parse_named(eid, kind)
        if kind == "catalog":
            try:
                p.images[name] = read_recorded(name, attrs, eid)
            except ValueError as e:
                raise PolicyError(str(e)) from None
        elif kind == "pool":
            p.pools[name] = _pool_from(eid, name, attrs)
        elif kind == "service":
            owner, description = r.text("owner"), r.text("description")
            p.services[name] = Service(name, _selector_from(r), owner, description)
        elif kind == "probe":
            p.probes[name] = _probe_from(eid, attrs)
        elif kind == "domain":
            p.domains[name] = Domain(
                name, r.texts("hosts"), r.texts("bridges"), r.texts("networks"),
                r.text("description"),
            )  # fmt: skip
        else:
            rule_kind = r.text("kind")
            if rule_kind not in RULE_KINDS:
                raise r.bad("kind", f"one of {', '.join(RULE_KINDS)}")
            hops = attrs.get("hops")
            if hops is not None and (not isinstance(hops, int) or isinstance(hops, bool)):
                raise r.bad("hops", "a whole number")
            p.rules[name] = Rule(
                name, cast(RuleKind, rule_kind), r.texts("services"), r.texts("hosts"), hops,
                r.text("description"),
            )  # fmt: skip
    return p


def _accounting_from(eid: str, attrs: Attrs) -> Accounting | None:
    try:
        return read_accounting(dict(attrs), At(eid))
    except Bad as e:
        raise PolicyError(f"{eid} as recorded is no policy's: {e.place}: {e.reason}") from None


def _triage_from(r: _Recorded) -> TriageSettings:
    kinds = r.mapping("kinds")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in kinds.values()):
        raise r.bad("kinds", "an object of numbers")
    return TriageSettings(
        r.number("time"),
        r.number("distance"),
        r.number("kind"),
        tuple((str(k), float(v)) for k, v in kinds.items()),
        r.number("window"),
        r.number("half_life"),
    )


def from_versions(versions: Iterable[Version]) -> Policy:
    """The policy in force when these versions (the policy's entities live at an instant)
    were: what `triage.policy_at` reads from the store."""
    return from_attrs((v.entity, v.attrs) for v in versions)
