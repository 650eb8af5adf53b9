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

from vtrail.limits import (
    INT_MAX,
    INT_MIN,
    TooDeep,
    loads,
    sample_value,
    surrogate,
    surrogate_at,
    value_problem,
)
from vtrail.model import (
    RELATIONS,
    EntityObs,
    Observation,
    RelationObs,
    RelKey,
    SampleObs,
    split_id,
)
from vtrail.timeexpr import iso

__all__ = [
    "EARLIEST",
    "FUTURE_SLACK",
    "INT_MAX",
    "INT_MIN",
    "METRIC_MAX",
    "METRIC_PATTERN",
    "SOURCE_MAX",
    "ObservationError",
    "ObservationIn",
    "check",
    "json_schema",
    "loads",
    "parse_line",
    "parse_lines",
    "parse_observation",
    "sample_value",
    "to_dict",
    "to_line",
    "undecodable",
]

#: Observations from before this are refused as impossible (clock reset, typo).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of this machine's clock a source's clock may run.
FUTURE_SLACK = timedelta(days=1)
METRIC_PATTERN = r"^[a-z][a-z0-9_.]*$"
METRIC_MAX = 64
SOURCE_MAX = 256


class ObservationError(ValueError):
    """A line that is not a valid observation; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        # It may quote what was refused: never a character that cannot be printed.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


def _entity_id(value: str) -> str:
    _kind(value)
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
    type: Literal["counter", "gauge"] = Field(
        "counter", description="a counter counts up (its increase is read); a gauge is a level"
    )


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
    for n, e in enumerate(o.entities):
        prefix = split_id(e.id)[0]
        if e.kind is not None and e.kind != prefix:
            raise ValueError(f"entity {e.id}: kind {e.kind!r} differs from its id's {prefix!r}")
        _located(f"entities.{n}", _attrs, e.attrs)
        entities.append(EntityObs(e.id, prefix, e.attrs))
    for n, r in enumerate(o.relations):
        _located(f"relations.{n}", _attrs, r.attrs)
    _whole(o)
    return Observation(
        source=o.source,
        observed_at=o.observed_at,
        kind=o.kind,
        entities=tuple(entities),
        relations=tuple(RelationObs(RelKey(r.src, r.rel, r.dst), r.attrs) for r in o.relations),
        samples=tuple(SampleObs(s.entity, s.metric, s.value, s.ts, s.type) for s in o.samples),
        gone=tuple(o.gone),
        gone_relations=tuple(RelKey(r.src, r.rel, r.dst) for r in o.gone_relations),
    )


def _whole(o: Observation | ObservationIn) -> None:
    """The rules on an observation as a whole, once its parts passed theirs."""
    if len(o.entities) + len(o.relations) > 1:
        _once_each(o.entities, o.relations)
    if o.kind == "snapshot" and (o.gone or o.gone_relations):
        raise ValueError("a snapshot lists what is; 'gone' belongs to events")
    if o.kind == "disconnect" and (o.entities or o.relations or o.gone or o.gone_relations):
        raise ValueError("a disconnect observation carries no entities or relations")


def _once_each(entities: Iterable[Any], relations: Iterable[Any]) -> None:
    """Refuse an entity, or a relation, listed twice: which of two words is the
    source's own would be a guess."""
    ids: dict[str, int] = {}
    for n, e in enumerate(entities):
        first = ids.setdefault(e.id, n)
        if first != n:
            raise ValueError(f"entities.{n}: entity {e.id} is listed twice (entities.{first})")
    keys: dict[tuple[str, str, str], int] = {}
    for n, r in enumerate(relations):
        k = r.key if isinstance(r, RelationObs) else r
        triple = (k.src, k.rel, k.dst)
        first = keys.setdefault(triple, n)
        if first != n:
            raise ValueError(
                f"relations.{n}: relation {k.src} {k.rel} {k.dst} is listed twice "
                f"(relations.{first})"
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
    if (bad := surrogate(o.source)) is not None:
        raise ValueError(f"source: a lone surrogate ({bad}) is not Unicode text")
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
        if not items:
            continue
        for n, item in enumerate(items):
            try:
                each(item)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{part}.{n}{e}") from None
    _whole(o)


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
    if x.type not in ("counter", "gauge"):
        raise ValueError(f".type: {x.type!r} is neither 'counter' nor 'gauge'")


#: The latest instant allowed when the clock was last read: one before it needs no read.
_ALLOWED_UNTIL = [EARLIEST]


def _at(value: object) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f": a datetime, not {type(value).__name__}")
    if value.tzinfo is UTC and EARLIEST <= value <= _ALLOWED_UNTIL[0]:
        return
    try:
        _instant(value)
    except ValueError as e:
        raise ValueError(f": {e}") from None
    _ALLOWED_UNTIL[0] = datetime.now(UTC) + FUTURE_SLACK


@functools.lru_cache(maxsize=1 << 16)
def _kind(entity_id: str) -> str:
    # A collector names the same things in every snapshot: each id is parsed once.
    kind = split_id(entity_id)[0]  # its length is bounded there too
    if (bad := surrogate(entity_id)) is not None:
        raise ValueError(f"entity id {entity_id!r}: a lone surrogate ({bad}) is not Unicode text")
    return kind


def _located_id(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: an entity id is a string, not {type(value).__name__}")
    try:
        return _kind(value)
    except ValueError as e:  # InvalidId among them
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
    if type(attrs) is not dict and not isinstance(attrs, Mapping):
        raise TypeError(f".attrs: a mapping, not {type(attrs).__name__}")
    # JSON says it as it is (so the journal keeps it exactly), within the limits.
    bad = value_problem(attrs)
    if bad is not None:
        raise ValueError(f".attrs{bad[0]}: {bad[1]}")


def _first_error(e: ValidationError) -> str:
    err = e.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "string_unicode":
        bad = surrogate(err["input"]) if isinstance(err["input"], str) else None
        msg = f"a lone surrogate ({bad}) is not Unicode text"
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


def undecodable(raw: bytes, at: int, first_line: int | None = 1) -> ObservationError:
    """The error for bytes that are not UTF-8 at offset `at` of `raw` (one line or more,
    the first of them numbered `first_line`)."""
    line = None if first_line is None else first_line + raw.count(b"\n", 0, at)
    column = len(raw[raw.rfind(b"\n", 0, at) + 1 : at].decode("utf-8", "replace")) + 1
    return ObservationError(f"not UTF-8: byte 0x{raw[at]:02x} at column {column}", line)


def _text(raw: str | bytes, line: int | None) -> str:
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise undecodable(raw, e.start, line) from None
    if (at := surrogate_at(raw)) is not None:
        # Text decoded with surrogateescape (a C locale's stdin): bytes that were not UTF-8.
        raise ObservationError(f"not UTF-8: an undecodable byte at column {at + 1}", line)
    return raw


def parse_line(text: str | bytes, line: int | None = None) -> Observation:
    """One line of JSON Lines, as text or as the bytes read (UTF-8)."""
    return _parse(_text(text, line), line)


def _parse(text: str, line: int | None) -> Observation:
    try:
        data = loads(text)
    except json.JSONDecodeError as e:
        raise ObservationError(f"not JSON: {e.msg} at column {e.colno}", line) from None
    except TooDeep as e:
        raise ObservationError(str(e), line) from None
    except ValueError as e:
        raise ObservationError(f"not JSON: {e}", line) from None
    return parse_observation(data, line)


def parse_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[Observation, str]]:
    """Yield `(observation, line)` for each non-blank line, given as text or as the bytes
    read (UTF-8); raise on the first bad one."""
    for n, raw in enumerate(lines, 1):
        text = _text(raw, n)
        if text.strip():
            yield _parse(text, n), text.strip()


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
            | ({"type": s.type} if s.type != "counter" else {})
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
