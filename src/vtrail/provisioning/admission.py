"""Admission: whether the policy in force allows a VM to start, before it starts.

The VM is its libvirt domain XML, read with the libvirt collector's own parser.
Its disks' sources name the image files; each is resolved to a recorded image
by path (an image's `paths` attribute, else a VM recorded with that disk and
the image it uses), and a source no image is found for is an unknown image.
Its owner is the one given, else its vtrail metadata's (docs/assets.md). Then
every provisioning rule is tested on it as `vtrail check` tests a running VM,
and every quota on what its owner runs at that instant plus this VM (each of
its interfaces counted as one address). The answer is allow or deny with every
reason; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from vtrail.assetattrs import OWNER
from vtrail.collectors.libraries import MissingLibrary, require
from vtrail.ids import host_id, vm_id
from vtrail.policy.model import Policy
from vtrail.provisioning.fleet import fleet_at
from vtrail.store import Store
from vtrail.timeexpr import to_us
from vtrail.triage.policy_at import policy_at
from vtrail.triage.provision_rules import Image, Runner, Usage, breaches, over, vm_size
from vtrail.triage.provisioning import QUOTA

if TYPE_CHECKING:
    from vtrail.collectors.libvirt.parse import DomainConfig


class BadDomain(ValueError):
    """Domain XML that cannot be admitted, said in one line."""


class NoParser(RuntimeError):
    """The libvirt collector's parser cannot be loaded here: its package needs
    libvirt-python, an extra (`vtrail[libvirt]`)."""


@dataclass(frozen=True, slots=True)
class Disk:
    target: str
    source: str | None
    #: The recorded image the source was found to be, or None: an unknown image.
    image: str | None


@dataclass(frozen=True, slots=True)
class Reason:
    #: The provisioning rule, or `quota:<owner>`.
    rule: str
    kind: str
    reason: str
    #: The image or host the reason is about, if one.
    place: str | None


@dataclass(frozen=True, slots=True)
class Admission:
    at: datetime
    #: The domain's name and its `vm:` id.
    domain: str
    entity: str
    owner: str | None
    #: The host it is to start on, as asked; None: host rules are not tested.
    host: str | None
    allow: bool
    reasons: list[Reason]
    disks: list[Disk]
    #: What the owner runs at `at` without this VM, and with it, and the quota's limits
    #: (memory in MiB); None when no quota applies.
    usage: dict[str, int] | None
    usage_with_vm: dict[str, int] | None
    quota: dict[str, int] | None


def read_domain(xml: str) -> DomainConfig:
    """The domain, read as the libvirt collector reads one. Its package loads
    libvirt-python, so it is imported here, not where the CLI and the API are."""
    try:
        require("libvirt")
    except MissingLibrary as e:
        said = str(e).replace("the libvirt source", "admission (the libvirt collector's parser)")
        raise NoParser(said) from None
    from vtrail.collectors.libvirt.parse import MalformedXML, parse_domain_xml

    try:
        return parse_domain_xml(xml, "the domain XML")
    except MalformedXML as e:
        raise BadDomain(" ".join(str(e).split())) from None


def admit(
    store: Store,
    xml: str,
    at: datetime,
    *,
    owner: str | None = None,
    host: str | None = None,
    policy: Policy | None = None,
) -> Admission:
    """Whether `policy` (default: the one in force at `at`) allows the domain `xml` to
    start on `host`, owned by `owner` (default: its metadata's)."""
    cfg = read_domain(xml)
    p = (policy if policy is not None else policy_at(store, at)).provisioning
    t = to_us(at)
    who = owner or dict(cfg.asset).get(OWNER)
    eid = vm_id(cfg.uuid)
    state = fleet_at(store, t)
    disks = [
        Disk(d.target, d.source, state.image_at(d.source) if d.source else None) for d in cfg.disks
    ]
    ids = sorted({d.image for d in disks if d.image})
    images = tuple(Image(i, state.fabric.attrs.get(i, {})) for i in ids)
    unknown = tuple(sorted({d.source for d in disks if d.source and d.image is None}))
    runner = Runner(eid, cfg.name, who, host_id(host) if host else None, images, unknown)
    reasons = [
        Reason(name, rule.kind, b.reason, b.place)
        for name, rule in p.rules.items()
        for b in breaches(rule, runner)
    ]
    quota = p.quota_of(who) if who is not None else None
    usage = with_vm = limits = None
    if quota is not None and who is not None:
        now = state.usage(who, without=eid)
        cpus, mib = vm_size({"vcpus": cfg.vcpus, "memory_kib": cfg.memory_kib})
        after = Usage(now.vms + 1, now.vcpus + cpus, now.memory + mib,
                      now.addresses + len(cfg.interfaces))  # fmt: skip
        name = QUOTA.format(quota.owner)
        reasons += [Reason(name, "quota", why, None) for _, why in over(quota, who, after)]
        usage, with_vm = _dict(now), _dict(after)
        limits = quota.limits()
    return Admission(
        at, cfg.name, eid, who, host, not reasons, reasons, disks,
        usage, with_vm, limits,
    )  # fmt: skip


def _dict(u: Usage) -> dict[str, int]:
    return {"vms": u.vms, "vcpus": u.vcpus, "memory": u.memory, "addresses": u.addresses}
