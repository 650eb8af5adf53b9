"""Small builders for observations in tests: `snap("src", 10, vm("1", name="web"), ...)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ent(eid: str, **attrs: Any) -> EntityObs:
    return EntityObs(eid, eid.split(":", 1)[0], attrs)


def rel(src: str, name: str, dst: str) -> RelationObs:
    return RelationObs(RelKey(src, name, dst))


def sample(entity: str, metric: str, value: float, ts: float | None = None) -> SampleObs:
    return SampleObs(entity, metric, value, at(ts) if ts is not None else None)


def _split(
    items: tuple[Any, ...],
) -> tuple[tuple[EntityObs, ...], tuple[RelationObs, ...], tuple[SampleObs, ...]]:
    return (
        tuple(i for i in items if isinstance(i, EntityObs)),
        tuple(i for i in items if isinstance(i, RelationObs)),
        tuple(i for i in items if isinstance(i, SampleObs)),
    )


def snap(source: str, seconds: float, *items: Any) -> Observation:
    e, r, s = _split(items)
    return Observation(source, at(seconds), "snapshot", e, r, s)


def event(
    source: str,
    seconds: float,
    *items: Any,
    gone: tuple[str, ...] = (),
    gone_relations: tuple[tuple[str, str, str], ...] = (),
) -> Observation:
    e, r, s = _split(items)
    return Observation(
        source, at(seconds), "event", e, r, s, gone, tuple(RelKey(*k) for k in gone_relations)
    )


def disconnect(source: str, seconds: float) -> Observation:
    return Observation(source, at(seconds), "disconnect")
