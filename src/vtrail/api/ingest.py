"""`POST /api/observations`: the JSONL observation format, recorded all or nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vtrail.api.deps import Settings, Stores, json_response, require_write, stores
from vtrail.api.metrics import Metrics
from vtrail.model import Observation
from vtrail.recording.recorder import RecordStats
from vtrail.wire import ObservationError, loads, parse_lines, parse_observation, undecodable

router = APIRouter(prefix="/api", tags=["recording"])

_MANY = {
    "type": "array",
    "minItems": 1,
    "items": {"$ref": "#/components/schemas/ObservationIn"},
}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Observations (docs/observations.md), all recorded or none.",
        "content": {
            "application/x-ndjson": {
                "schema": {
                    **_MANY,
                    "description": "JSON Lines: each item of this array on a line of its own.",
                }
            },
            "application/json": {
                "schema": {"anyOf": [{"$ref": "#/components/schemas/ObservationIn"}, _MANY]}
            },
        },
    },
    "responses": {
        "200": {
            "description": "Recorded: counts of what was written.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["observations", "duplicates", "rows_written", "samples",
                                     "late_arrivals", "sources"],
                        "properties": {
                            "observations": {"type": "integer", "minimum": 0},
                            "duplicates": {"type": "integer", "minimum": 0},
                            "rows_written": {"type": "integer", "minimum": 0},
                            "samples": {"type": "integer", "minimum": 0},
                            "late_arrivals": {"type": "integer", "minimum": 0},
                            "sources": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        },
    },
}  # fmt: skip


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 once it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"body of {int(declared):,} bytes exceeds the {limit:,}-byte limit"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(body: bytes) -> list[Observation]:
    """Every observation in a body, or `ObservationError` for the first bad one."""
    try:
        content = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise undecodable(body, e.start) from None
    stripped = content.lstrip()
    if stripped.startswith("["):
        try:
            items = loads(content)
        except json.JSONDecodeError as e:
            raise ObservationError(
                f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"
            ) from None
        except ValueError as e:
            raise ObservationError(f"not JSON: {e}") from None
        if not isinstance(items, list):
            raise ObservationError("a JSON body is one observation or an array of them")
        found = [parse_observation(item, n) for n, item in enumerate(items, 1)]
    else:
        found = [o for o, _ in parse_lines(content.splitlines())]
    if not found:
        raise ObservationError("the body holds no observation")
    return found


def _record(s: Stores, observations: list[Observation]) -> RecordStats:
    with s.write_lock:
        return s.recorder().record(observations, validated=True)


@router.post(
    "/observations",
    summary="Record observations, all or nothing",
    dependencies=[Depends(require_write)],
    openapi_extra=_BODY_DOC,
)
async def observations(request: Request) -> Response:
    """Record a batch of observations in one transaction: a malformed line (422, with its
    line number), an oversized body (413) or any failure leaves the store unchanged."""
    settings: Settings = request.app.state.settings
    metrics: Metrics = request.app.state.metrics
    body = await read_body(request, settings.max_body)
    try:
        found = parse_body(body)
    except ObservationError as e:
        metrics.rejected.inc()
        raise HTTPException(422, str(e)) from None
    start = time.perf_counter()
    s = stores(request)
    stats = await asyncio.get_running_loop().run_in_executor(s.writes, _record, s, found)
    metrics.recorded(stats, time.perf_counter() - start, Counter(o.source for o in found))
    return json_response(
        {
            "observations": stats.observations,
            "duplicates": stats.duplicates,
            "rows_written": stats.rows_written,
            "samples": stats.samples,
            "late_arrivals": stats.replays,
            "sources": sorted(stats.sources),
        }
    )
