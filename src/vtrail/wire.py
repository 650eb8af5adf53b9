"""The observation format (DESIGN.md): a public contract, validated here and only here.

JSON Lines in, `model.Observation` out, and back. The JSON Schema shipped as
`vtrail/schema/observation.schema.json` is generated from these models
(`python -m vtrail.wire > src/vtrail/schema/observation.schema.json`); a test
keeps the two equal.

Observations built in-process (by collectors) skip the JSON but not the rules:
`check` holds them to the same ones, so that nothing reaches the recorder, and
its journal, that `parse_observation` would refuse.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
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
#: Integer sample values are exact in this range: any 64-bit counter, signed or not.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
METRIC_PATTERN = r"^[a-z][a-z0-9_.]*$"
METRIC_MAX = 64
SOURCE_MAX = 256


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


def sample_value(value: Any) -> int | float:
    """An integer within `INT_MIN..INT_MAX`, kept exact, or a finite float; else ValueError."""
    # bool is an int to Python, not a number to JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a sample value is a number, not {type(value).__name__}")
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"integer {value} is out of range: counters go from -2^63 to 2^64 - 1")
    elif not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value


EntityId = Annotated[str, AfterValidator(_entity_id)]
Instant = Annotated[datetime, AfterValidator(_instant)]
RelName = Annotated[str, AfterValidator(_relation_name)]
# One validator for both types: a union would let pydantic turn an integer out
# of range into a float, the rounding this exists to prevent.
SampleValue = Annotated[
    int | float,
    PlainValidator(sample_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
                {"type": "number"},
            ],
            "description": "an integer counter, exact up to 2^64 - 1, or a finite float gauge",
        }
    ),
]


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
    metric: Annotated[str, Field(min_length=1, max_length=METRIC_MAX, pattern=METRIC_PATTERN)]
    value: SampleValue
    ts: Annotated[Instant | None, Field(strict=False)] = None


class ObservationIn(_Strict):
    source: Annotated[str, Field(min_length=1, max_length=SOURCE_MAX)]
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
        samples=tuple(SampleObs(s.entity, s.metric, s.value, s.ts) for s in o.samples),
        gone=tuple(o.gone),
        gone_relations=tuple(RelKey(r.src, r.rel, r.dst) for r in o.gone_relations),
    )


def check(o: Observation) -> Observation:
    """Hold an in-process observation to the rules `parse_observation` applies to JSON.

    Returns it unchanged, or raises `ObservationError` naming the first broken
    rule the way the parser would (`samples.2.value: ...`), prefixed with the
    observation's source and instant so that a log line says whose it was.
    """
    try:
        _check(o)
    except (ValueError, TypeError, RecursionError) as e:
        source = getattr(o, "source", None)
        when = getattr(o, "observed_at", None)
        who = f"{source!r} at {iso(when)}" if isinstance(when, datetime) else repr(source)
        raise ObservationError(f"observation from {who}: {e}") from None
    return o


def _check(o: Observation) -> None:
    # The parts below raise with the rest of the location (".id: ...", ": ...") and
    # this prefixes where: a valid observation, the common case, builds no text.
    if not isinstance(o, Observation):
        raise TypeError(f"not an Observation: {type(o).__name__}")
    if not isinstance(o.source, str) or not 1 <= len(o.source) <= SOURCE_MAX:
        raise ValueError(f"source: a string of 1 to {SOURCE_MAX} characters")
    _located("observed_at", _at, o.observed_at)
    if o.kind not in ("snapshot", "event", "disconnect"):
        raise ValueError(f"kind: {o.kind!r} is not snapshot, event or disconnect")
    for part, items, each in (
        ("entities", o.entities, _entity),
        ("relations", o.relations, _relation),
        ("samples", o.samples, _sample),
        ("gone", o.gone, _id),
        ("gone_relations", o.gone_relations, _key),
    ):
        for n, item in enumerate(items):
            _located(f"{part}.{n}", each, item)
    if o.kind == "snapshot" and (o.gone or o.gone_relations):
        raise ValueError("a snapshot lists what is; 'gone' belongs to events")
    if o.kind == "disconnect" and (o.entities or o.relations or o.gone or o.gone_relations):
        raise ValueError("a disconnect observation carries no entities or relations")


def _located(where: str, part: Callable[[Any], object], value: object) -> None:
    try:
        part(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}{e}") from None


_METRIC = re.compile(METRIC_PATTERN)


def _entity(e: object) -> None:
    if not isinstance(e, EntityObs):
        raise TypeError(f": an EntityObs, not {type(e).__name__}")
    prefix = _located_id(".id", e.id)
    if e.kind != prefix:
        raise ValueError(f": entity {e.id}: kind {e.kind!r} differs from its id's {prefix!r}")
    _attrs(e.attrs)


def _relation(r: object) -> None:
    if not isinstance(r, RelationObs):
        raise TypeError(f": a RelationObs, not {type(r).__name__}")
    _key(r.key)
    _attrs(r.attrs)


def _sample(x: object) -> None:
    if not isinstance(x, SampleObs):
        raise TypeError(f": a SampleObs, not {type(x).__name__}")
    _located_id(".entity", x.entity)
    m = x.metric
    if not isinstance(m, str) or not 1 <= len(m) <= METRIC_MAX or not _METRIC.match(m):
        raise ValueError(f".metric: {m!r} does not match {METRIC_PATTERN}")
    try:
        sample_value(x.value)
    except ValueError as e:
        raise ValueError(f".value: {e}") from None
    if x.ts is not None:
        _located(".ts", _at, x.ts)


def _at(value: object) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f": a datetime, not {type(value).__name__}")
    try:
        _instant(value)
    except ValueError as e:
        raise ValueError(f": {e}") from None


@functools.lru_cache(maxsize=1 << 16)
def _kind(entity_id: str) -> str:
    # A collector names the same things in every snapshot: each id is parsed once.
    return split_id(entity_id)[0]


def _located_id(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: an entity id is a string, not {type(value).__name__}")
    try:
        return _kind(value)
    except InvalidId as e:
        raise ValueError(f"{where}: {e}") from None


def _id(value: object) -> str:
    return _located_id("", value)


def _key(k: object) -> None:
    if not isinstance(k, RelKey):
        raise TypeError(f": a RelKey, not {type(k).__name__}")
    _located_id(".src", k.src)
    _located_id(".dst", k.dst)
    if not isinstance(k.rel, str) or k.rel not in RELATIONS:
        known = ", ".join(sorted(RELATIONS))
        raise ValueError(f".rel: unknown relation {k.rel!r}; known: {known}")


def _attrs(attrs: object) -> None:
    if not isinstance(attrs, Mapping):
        raise TypeError(f".attrs: a mapping, not {type(attrs).__name__}")
    bad = _not_json(attrs)
    if bad is not None:
        raise ValueError(f".attrs{bad[0]}: {bad[1]}")


def _scalar(v: object) -> bool:
    """A plain JSON scalar, told apart cheaply: attributes are mostly these."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return True
    return isinstance(v, float) and math.isfinite(v)


def _not_json(value: object) -> tuple[str, str] | None:
    """None when JSON says `value` as it is (so the journal keeps it exactly); else
    where inside it and why not."""
    if isinstance(value, dict | Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                return ("", f"key {k!r} is not a string")
            if not _scalar(v) and (bad := _not_json(v)) is not None:
                return (f".{k}{bad[0]}", bad[1])
        return None
    if isinstance(value, list | tuple):
        for n, v in enumerate(value):
            if not _scalar(v) and (bad := _not_json(v)) is not None:
                return (f".{n}{bad[0]}", bad[1])
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else ("", f"{value} is not a JSON number")
    if value is None or isinstance(value, str | int):  # subclasses too; bool is an int
        return None
    return ("", f"{type(value).__name__} is not a JSON value")


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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """`json.loads` without Python's NaN and Infinity, which JSON does not have."""
    return json.loads(text, parse_constant=_no_constant)


def parse_line(text: str, line: int | None = None) -> Observation:
    try:
        data = loads(text)
    except json.JSONDecodeError as e:
        raise ObservationError(f"not JSON: {e.msg} at column {e.colno}", line) from None
    except ValueError as e:
        raise ObservationError(f"not JSON: {e}", line) from None
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
            {"entity": s.entity, "metric": s.metric, "value": s.value}
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


def json_schema() -> dict[str, Any]:
    schema = ObservationIn.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://vtrail.dev/schema/observation.schema.json"
    schema["title"] = "vtrail observation"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
