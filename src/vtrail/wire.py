"""The observation format (DESIGN.md): a public contract, validated here and only here.

JSON Lines in, `model.Observation` out, and back. The JSON Schema shipped as
`vtrail/schema/observation.schema.json` is generated from these models
(`python -m vtrail.wire > src/vtrail/schema/observation.schema.json`); a test
keeps the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from vtrail.model import (
    RELATIONS,
    EntityObs,
    InvalidId,
    Observation,
    RelationObs,
    RelKey,
    SampleObs,
    split_id,
)
from vtrail.timeexpr import iso

#: Observations from before this are refused as impossible (clock reset, typo).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of this machine's clock a source's clock may run.
FUTURE_SLACK = timedelta(days=1)


class ObservationError(ValueError):
    """A line that is not a valid observation; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


def _entity_id(value: str) -> str:
    try:
        split_id(value)
    except InvalidId as e:
        raise ValueError(str(e)) from None
    return value


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time has no zone: write it as UTC, e.g. 2026-11-21T03:12:00Z")
    value = value.astimezone(UTC)
    if value < EARLIEST:
        raise ValueError(f"impossible time {iso(value)}: before {iso(EARLIEST)}")
    if value > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError(f"impossible time {iso(value)}: more than a day in the future")
    return value


def _relation_name(value: str) -> str:
    if value not in RELATIONS:
        raise ValueError(f"unknown relation {value!r}; known: {', '.join(sorted(RELATIONS))}")
    return value


EntityId = Annotated[str, AfterValidator(_entity_id)]
Instant = Annotated[datetime, AfterValidator(_instant)]
RelName = Annotated[str, AfterValidator(_relation_name)]
Number = StrictInt | StrictFloat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EntityIn(_Strict):
    id: EntityId
    kind: str | None = Field(None, description="defaults to the prefix of id; must equal it")
    attrs: dict[str, Any] = Field(default_factory=dict)


class RelKeyIn(_Strict):
    src: EntityId
    rel: RelName
    dst: EntityId


class RelationIn(RelKeyIn):
    attrs: dict[str, Any] = Field(default_factory=dict)


class SampleIn(_Strict):
    entity: EntityId
    metric: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
    value: Number
    ts: Annotated[Instant | None, Field(strict=False)] = None


class ObservationIn(_Strict):
    source: Annotated[str, Field(min_length=1, max_length=256)]
    observed_at: Annotated[Instant, Field(strict=False)]
    kind: Literal["snapshot", "event", "disconnect"]
    entities: list[EntityIn] = Field(default_factory=list)
    relations: list[RelationIn] = Field(default_factory=list)
    samples: list[SampleIn] = Field(default_factory=list)
    gone: list[EntityId] = Field(default_factory=list)
    gone_relations: list[RelKeyIn] = Field(default_factory=list)


def _to_model(o: ObservationIn) -> Observation:
    entities = []
    for e in o.entities:
        prefix = split_id(e.id)[0]
        if e.kind is not None and e.kind != prefix:
            raise ValueError(f"entity {e.id}: kind {e.kind!r} differs from its id's {prefix!r}")
        entities.append(EntityObs(e.id, prefix, e.attrs))
    if o.kind == "snapshot" and (o.gone or o.gone_relations):
        raise ValueError("a snapshot lists what is; 'gone' belongs to events")
    if o.kind == "disconnect" and (o.entities or o.relations or o.gone or o.gone_relations):
        raise ValueError("a disconnect observation carries no entities or relations")
    return Observation(
        source=o.source,
        observed_at=o.observed_at,
        kind=o.kind,
        entities=tuple(entities),
        relations=tuple(RelationObs(RelKey(r.src, r.rel, r.dst), r.attrs) for r in o.relations),
        samples=tuple(SampleObs(s.entity, s.metric, float(s.value), s.ts) for s in o.samples),
        gone=tuple(o.gone),
        gone_relations=tuple(RelKey(r.src, r.rel, r.dst) for r in o.gone_relations),
    )


def _first_error(e: ValidationError) -> str:
    err = e.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{where}: {msg}" if where else msg


def parse_observation(data: Any, line: int | None = None) -> Observation:
    """Validate one decoded observation (a dict) and return the model."""
    if not isinstance(data, dict):
        raise ObservationError("an observation is a JSON object", line)
    try:
        return _to_model(ObservationIn.model_validate(data))
    except ValidationError as e:
        raise ObservationError(_first_error(e), line) from None
    except ValueError as e:
        raise ObservationError(str(e), line) from None


def parse_line(text: str, line: int | None = None) -> Observation:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ObservationError(f"not JSON: {e.msg} at column {e.colno}", line) from None
    return parse_observation(data, line)


def parse_lines(lines: Iterable[str]) -> Iterator[tuple[Observation, str]]:
    """Yield `(observation, raw line)` for each non-blank line; raise on the first bad one."""
    for n, text in enumerate(lines, 1):
        if text.strip():
            yield parse_line(text, n), text.strip()


def to_dict(o: Observation) -> dict[str, Any]:
    """The wire form of an observation; `parse_observation(to_dict(o)) == o`."""
    d: dict[str, Any] = {"source": o.source, "observed_at": iso(o.observed_at), "kind": o.kind}
    if o.entities:
        d["entities"] = [{"id": e.id, "kind": e.kind, "attrs": dict(e.attrs)} for e in o.entities]
    if o.relations:
        d["relations"] = [
            {"src": r.key.src, "rel": r.key.rel, "dst": r.key.dst, "attrs": dict(r.attrs)}
            if r.attrs
            else {"src": r.key.src, "rel": r.key.rel, "dst": r.key.dst}
            for r in o.relations
        ]
    if o.samples:
        d["samples"] = [
            {"entity": s.entity, "metric": s.metric, "value": _num(s.value)}
            | ({"ts": iso(s.ts)} if s.ts else {})
            for s in o.samples
        ]
    if o.gone:
        d["gone"] = list(o.gone)
    if o.gone_relations:
        d["gone_relations"] = [{"src": k.src, "rel": k.rel, "dst": k.dst} for k in o.gone_relations]
    return d


def to_line(o: Observation) -> str:
    return json.dumps(to_dict(o), separators=(",", ":"), sort_keys=False)


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def json_schema() -> dict[str, Any]:
    schema = ObservationIn.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://vtrail.dev/schema/observation.schema.json"
    schema["title"] = "vtrail observation"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
