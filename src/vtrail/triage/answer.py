"""What `check` and `membership` answer: frozen dataclasses, written by `to_jsonable`.

A window is `t_from`/`t_to` (JSON `from`/`to`); an interval still open at the
window's end has `t_to` None, and one already open at its start has `t_from`
the window's start and `in_force_at_start` true: when it began lies outside
what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a rule was broken, from the change that began it to the change that ended it."""

    t_from: datetime
    t_to: datetime | None
    #: The entity ids that break the rule, sorted.
    members: list[str]
    reason: str
    #: The host or domain the reason is about (`host:hv-a`, `domain:rack-1`), if one.
    place: str | None
    in_force_at_start: bool


@dataclass(frozen=True, slots=True)
class RuleCheck:
    name: str
    kind: str
    services: list[str]
    #: At the instant asked, or at the window's end.
    holds: bool
    #: The members that break it then (empty when it holds).
    members: list[str]
    #: Why it is broken then, in a line; None when it holds.
    reason: str | None
    violations: list[Violation]


@dataclass(frozen=True, slots=True)
class Group:
    """Who is in a service or a domain at the instant asked."""

    name: str
    #: Entity ids, sorted: a service's members; a domain's hosts, bridges and networks
    #: and what ran or was plugged in there.
    members: list[str]


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    #: The instant `holds` is about: the one asked, or the window's end.
    at: datetime
    #: The window walked; both None for a check at one instant.
    t_from: datetime | None
    t_to: datetime | None
    #: Where the policy came from: a file's path, `request body`, or `recorded`.
    policy: str
    rules: list[RuleCheck]
    #: At an instant, each service and each domain with who is in it then, in the
    #: policy's order; None over a window.
    services: list[Group] | None = None
    domains: list[Group] | None = None


@dataclass(frozen=True, slots=True)
class MemberInterval:
    entity: str
    t_from: datetime
    t_to: datetime | None
    in_force_at_start: bool


@dataclass(frozen=True, slots=True)
class Membership:
    service: str
    t_from: datetime
    t_to: datetime
    #: By entity, then by start.
    members: list[MemberInterval]
