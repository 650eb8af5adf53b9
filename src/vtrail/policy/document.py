"""A `Policy` written back in the file's form: what `policy show` prints.

The form is the one `load` reads, so a policy shown can be applied again as it
is (YAML, or JSON, which YAML reads too): `parse_policy(to_yaml(p)) == p`.
"""

from __future__ import annotations

from typing import Any

import yaml

from vtrail.policy.accounting import accounting_document
from vtrail.policy.images import entry_document
from vtrail.policy.load import METADATA
from vtrail.policy.maintenance import Maintenance, maintenance_document
from vtrail.policy.model import Domain, Policy, Rule, Selector, Service, TriageSettings
from vtrail.policy.pools import pool_document
from vtrail.policy.probes import probe_document
from vtrail.policy.provisioning import provisioning_document


def selector_document(s: Selector) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if s.kind is not None:
        doc["kind"] = s.kind
    if s.name is not None:
        doc["name"] = s.name
    # Metadata is text as libvirt holds it; any other value under the prefix was
    # written as an attribute, and is written back as one.
    metadata = {k: v for k, v in s.attrs if k.startswith(METADATA) and isinstance(v, str)}
    attrs = {k: v for k, v in s.attrs if k not in metadata}
    if attrs:
        doc["attrs"] = attrs
    if metadata:
        doc["metadata"] = {k.removeprefix(METADATA): v for k, v in metadata.items()}
    if s.ids:
        doc["ids"] = list(s.ids)
    return doc


def service_document(s: Service) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if s.owner is not None:
        doc["owner"] = s.owner
    doc["members"] = selector_document(s.members)
    if s.description is not None:
        doc["description"] = s.description
    return doc


def domain_document(d: Domain) -> dict[str, Any]:
    doc: dict[str, Any] = {
        key: list(value)
        for key, value in (("hosts", d.hosts), ("bridges", d.bridges), ("networks", d.networks))
        if value
    }
    if d.description is not None:
        doc["description"] = d.description
    return doc


def rule_document(r: Rule) -> dict[str, Any]:
    body: Any
    if r.kind in ("same-domain", "anti-affinity"):
        body = r.services[0] if len(r.services) == 1 else list(r.services)
    elif r.kind == "affinity":
        body = list(r.services)
    elif r.kind in ("host-affinity", "host-anti-affinity"):
        body = {"service": r.services[0], "hosts": list(r.hosts)}
    else:
        body = {"from": r.services[0], "to": r.services[1], "hops": r.hops}
    doc: dict[str, Any] = {"name": r.name, r.kind: body}
    if r.description is not None:
        doc["description"] = r.description
    return doc


def triage_document(t: TriageSettings) -> dict[str, Any]:
    """The `triage:` section; durations in seconds."""
    return {
        "weights": {"time": t.time, "distance": t.distance, "kind": t.kind, "kinds": dict(t.kinds)},
        "window": t.window,
        "half-life": t.half_life,
    }


def to_document(p: Policy) -> dict[str, Any]:
    """The policy as the file writes it: services, domains and pools by name, rules and
    probes in lists (pools and probes only when there are some), and the `triage:`
    section when it is not the defaults."""
    doc: dict[str, Any] = {
        "services": {n: service_document(s) for n, s in sorted(p.services.items())},
        "domains": {n: domain_document(d) for n, d in sorted(p.domains.items())},
        "rules": [rule_document(r) for _, r in sorted(p.rules.items())],
    }
    if p.pools:
        doc["pools"] = {n: pool_document(x) for n, x in sorted(p.pools.items())}
    if p.probes:
        doc["probes"] = [probe_document(x) for _, x in sorted(p.probes.items())]
    if p.images:
        doc["images"] = {k: entry_document(e) for k, e in sorted(p.images.items())}
    if p.triage != TriageSettings():
        doc["triage"] = triage_document(p.triage)
    if p.provisioning:
        doc["provisioning"] = provisioning_document(p.provisioning)
    if p.accounting is not None:
        doc["accounting"] = accounting_document(p.accounting)
    if p.maintenance != Maintenance():
        doc["maintenance"] = maintenance_document(p.maintenance)
    return doc


def to_yaml(p: Policy) -> str:
    return str(yaml.safe_dump(to_document(p), sort_keys=False, allow_unicode=True, width=100))
