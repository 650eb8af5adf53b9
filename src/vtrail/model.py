"""The typed vocabulary every stage shares: observations in, history out.

Collectors build `Observation`s, the recorder turns them into `Version`s and
`Relation`s, the questions return them. Times are timezone-aware UTC
`datetime`s here; the store keeps integer microseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
Attrs: TypeAlias = Mapping[str, JSONValue]

#: The canonical JSON text of a value: sorted keys, no spaces, so equal values
#: give equal text. One encoder made once: `json.dumps` with options builds a
#: new one per call, which the recorder would pay three times per observation.
canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode

ObservationKind = Literal["snapshot", "event", "disconnect"]
SampleType = Literal["counter", "gauge"]

#: Relation names the store understands (DESIGN.md, "relation").
RELATIONS: frozenset[str] = frozenset(
    {
        "runs_on",
        "has_nic",
        "plugged_into",
        "port_of",
        "peer",
        "routes",
        "has_address",
        "uses_image",
        "backed_by",
        "member_of",
        "in_domain",
        "allocated_to",
        "leased_to",
    }
)

_ENTITY_ID = re.compile(r"^([a-z][a-z0-9_-]{0,31}):(\S.{0,510})$")


class InvalidId(ValueError):
    """An entity id that does not have the `kind:natural-key` form."""


def split_id(entity_id: str) -> tuple[str, str]:
    """Return `(kind, key)` of an entity id, or raise `InvalidId`."""
    m = _ENTITY_ID.match(entity_id)
    if m is None or entity_id != entity_id.strip():
        raise InvalidId(
            f"entity id {entity_id!r} is not of the form kind:key "
            "(lowercase kind, a colon, then a non-empty key)"
        )
    return m.group(1), m.group(2)


def kind_of(entity_id: str) -> str:
    return split_id(entity_id)[0]


@dataclass(frozen=True, slots=True)
class EntityObs:
    """One entity as a source reports it."""

    id: str
    kind: str
    attrs: Attrs = field(default_factory=dict)


@dataclass(frozen=True, slots=True, order=True)
class RelKey:
    """The identity of an edge: the same triple is the same relation."""

    src: str
    rel: str
    dst: str


@dataclass(frozen=True, slots=True)
class RelationObs:
    key: RelKey
    attrs: Attrs = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampleObs:
    """A cumulative counter (or gauge) reading; `ts` defaults to the observation's time.

    A counter is an integer, exact up to 2^64 - 1; a gauge is a float.
    """

    entity: str
    metric: str
    value: int | float
    ts: datetime | None = None
    #: A `counter` grows and its increase is what it counts (resets counted); a `gauge`
    #: is a level read at `ts` (a probe's loss, an RTT), whose increase means nothing.
    type: SampleType = "counter"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one source said at one instant (DESIGN.md, "The observation format").

    `snapshot`: `entities` and `relations` are everything the source sees now.
    `event`: they were created or updated; `gone`/`gone_relations` ended.
    `disconnect`: the source became unreachable at `observed_at`; until its
    next snapshot, what it reported is of unknown fate, never vanished.
    """

    source: str
    observed_at: datetime
    kind: ObservationKind
    entities: tuple[EntityObs, ...] = ()
    relations: tuple[RelationObs, ...] = ()
    samples: tuple[SampleObs, ...] = ()
    gone: tuple[str, ...] = ()
    gone_relations: tuple[RelKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Version:
    """An entity's attributes over `[valid_from, valid_to)`; `valid_to` None = still so.

    `vanished_after` is set when the end is only known to lie between it and
    `valid_to` (the source was unreachable meanwhile).
    """

    entity: str
    kind: str
    valid_from: datetime
    valid_to: datetime | None
    attrs: Attrs
    source: str
    vanished_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """What one source said of an entity over `[valid_from, valid_to)`; the entity's
    version is the merge of the statements in force (vtrail.recording.merge)."""

    source: str
    valid_from: datetime
    valid_to: datetime | None
    attrs: Attrs
    #: When this source's unbroken reporting of the entity began: the merge's rank.
    reporting_since: datetime


@dataclass(frozen=True, slots=True)
class Relation:
    key: RelKey
    valid_from: datetime
    valid_to: datetime | None
    attrs: Attrs
    source: str
    vanished_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    entity: str
    metric: str
    ts: datetime
    value: int | float
