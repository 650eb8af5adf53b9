"""What breaks each provisioning rule and each quota, for one VM or one owner, in a line.

The same tests serve the audit (`vtrail check`, a VM as recorded at T) and
admission (`vtrail admit`, a VM about to start): both describe the VM as a
`Runner` (its name, owner, host and images with their catalog facts) and ask
`breaches`. An image is read by the catalog's attributes (`catalog.name`,
`catalog.certified_by`, `catalog.security`, ...), whoever recorded them; a VM
that uses no image vtrail knows breaks every image rule that applies to it,
since nothing says what it runs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from vtrail.assetattrs import OWNER
from vtrail.model import JSONValue, split_id
from vtrail.policy.provisioning import ProvisionRule, Quota

#: The catalog's facts of an image, as the images' records hold them.
CERTIFIED_BY = "catalog.certified_by"
SECURITY = "catalog.security"
ADVISORIES = "catalog.advisories"
NAME = "catalog.name"
VERSION = "catalog.version"
#: Quotas count memory in MiB; libvirt says KiB.
KIB_PER_MIB = 1024


@dataclass(frozen=True, slots=True)
class Image:
    eid: str
    attrs: Mapping[str, JSONValue]

    def text(self, key: str) -> str | None:
        v = self.attrs.get(key)
        return v if isinstance(v, str) and v else None

    @property
    def label(self) -> str:
        """How a reason names the image: `name@version` when the catalog says them."""
        name = self.text(NAME) or self.text("name")
        version = self.text(VERSION) or self.text("version")
        if name and version:
            return f"{name}@{version}"
        return name or split_id(self.eid)[1]

    def names(self) -> list[str]:
        """What an `images` glob is matched against: the name, and name@version."""
        out = [self.label]
        name = self.text(NAME) or self.text("name")
        if name and name not in out:
            out.append(name)
        return out


@dataclass(frozen=True, slots=True)
class Runner:
    """A VM as the rules see it: running on `host` (None: not placed yet), owned by
    `owner`, from `images` (an empty tuple: no image vtrail knows)."""

    eid: str
    name: str
    owner: str | None
    host: str | None
    images: tuple[Image, ...] = ()
    #: Disk sources no recorded image was found for (admission only).
    unknown: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Found:
    """One way a rule is broken: the thing it is about (an image, a host) and why."""

    place: str | None
    reason: str


def owner_of(
    own: Mapping[str, JSONValue] | None, register: Mapping[str, JSONValue] | None
) -> str | None:
    """The VM's owner: its own metadata's first, then the inventory's (docs/assets.md)."""
    for attrs in (own, register):
        v = attrs.get(OWNER) if attrs else None
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


@cache
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def applies(rule: ProvisionRule, owner: str | None) -> bool:
    """Whether the rule is about a VM of `owner`: every VM when it names no owners."""
    if not rule.owners:
        return True
    return owner is not None and _globs(rule.owners).match(owner) is not None


def _listed(items: Iterable[str], joint: str = "or") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {joint} {items[-1]}"


def _image(rule: ProvisionRule, vm: str, img: Image) -> str | None:
    """Why `img` breaks `rule`, or None."""
    if rule.kind == "certified":
        by = img.text(CERTIFIED_BY)
        if by is None:
            return f"{vm} runs {img.label}, which is not certified"
        if rule.values and by not in rule.values:
            return f"{vm} runs {img.label}, certified by {by}, not by {_listed(rule.values)}"
        return None
    if rule.kind == "security":
        status = img.text(SECURITY) or "unknown"
        if status in rule.values:
            return None
        advisories = img.attrs.get(ADVISORIES)
        said = ""
        if isinstance(advisories, list) and advisories:
            said = f" ({', '.join(str(a) for a in advisories[:3])}"
            said += f" and {len(advisories) - 3} more)" if len(advisories) > 3 else ")"
        return f"{vm} runs {img.label}, security {status}{said}, not {_listed(rule.values)}"
    pattern = _globs(rule.values)
    if any(pattern.match(n) for n in img.names()):
        return None
    return f"{vm} runs {img.label}, which matches none of {_listed(rule.values)}"


def breaches(rule: ProvisionRule, r: Runner) -> list[Found]:
    """Every way VM `r` breaks `rule` (nothing when the rule is not about its owner)."""
    if not applies(rule, r.owner):
        return []
    if rule.kind == "hosts":
        if r.host is None:
            return []
        host = split_id(r.host)[1] if ":" in r.host else r.host
        if host in rule.values:
            return []
        return [Found(r.host, f"{r.name} on {host}, not on {_listed(rule.values)}")]
    out = [Found(None, f"{r.name}: unknown image {src}") for src in r.unknown]
    if not r.images and not r.unknown:
        out.append(Found(None, f"{r.name} runs no image vtrail knows"))
    for img in r.images:
        why = _image(rule, r.name, img)
        if why is not None:
            out.append(Found(img.eid, why))
    return out


# -- quotas ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """What one owner runs at once."""

    vms: int = 0
    vcpus: int = 0
    #: MiB.
    memory: int = 0
    addresses: int = 0

    def of(self, what: str) -> int:
        return int(getattr(self, what))


#: How a reason counts each limit.
_UNITS = {"vms": "VMs", "vcpus": "vCPUs", "memory": "MiB of memory", "addresses": "addresses"}


def over(quota: Quota, owner: str, used: Usage) -> list[tuple[str, str]]:
    """Each limit of `quota` that `used` exceeds: (what, why)."""
    return [
        (what, f"{owner} runs {used.of(what)} {_UNITS[what]}, quota {limit}")
        for what, limit in quota.limits().items()
        if used.of(what) > limit
    ]


def vm_size(attrs: Mapping[str, JSONValue]) -> tuple[int, int]:
    """(vCPUs, MiB of memory) a VM's record says it has; 0 where it says nothing."""
    vcpus, kib = attrs.get("vcpus"), attrs.get("memory_kib")
    cpus = vcpus if isinstance(vcpus, int) and not isinstance(vcpus, bool) else 0
    mem = kib if isinstance(kib, int) and not isinstance(kib, bool) else 0
    return cpus, -(-mem // KIB_PER_MIB)
