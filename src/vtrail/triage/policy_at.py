"""The policy in force at an instant, read from the store; how it changed; applying one.

A policy is recorded as a snapshot of source `policy` (policy/record.py), so the
policy in force at T is the versions of its entities live at T, and a policy
never applied is empty. These are the questions `vtrail policy show|diff` and
`GET /api/policy` ask, and the write `vtrail policy apply` and `PUT /api/policy`
make; the recording itself is the caller's (this layer reaches no recorder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vtrail.ids import KINDS as VTRAIL_KINDS
from vtrail.model import Observation
from vtrail.policy.diff import PolicyChange, changes
from vtrail.policy.document import to_document
from vtrail.policy.images import catalog_observation
from vtrail.policy.model import Policy
from vtrail.policy.record import PREFIXES, from_attrs, to_observation
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.stats import StatsReader
from vtrail.timeexpr import iso, to_us


@dataclass(frozen=True, slots=True)
class PolicyAnswer:
    """The policy in force at `at`, in the file's form (empty before any apply)."""

    at: datetime
    policy: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PolicyDiffAnswer:
    t_from: datetime
    t_to: datetime
    changes: list[PolicyChange]


@dataclass(frozen=True, slots=True)
class Applied:
    """A policy recorded at `at`: how it differs from the one in force until then."""

    at: datetime
    services: int
    domains: int
    rules: int
    changes: list[PolicyChange]
    probes: int = 0
    #: Provisioning rules and quotas (docs/provisioning.md).
    provisioning: int = 0


def policy_at(store: Store, at: datetime) -> Policy:
    """The policy in force at `at`: its entities live then, read by their ids' range."""
    r = GraphReader(store)
    t = to_us(at)
    ids = [eid for prefix in PREFIXES for eid in r.with_prefix(prefix, t)]
    return from_attrs((n.eid, n.attrs) for n in r.nodes(ids, t).values())


class NoPolicy(LookupError):
    """No policy was in force at the instant asked: nothing to check."""


def recorded_policy(store: Store, at: datetime) -> Policy:
    """The policy in force at `at`, refused when none was (`vtrail policy apply`)."""
    found = policy_at(store, at)
    if not (found.services or found.domains or found.rules or found.probes or found.provisioning):
        raise NoPolicy(
            f"no policy was in force at {iso(at)}: record one with `vtrail policy apply FILE` "
            "(PUT /api/policy), or check a file that was never applied (--policy FILE, "
            "POST /api/check)"
        )
    return found


def show(store: Store, at: datetime) -> PolicyAnswer:
    return PolicyAnswer(at, to_document(policy_at(store, at)))


def diff(store: Store, t_from: datetime, t_to: datetime) -> PolicyDiffAnswer:
    check_window(t_from, t_to)
    return PolicyDiffAnswer(t_from, t_to, changes(policy_at(store, t_from), policy_at(store, t_to)))


def known_kinds(store: Store) -> frozenset[str]:
    """The kinds a selector may name: vtrail's, and every kind the store holds."""
    return VTRAIL_KINDS | set(StatsReader(store).recorded_kinds())


def apply(
    store: Store, policy: Policy, at: datetime, record: Callable[[Observation], object]
) -> Applied:
    """Record `policy` as in force from `at` through `record` (the recorder's, which
    only the caller may reach), and say what changed."""
    before = policy_at(store, at)
    record(to_observation(policy, at))
    catalog = catalog_observation(before.images, policy.images, at)
    if catalog is not None:
        record(catalog)
    return Applied(
        at,
        len(policy.services),
        len(policy.domains),
        len(policy.rules),
        changes(before, policy),
        len(policy.probes),
        len(policy.provisioning.rules) + len(policy.provisioning.quotas),
    )
