"""The `provisioning:` part of a policy file: who may run what, where, and how much.

    provisioning:
      rules:
        - {name: certified-only, certified: true}
        - {name: no-vulnerable, security: [ok, unknown]}
        - {name: batch-images, owners: team-batch, images: ["batch-*", "debian@12*"]}
        - {name: batch-on-c, owners: team-batch, hosts: [hv-c]}
      quotas:
        team-web: {vms: 10, vcpus: 32, memory: 64GiB, addresses: 16}
        "*": {vms: 4}

Each rule has one kind, said by its key: `certified` (the image is certified,
by anyone or by one of those listed), `security` (the image's security status
is one of those listed), `images` (the image's catalog name, or name@version,
matches one of the globs) or `hosts` (the VM runs on one of the hosts). A rule
applies to the VMs whose owner matches one of its `owners` globs, or to every
VM when it names none. A quota limits what one owner runs at once; `"*"` is
the limit of each owner not listed by name.

Read with `read_provisioning` (every refusal naming its place like the rest of
the file) and written back with `provisioning_document`, which is also how the
section is recorded. The format is docs/provisioning.md's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from vtrail.ids import parse_named, provisioning_settings_id
from vtrail.model import InvalidId
from vtrail.policy.places import (
    At,
    Bad,
    PolicyError,
    described,
    is_name,
    known_names,
    quoted,
    read_count,
    read_glob,
    read_list,
    read_mapping,
    read_optional_text,
    read_text,
)

#: Every provisioning rule kind, as the file spells it.
ProvisionKind = Literal["certified", "security", "images", "hosts"]
PROVISION_KINDS: tuple[str, ...] = ("certified", "security", "images", "hosts")
#: An image's security status, as the catalog says it (`catalog.security`); an image
#: the catalog says nothing of is `unknown`.
SECURITY = ("ok", "vulnerable", "unknown")
#: The quota key that limits each owner the section does not name.
EVERY_OWNER = "*"
#: What a quota limits, as the file spells it.
QUOTA_KEYS = ("vms", "vcpus", "memory", "addresses")
#: The entity the section is recorded as.
ENTITY = provisioning_settings_id()

_RULE = ("name", "description", "owners", *PROVISION_KINDS)
_TOP = ("rules", "quotas")
_MEMORY = re.compile(r"^\s*(\d+)\s*(MiB|GiB|TiB)\s*$")
_MIB = {"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}
#: The most of anything a quota may count: more is no limit at all.
QUOTA_MAX = 1 << 40


@dataclass(frozen=True, slots=True)
class ProvisionRule:
    name: str
    kind: ProvisionKind
    #: Globs on the VM's owner; empty: the rule applies to every VM, owned or not.
    owners: tuple[str, ...] = ()
    #: `certified`: who may have certified the image (empty: anyone); `security`: the
    #: statuses allowed; `images`: globs on the image's name; `hosts`: host names.
    values: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    """What one owner (or each owner not named, `*`) may run at once; None: no limit."""

    owner: str
    vms: int | None = None
    vcpus: int | None = None
    memory_mib: int | None = None
    addresses: int | None = None

    def limits(self) -> dict[str, int]:
        """Each limit set, by what it counts (`memory` in MiB)."""
        found = {
            "vms": self.vms,
            "vcpus": self.vcpus,
            "memory": self.memory_mib,
            "addresses": self.addresses,
        }
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Provisioning:
    rules: dict[str, ProvisionRule] = field(default_factory=dict)
    quotas: dict[str, Quota] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rules or self.quotas)

    def quota_of(self, owner: str) -> Quota | None:
        """The quota that limits `owner`: its own, or the one of every owner."""
        return self.quotas.get(owner) or self.quotas.get(EVERY_OWNER)


def _memory(value: object, at: At) -> int:
    """MiB: a whole number of MiB, or text such as `512MiB`, `64GiB`, `1TiB`."""
    if isinstance(value, str):
        m = _MEMORY.match(value)
        if m is None:
            raise at.bad(f"{quoted(value)} is not an amount of memory: write 512MiB, 64GiB, 1TiB")
        value = int(m.group(1)) * _MIB[m.group(2)]
        return read_count(value, at, 1, QUOTA_MAX)
    if not isinstance(value, int) or isinstance(value, bool):
        raise at.bad(f"expected memory (MiB, or text such as 64GiB), got {described(value)}")
    return read_count(value, at, 1, QUOTA_MAX)


def _owner(value: object, at: At) -> str:
    if value == EVERY_OWNER:
        return EVERY_OWNER
    return read_text(value, at)


def _quota(owner: str, value: object, at: At) -> Quota:
    m = read_mapping(value, at, QUOTA_KEYS, "a mapping of limits (vms, vcpus, memory, addresses)")
    if not m:
        raise at.bad("a quota limits at least one of vms, vcpus, memory, addresses")

    def count(key: str) -> int | None:
        return read_count(m[key], at.key(m, key), 0, QUOTA_MAX) if key in m else None

    memory = _memory(m["memory"], at.key(m, "memory")) if "memory" in m else None
    return Quota(owner, count("vms"), count("vcpus"), memory, count("addresses"))


def _status(value: object, at: At) -> str:
    text = read_text(value, at)
    if text not in SECURITY:
        raise at.bad(
            f"unknown security status {quoted(text)} {known_names(text, SECURITY, 'statuses')}"
        )
    return text


def _host(value: object, at: At) -> str:
    text = read_text(value, at)
    if text.partition(":")[0] == "host":  # written as its id
        try:
            text = parse_named(text, "host")
        except InvalidId:
            raise at.bad(f"{quoted(value)} is not a host name") from None
    if not is_name(text):
        raise at.bad(f"{quoted(value)} is not a host name")
    return text


def read_rule(value: object, at: At) -> ProvisionRule:
    if isinstance(value, dict):
        at = at.named(value.get("name"))
    m = read_mapping(value, at, _RULE, "a mapping (name, owners, and one rule kind)")
    if "name" not in m:
        raise at.bad("a provisioning rule needs a name")
    name = read_text(m["name"], at.key(m, "name"))
    if not is_name(name):
        raise at.key(m, "name").bad(
            f"{quoted(name)} is not a name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 64 characters"
        )
    kinds = [k for k in PROVISION_KINDS if k in m]
    if len(kinds) != 1:
        said = f"two ({', '.join(kinds)}): a rule has one; split it" if kinds else "none"
        raise at.bad(f"a provisioning rule has one kind of {', '.join(PROVISION_KINDS)}; {said}")
    kind = cast(ProvisionKind, kinds[0])
    here, body = at.key(m, kind), m[kind]
    values: tuple[str, ...]
    if kind == "certified":
        if body is True:
            values = ()
        elif body is False:
            raise here.bad("certified: false allows everything: leave the rule out")
        else:
            values = read_list(body, here, "certifiers (or true: anyone)", read_text)
    elif kind == "security":
        values = read_list(body, here, "security statuses", _status)
    elif kind == "images":
        values = read_list(body, here, "image name globs", read_glob)
    else:
        values = read_list(body, here, "host names", _host)
    if kind != "certified" and not values:
        raise here.bad(f"{kind} names at least one")
    owners: tuple[str, ...] = ()
    if "owners" in m:
        owners = read_list(m["owners"], at.key(m, "owners"), "owner globs", read_glob)
        if not owners:
            raise at.key(m, "owners").bad("owners names at least one (leave it out: every VM)")
    return ProvisionRule(name, kind, owners, values, read_optional_text(m, "description", at))


def read_provisioning(value: object, at: At, taken: Collection[str] = ()) -> Provisioning:
    """The `provisioning:` section. `taken` are the placement rules' names, which a
    provisioning rule may not take: `vtrail check` answers both by name."""
    if value is None:
        return Provisioning()
    top = read_mapping(value, at, _TOP, "a mapping (rules, quotas)")
    rules: dict[str, ProvisionRule] = {}
    listed = top.get("rules")
    if listed is not None:
        where = At(f"{at.head}.rules", "", at.key(top, "rules").line)
        if not isinstance(listed, list):
            raise where.bad(f"expected a list of rules, got {described(listed)}")
        for i, item in enumerate(listed):
            rule = read_rule(item, where.item(listed, i))
            here = where.item(listed, i).named(rule.name)
            if rule.name in rules:
                first = list(rules).index(rule.name)
                raise here.bad(f"the rule name {rule.name!r} is taken by rules[{first}]")
            if rule.name in taken:
                raise here.bad(f"the rule name {rule.name!r} is taken by a rule under rules:")
            rules[rule.name] = rule
    quotas: dict[str, Quota] = {}
    given = top.get("quotas")
    if given is not None:
        where = at.key(top, "quotas")
        m = read_mapping(given, where, None, "a mapping of quotas by owner")
        for owner, body in m.items():
            here = At(f"{at.head}.quotas.{owner}", "", where.key(m, owner).line)
            name = _owner(owner, here)
            quotas[name] = _quota(name, body, here)
    return Provisioning(rules, quotas)


# -- written back ----------------------------------------------------------------------


def _memory_text(mib: int) -> str:
    for unit in ("TiB", "GiB"):
        if mib % _MIB[unit] == 0:
            return f"{mib // _MIB[unit]}{unit}"
    return f"{mib}MiB"


def rule_document(r: ProvisionRule) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": r.name}
    if r.owners:
        doc["owners"] = list(r.owners)
    doc[r.kind] = True if r.kind == "certified" and not r.values else list(r.values)
    if r.description is not None:
        doc["description"] = r.description
    return doc


def quota_document(q: Quota) -> dict[str, Any]:
    return {k: _memory_text(v) if k == "memory" else v for k, v in q.limits().items()}


def provisioning_document(p: Provisioning) -> dict[str, Any]:
    """The section in the file's form (and as its entity records it)."""
    doc: dict[str, Any] = {}
    if p.rules:
        doc["rules"] = [rule_document(r) for r in p.rules.values()]
    if p.quotas:
        doc["quotas"] = {o: quota_document(q) for o, q in sorted(p.quotas.items())}
    return doc


def provisioning_from(eid: str, attrs: Mapping[str, Any]) -> Provisioning:
    """Read back with the file's own reader: the section was checked whole when it was
    applied, so only its form is checked again."""
    try:
        return read_provisioning(dict(attrs), At(eid))
    except Bad as e:
        raise PolicyError(f"{eid} as recorded is no policy's: {e.place}: {e.reason}") from None
