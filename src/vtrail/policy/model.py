"""What a policy is, once its file has been read and checked.

A policy names groups and constrains where their members run:

- a *service* is the set of entities its selector matches, recomputed at every
  instant (a VM that appears later joins then);
- a *domain* is a set of hosts, bridges and networks; something is in it at T
  when where it ran (or was plugged in) at T is;
- a *rule* constrains one or two services, and holds or is violated at each
  instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vtrail.policy.pools import Pool

#: Every rule kind, as the file spells it.
RuleKind = Literal[
    "same-domain",  # every member of the service in one domain
    "affinity",  # every member of the listed services on one host
    "anti-affinity",  # no two members of the service on one host
    "host-affinity",  # every member of the service on one of the hosts
    "host-anti-affinity",  # no member of the service on any of the hosts
    "max-hops",  # every pair (from member, to member) at most `hops` router hops apart
]
RULE_KINDS: tuple[str, ...] = (
    "same-domain",
    "affinity",
    "anti-affinity",
    "host-affinity",
    "host-anti-affinity",
    "max-hops",
)


#: What an attribute equality compares with: a JSON scalar.
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which entities belong: every given condition must hold (an empty one matches
    nothing). `name` is a glob (fnmatch) on the `name` attribute; `attrs` are equalities
    on attributes (`metadata.<key>` reaches libvirt metadata the collector records: the
    libvirt collector writes each `<metadata>` leaf element's text as the attribute
    `metadata.<element>.<child>...`, by local names); `ids` are entity ids, matched
    exactly and alone enough.

    `attrs` is kept sorted by name, one entry per name, so that two selectors that say
    the same thing are equal (a policy read back from the store equals the file's)."""

    kind: str | None = None
    name: str | None = None
    attrs: tuple[tuple[str, Scalar], ...] = ()
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        canonical = tuple(sorted(dict(self.attrs).items()))
        if canonical != self.attrs:
            object.__setattr__(self, "attrs", canonical)

    @property
    def empty(self) -> bool:
        return self.kind is None and self.name is None and not self.attrs and not self.ids


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    members: Selector
    owner: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    """Where things run or are plugged in: `hosts` are host names (as in
    `host:<name>`); `bridges` and `networks` are entity ids (`bridge:hv-a/br0`,
    `net:default@hv-a`, `net:10.0.0.0/24@router-1`), which the file may also write
    without their kind (`hv-a/br0`, `default@hv-a`)."""

    name: str
    hosts: tuple[str, ...] = ()
    bridges: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: RuleKind
    #: The services the rule is about: one for most kinds, several for `affinity`,
    #: `(from, to)` for `max-hops`.
    services: tuple[str, ...]
    #: The hosts of `host-affinity` and `host-anti-affinity` (host names, as in `host:<name>`).
    hosts: tuple[str, ...] = ()
    #: The most router hops `max-hops` allows.
    hops: int | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    services: dict[str, Service] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    #: Address and MAC pools (policy/pools.py, docs/ipam.md).
    pools: dict[str, Pool] = field(default_factory=dict)
