"""The OpenAPI document tells the truth: schemathesis, every check, no failure.

Schemathesis reads `/api/openapi.json` and sends what it allows and what it
does not (odd strings, huge numbers, odd bodies, missing tokens) to every
operation, with a writer token so that the write path is exercised too, and
runs all of its checks on every answer: no 5xx, every status and content type
documented, every body valid against its schema, everything the schema allows
accepted and everything it forbids refused, tokens honoured.

JSON Schema cannot say the rules that tie two values together: a window ends
after it starts (an end not given being now, or for the timeline the recorded
span's), each entity and relation is listed once in an observation, and an
entity's `kind` is its id's prefix. The document says them in words (and the
observation's under `x-vtrail-rules`); the hooks below keep generated
requests within them when every value is otherwise valid, so that a refusal
for breaking them is not taken for a refusal of valid data. Nothing else about
the generation is steered.

A policy file (`PUT /api/policy`, and the draft of `POST /api/check`, read by
the same loader) is YAML whose validity no JSON Schema states (a rule names a
service the same file defines, a glob closes its brackets, a bridge is named
`host/ifname`): its document gives the outline only, and a file within it may
be refused with 422 and the one line naming the place. A domain's XML
(`POST /api/admission`) is text to its schema, and XML that is no libvirt
domain is refused the same way. Those three operations alone skip the check
that everything the schema allows is accepted; every other check runs on
them, what the outline forbids refused among them. So does
`POST /api/image/set`, whose every parameter is optional but one at least must
be given, and whose catalog name must not be another image's.

The example count is bounded so that the run stays short; raise
`VTRAIL_FUZZ_EXAMPLES` for a longer one.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.story import record_story
from vtrail.api import Settings, create_app
from vtrail.api.patterns import ENTITY_ID, is_time
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.store.reads.stats import StatsReader
from vtrail.timeexpr import from_us, parse_time

# Schemathesis collects the operations at import time, so the store is made then too.
_DIR = Path(tempfile.mkdtemp(prefix="vtrail-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_DB = record_story(_DIR / "vtrail.db")
_store = SqliteStore(_DB)
_, WRITER = token_store.create(_store, "writer", "fuzz")
_store.close()

app = create_app(Settings(db=_DB, max_body=256 * 1024, workers=1))
# The same server as bound beyond loopback: reads need a token too, and say so.
guarded = create_app(Settings(db=_DB, max_body=256 * 1024, workers=1, read_token=True))


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    # The document's array of observations, one a line.
    lines = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(x) for x in lines).encode("utf-8", "surrogatepass")


def _observations(body: Any) -> list[Any]:
    return body if isinstance(body, list) else [body]


def _listed_once(o: Any) -> bool:
    if not isinstance(o, dict):
        return True
    ids = [e.get("id") for e in o.get("entities") or [] if isinstance(e, dict)]
    keys = [
        json.dumps([r.get("src"), r.get("rel"), r.get("dst")])
        for r in o.get("relations") or []
        if isinstance(r, dict)
    ]
    return len(ids) == len(set(map(json.dumps, ids))) and len(keys) == len(set(keys))


_WINDOWS = (
    "/api/history/", "/api/diff", "/api/ghosts", "/api/timeline", "/api/counters/",
    "/api/policy/diff", "/api/check", "/api/health", "/api/ipam/who/", "/api/ipam/conflicts", "/api/ipam/usage",
    "/api/quota",
    "/api/account",
    "/api/plan/review",
    "/api/image/exposure",
)  # fmt: skip
_reader = SqliteStore(_DB, readonly=True)
_SPAN = StatsReader(_reader).span()
_reader.close()


def _window(path: str, query: Any) -> Any:
    """A window of valid times that does not end after it starts is made one that does."""
    if not isinstance(query, dict) or not path.startswith(_WINDOWS):
        return query
    if path.startswith(("/api/check", "/api/health", "/api/ipam/conflicts")) and (
        "from" in query or "to" in query
    ):
        # A check (a health, a conflicts) is at an instant or over a window, and a window has a start.
        query.pop("at", None)
        query.setdefault("from", "1000-01-01")
    if path.startswith("/api/ipam/who/") and ("from" in query or "to" in query):
        query.pop("at", None)  # at an instant, or over a window

    given = {k: query.get(k) for k in ("from", "to")}
    if any(v is not None and not (isinstance(v, str) and is_time(v)) for v in given.values()):
        return query
    now = datetime.now(UTC)
    if path == "/api/timeline":
        assert _SPAN is not None
        lo, hi = from_us(_SPAN[0]), from_us(_SPAN[1])
    else:
        lo, hi = None, None if path.startswith(("/api/history/", "/api/counters/")) else now
    start = parse_time(given["from"], now) if given["from"] else lo
    end = parse_time(given["to"], now) if given["to"] else hi
    if start is not None and end is not None and end <= start:
        query.update({"from": "1000-01-01", "to": "8999-12-31"})
    return query


def _kinds(body: Any) -> Any:
    """A valid id's kind, when one is given as a string, is its prefix."""
    for o in _observations(body):
        for e in (o.get("entities") or []) if isinstance(o, dict) else []:
            if not isinstance(e, dict) or not isinstance(e.get("kind"), str):
                continue
            if isinstance(e.get("id"), str) and _VALID_ID.search(e["id"]):
                e["kind"] = e["id"].split(":", 1)[0]
    return body


# The same rules on both paths schemathesis generates by: the hypothesis strategies
# (query and body hooks) and the coverage phase's cases (case hooks).
@schemathesis.hook
def map_query(ctx: schemathesis.HookContext, query: Any) -> Any:
    return _window(ctx.operation.path if ctx.operation else "", query)


def _policy_holds_together(body: Any) -> bool:
    """A policy's rules name services it defines, and no two rules share a name."""
    if not isinstance(body, dict):
        return True
    services = body.get("services") if isinstance(body.get("services"), dict) else {}
    raw = body.get("rules")
    rules = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    names = [r.get("name") for r in rules]
    if len(names) != len(set(map(json.dumps, names))):
        return False
    for r in rules:
        for kind, spec in r.items():
            if kind in ("name", "description"):
                continue
            if isinstance(spec, dict):
                named = [spec.get(k) for k in ("service", "from", "to") if k in spec]
            else:
                named = spec if isinstance(spec, list) else [spec]
            if any(isinstance(n, str) and n not in services for n in named):
                return False
    return True


@schemathesis.hook
def filter_body(ctx: schemathesis.HookContext, body: Any) -> bool:
    if ctx.operation is not None and ctx.operation.path == "/api/check":
        return _policy_holds_together(body)
    return all(_listed_once(o) for o in _observations(body))


@schemathesis.hook
def map_body(ctx: schemathesis.HookContext, body: Any) -> Any:
    if ctx.operation is not None and ctx.operation.path == "/api/check":
        return body
    return _kinds(body)


@schemathesis.hook
def filter_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    if case.operation.path == "/api/check":
        return _policy_holds_together(case.body)
    return not isinstance(case.body, dict | list) or filter_body(ctx, case.body)


@schemathesis.hook
def map_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    case.query = _window(case.operation.path, case.query)
    if isinstance(case.body, dict | list) and case.operation.path != "/api/check":
        case.body = _kinds(case.body)
    return case


_VALID_ID = re.compile(ENTITY_ID[:-1] + r"\Z")


class _Writer:
    """The writer token on every request, except where a case means to leave it out."""

    def get(self, case: schemathesis.Case, ctx: object) -> str:
        return WRITER

    def set(self, case: schemathesis.Case, data: str, ctx: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _unstatable(case: schemathesis.Case) -> list[Any]:
    """The checks an operation's body cannot be held to (the module's doc says why)."""
    route = f"{case.operation.method.upper()} {case.operation.path}"
    bodies = ("PUT /api/policy", "POST /api/check", "POST /api/admission", "POST /api/image/set")
    return [positive_data_acceptance] if route in bodies else []


schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
schema.auth()(_Writer)
EXAMPLES = int(os.environ.get("VTRAIL_FUZZ_EXAMPLES", "12"))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_answer_is_as_the_document_says(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=_unstatable(case))


guarded_schema = schemathesis.openapi.from_asgi("/api/openapi.json", guarded)
guarded_schema.auth()(_Writer)


@guarded_schema.parametrize()
@settings(
    max_examples=max(4, EXAMPLES // 3),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_answer_is_as_the_document_says_when_reads_need_a_token(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate(excluded_checks=_unstatable(case))
