"""The OpenAPI document, said as the server behaves.

FastAPI's own document promised what the server never did: a 422 whose
`detail` is a list (every refusal is one line, `{"detail": "..."}`), optional
parameters that may be `null`, a token on reads that need none, and no 401,
404, 409 or Graphviz answer at all. Here the document is made from the routes
and then corrected: every refusal a route can give, with the one `Error`
shape; the patterns the server applies to times and names (api/patterns.py);
the kinds a `kind` filter takes, read from the store when the document is
asked for; and the observation format with the limits the parser enforces.

Rules JSON Schema cannot say (an entity or relation listed once per
observation; `kind` equal to the id's prefix) are said in words and under
`x-vtrail-rules`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vtrail import __version__
from vtrail.api.patterns import ENTITY_ID, TEXT, TEXT_MAX, TIME, TIME_HELP
from vtrail.limits import INT_MAX, INT_MIN, MAX_DEPTH, NAME_MAX, STRING_MAX
from vtrail.model import RELATIONS
from vtrail.wire import METRIC_MAX, METRIC_PATTERN, SOURCE_MAX, ObservationIn

_ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "What was refused, and why."}},
    "additionalProperties": False,
}
_WHY = {
    "401": "A token is needed, and it was missing, unknown or revoked.",
    "403": "A reader token on a write.",
    "404": "Nothing recorded matches the id, name, MAC or address (or no such route).",
    "409": "A name that matches several entities, or an address held in several address "
    "spaces at the instant (name one: `IP@SPACE`); for a write, an observation older than "
    "the journal's horizon (`vtrail compact`).",
    "413": "The body is larger than the server takes (`--max-body`).",
    "422": "Unreadable input: a time, a window, a kind, a parameter, an observation, a "
    "policy file (the line names the place).",
    "503": "The store cannot be read (or a worker died while answering).",
}
#: Refusals beyond 422 and 503, per route.
_REFUSALS: dict[str, tuple[str, ...]] = {
    "/api/where": ("404", "409"),
    "/api/show/{id}": ("404", "409"),
    "/api/history/{id}": ("404", "409"),
    "/api/lifetime/{id}": ("404", "409"),
    "/api/counters/{id}": ("404", "409"),
    "/api/path": ("404", "409"),
    "/api/topology": ("404", "409"),
    "/api/check": ("404", "413"),
    "/api/health": ("404",),
    "/api/plan/drain": ("404",),
    "/api/plan/rolling": ("404", "409"),
    "/api/plan/review": ("404", "413"),
    "/api/triage": ("404", "409"),
    "/api/asset/{id}": ("404", "409"),
    "/api/ipam/who/{address}": ("404",),
    "/api/ipam/usage": ("404",),
    "/api/ipam/export": ("404",),
    "/api/image": ("404",),
    "/api/image/exposure": ("404",),
}
#: The writes (a writer's token, whatever the settings), with their refusals beyond 422 and 503.
WRITES: dict[str, tuple[str, ...]] = {
    "POST /api/observations": ("403", "409", "413"),
    "PUT /api/policy": ("403", "413"),
    "POST /api/ipam/allocate": ("403", "404", "409"),
    "POST /api/ipam/release": ("403", "404"),
    "POST /api/image/set": ("403", "404"),
}
_TIME_PARAMS = {"at", "from", "to", "compare"}
_TEXT_PARAMS = {"what", "space", "a", "b", "around", "q", "id", "owner", "host", "hosts", "image"}
JSON = "application/json"


def base(app: FastAPI) -> dict[str, Any]:
    """The document without what depends on the settings or the store (built once)."""
    schema = get_openapi(
        title="vtrail",
        version=__version__,
        description="The flight recorder's questions over HTTP: the same names and the same "
        "JSON as the `vtrail` command (docs/api.md). Every refusal is one line, "
        '`{"detail": "..."}`.',
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = _ERROR
    schemas.update(observation_schemas())
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                p["schema"] = _parameter(p["name"], _not_null(p["schema"]))
            op["responses"] = _responses(f"{method.upper()} {path}", path, op["responses"])
    return schema


def document(
    template: dict[str, Any], *, read_token: bool, kinds: list[str], now: datetime | None = None
) -> dict[str, Any]:
    """The document as this server answers now: who needs a token, which kinds there are."""
    schema = copy.deepcopy(template)
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            writes = f"{method.upper()} {path}" in WRITES
            if writes or read_token:
                op["security"] = [{"token": []}]
                op["responses"]["401"] = _error("401")
            else:
                op.pop("security", None)
                op["responses"].pop("401", None)
            for p in op.get("parameters", []):
                if p["name"] == "kind":
                    p["schema"]["enum"] = sorted(kinds)
    instant = _observed_at(now or datetime.now(UTC))
    schemas = schema["components"]["schemas"]
    schemas["ObservedAt"] = instant
    return schema


# -- parameters ---------------------------------------------------------------------


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent or a value: never the text `null`."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    described = {k: v for k, v in schema.items() if k in ("description", "title", "default")}
    if name in _TIME_PARAMS:
        return {
            **described,
            "type": "string",
            "pattern": TIME,
            "description": f"{schema.get('description', 'An instant')} {TIME_HELP}",
        }
    if name in _TEXT_PARAMS:
        text = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX, "pattern": TEXT}
        if schema.get("type") == "array":
            # A name given once or more (`what` twice: triage's two endpoints).
            bounds = {k: v for k, v in schema.items() if k in ("minItems", "maxItems")}
            return {**described, "type": "array", "items": text, **bounds}
        return {**described, **text}
    if name == "kind":
        return {**described, "type": "string"}
    return schema


def _error(status: str) -> dict[str, Any]:
    return {
        "description": _WHY[status],
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _responses(route: str, path: str, found: dict[str, Any]) -> dict[str, Any]:
    ok = found.get("200", {"description": "The answer."})
    if path == "/api/topology":
        ok = {
            "description": "The graph as JSON, or as Graphviz source with `output=dot`.",
            "content": {JSON: {"schema": {"type": "object"}}, "text/vnd.graphviz": {
                "schema": {"type": "string"}}},
        }  # fmt: skip
    out = {"200": ok}
    for status in (*WRITES.get(route, _REFUSALS.get(path, ())), "422", "503"):
        out[status] = _error(status)
    return out


# -- the observation format -----------------------------------------------------------------


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _observed_at(now: datetime) -> dict[str, Any]:
    """An instant the parser takes: ISO 8601 with its zone, from 2001 to last year (the
    parser takes 2000 to a day ahead; the whole years that surely lie inside)."""
    years = range(2001, now.year)
    every = "|".join(str(y) for y in years)
    leap = "|".join(str(y) for y in years if _leap(y))
    month_day = (
        "(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
        "|02-(0[1-9]|1[0-9]|2[0-8])"
    )
    date = f"(({every})-({month_day})|({leap})-02-29)"
    hm = "([01][0-9]|2[0-3]):[0-5][0-9]"
    return {
        "type": "string",
        "pattern": f"^{date}T{hm}:[0-5][0-9](\\.[0-9]{{1,6}})?(Z|[+-]{hm})$",
        "description": "ISO 8601 with a zone (2026-11-21T03:12:00Z). The parser takes "
        "instants from 2000 to a day past the server's clock; this pattern says the whole "
        "years that surely lie inside.",
    }


def observation_schemas() -> dict[str, Any]:
    """The observation format's schemas with the parser's limits (docs/observations.md)."""
    found = ObservationIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = found.pop("$defs", {})
    schemas["ObservationIn"] = found
    schemas["EntityId"] = {
        "type": "string",
        "pattern": ENTITY_ID,
        "description": "kind:key: a lowercase kind of up to 32 characters, a colon, and a "
        "key of up to 511 on one line without space at either end.",
    }
    ref = {"$ref": "#/components/schemas/EntityId"}
    attrs = {
        "type": "object",
        "propertyNames": {"maxLength": NAME_MAX},
        "additionalProperties": {"$ref": "#/components/schemas/AttrValue"},
    }
    schemas["AttrValue"] = {
        "description": f"Any JSON value within the limits: strings of up to {STRING_MAX:,} "
        f"characters, integers from -2^63 to 2^64 - 1, finite numbers, arrays and objects "
        f"nested at most {MAX_DEPTH} deep, names of up to {NAME_MAX:,} characters.",
        "anyOf": [
            {"type": "string", "maxLength": STRING_MAX},
            {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
            {"type": "number", "not": {"type": "integer"}},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": {"$ref": "#/components/schemas/AttrValue"}},
            {
                "type": "object",
                "propertyNames": {"maxLength": NAME_MAX},
                "additionalProperties": {"$ref": "#/components/schemas/AttrValue"},
            },
        ],
    }
    entity = schemas["EntityIn"]["properties"]
    entity["id"] = ref
    entity["kind"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "The id's prefix, when given (it must equal it).",
    }
    entity["attrs"] = attrs
    for name in ("RelKeyIn", "RelationIn"):
        props = schemas[name]["properties"]
        props["src"] = props["dst"] = ref
        props["rel"] = {"type": "string", "enum": sorted(RELATIONS)}
    schemas["RelationIn"]["properties"]["attrs"] = attrs
    sample = schemas["SampleIn"]["properties"]
    sample["entity"] = ref
    sample["metric"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": METRIC_MAX,
        "pattern": METRIC_PATTERN,
    }
    sample["value"] = {
        "description": "An integer counter, exact from -2^63 to 2^64 - 1, or a finite gauge.",
        "anyOf": [
            {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX},
            {"type": "number", "not": {"type": "integer"}},
        ],
    }
    instant = {"$ref": "#/components/schemas/ObservedAt"}
    sample["ts"] = {"anyOf": [instant, {"type": "null"}], "description": "Default: observed_at."}
    obs = schemas["ObservationIn"]
    props = obs["properties"]
    props["source"] = {"type": "string", "minLength": 1, "maxLength": SOURCE_MAX}
    props["observed_at"] = instant
    props["gone"] = {"type": "array", "items": ref}
    # What a snapshot and a disconnect may not carry.
    obs["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": "snapshot"}}},
            "then": {"properties": {"gone": {"maxItems": 0}, "gone_relations": {"maxItems": 0}}},
        },
        {
            "if": {"properties": {"kind": {"const": "disconnect"}}},
            "then": {
                "properties": {
                    key: {"maxItems": 0}
                    for key in ("entities", "relations", "gone", "gone_relations")
                }
            },
        },
    ]
    obs["x-vtrail-rules"] = [
        "an entity id appears at most once in `entities`",
        "a relation (src, rel, dst) appears at most once in `relations`",
        "an entity's `kind`, when given, equals the prefix of its id",
    ]
    obs["description"] = (
        "One observation (docs/observations.md). Besides the schema: "
        + "; ".join(obs["x-vtrail-rules"])
        + "."
    )
    return schemas
