"""What a policy is, once its file has been read and checked.

A policy names groups and constrains where their members run:

- a *service* is the set of entities its selector matches, recomputed at every
  instant (a VM that appears later joins then);
- a *domain* is a set of hosts, bridges and networks; something is in it at T
  when where it ran (or was plugged in) at T is;
- a *rule* constrains one or two services, and holds or is violated at each
  instant;
- a *probe* measures a service, a domain, entities or addresses from a vantage
  point (a network namespace, or a host's own), round after round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from vtrail.policy.accounting import Accounting
from vtrail.policy.images import CatalogEntry
from vtrail.policy.maintenance import Maintenance
from vtrail.policy.pools import Pool
from vtrail.policy.provisioning import Provisioning

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


#: The kinds of change `vtrail triage` ranks (docs/triage.md), each with how likely a
#: change of that kind is to break traffic: its default weight.
CHANGE_KINDS: dict[str, float] = {
    "moved": 1.0,  # a VM migrated, a NIC or port replugged
    "route": 1.0,  # a router's table changed
    "vanished": 0.9,
    "ghost": 0.9,  # appeared and vanished inside the window
    "relation": 0.7,  # a relation began or ended, nothing moved
    "appeared": 0.6,
    "changed": 0.5,  # attributes changed
    "violation": 0.4,  # a rule of the policy began to be violated
    "policy": 0.3,  # the policy itself changed
}


@dataclass(frozen=True, slots=True)
class TriageSettings:
    """How `vtrail triage` ranks suspects (docs/triage.md): a suspect's score is the
    weighted mean of its time proximity, its closeness to the affected paths and its
    kind's weight. `kinds` is kept sorted by name, one entry per kind."""

    time: float = 0.4
    distance: float = 0.4
    kind: float = 0.2
    kinds: tuple[tuple[str, float], ...] = tuple(sorted(CHANGE_KINDS.items()))
    #: Seconds before the onset in which changes are suspects.
    window: float = 3600.0
    #: Seconds over which time proximity halves.
    half_life: float = 60.0

    def __post_init__(self) -> None:
        canonical = tuple(sorted({**CHANGE_KINDS, **dict(self.kinds)}.items()))
        if canonical != self.kinds:
            object.__setattr__(self, "kinds", canonical)

    def kind_weight(self, kind: str) -> float:
        return dict(self.kinds).get(kind, 0.0)


# -- probes ---------------------------------------------------------------------------

#: How a probe measures, as the file spells it.
ProbeKind = Literal["icmp", "tcp", "http"]
PROBE_KINDS: tuple[str, ...] = ("icmp", "tcp", "http")
#: Where a probe runs from: a network namespace, or a host's own (root) namespace.
VantageKind = Literal["netns", "host"]
#: What a probe's `to` names: one service, one domain, entity ids, or addresses.
TargetKind = Literal["service", "domain", "ids", "addresses"]
TARGET_KINDS: tuple[str, ...] = ("service", "domain", "ids", "addresses")


@dataclass(frozen=True, slots=True)
class Vantage:
    kind: VantageKind
    #: The namespace's name, or the host's name (as in `host:<name>`).
    name: str


@dataclass(frozen=True, slots=True)
class ProbeTo:
    kind: TargetKind
    #: The service's or domain's name alone, or the ids, or the addresses.
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Degraded:
    """When one round of a probe counts as degraded: more loss than `loss` (a ratio), or
    an average RTT above `rtt` times the median of the probe's own rounds over the
    `baseline` before it."""

    loss: float = 0.2
    rtt: float = 3.0
    baseline: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    to: ProbeTo
    kind: ProbeKind = "icmp"
    #: None: the host the recorder runs on, its own namespace.
    vantage: Vantage | None = None
    every: timedelta = timedelta(seconds=10)
    #: Packets (icmp) or connections (tcp, http) a round.
    count: int = 5
    #: tcp and http only (http defaults to 80).
    port: int | None = None
    #: http only.
    path: str | None = None
    #: How long one packet or connection may take before it counts as lost.
    timeout: timedelta = timedelta(seconds=1)
    degraded: Degraded = field(default_factory=Degraded)
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    services: dict[str, Service] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    triage: TriageSettings = field(default_factory=TriageSettings)
    #: Address and MAC pools (policy/pools.py, docs/ipam.md).
    pools: dict[str, Pool] = field(default_factory=dict)
    #: Who may run what, where, and how much (policy/provisioning.py, docs/provisioning.md).
    provisioning: Provisioning = field(default_factory=Provisioning)
    #: Which states are billed and the rate card (policy/accounting.py, docs/accounting.md).
    accounting: Accounting | None = None
    #: Overcommit ratios `vtrail plan` places VMs with (policy/maintenance.py).
    maintenance: Maintenance = field(default_factory=Maintenance)
    #: The image catalog by NAME@VERSION (policy/images.py, docs/images.md).
    images: dict[str, CatalogEntry] = field(default_factory=dict)
