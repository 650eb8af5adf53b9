"""`POST /api/observations`: the JSONL observation format, recorded all or nothing.

A collector that pushes (`vtrail record --push`) names each batch with an
`Idempotency-Key`, `STREAM:SEQ`: the number commits in the batch's own
transaction (store/pushed.py), so a batch sent again after its reply was lost
is acknowledged again and recorded once. The reply comes after the commit, on
a connection that syncs the WAL at each commit (`Stores`, `durable=True`): an
acknowledged batch survives a crash of the server and a power loss.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response

from vtrail.api.deps import Settings, Stores, json_response, require_write, stores
from vtrail.api.metrics import Metrics
from vtrail.model import Observation
from vtrail.recording.recorder import RecordStats
from vtrail.store import pushed
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


#: `STREAM:SEQ`: a collector's stream (what `vtrail record --push` keeps in its spool)
#: and its batch's number there, counted from 1 and rising.
KEY_PATTERN = r"^[A-Za-z0-9._@-]{1,128}:[1-9][0-9]{0,17}$"
#: The header saying that a batch was committed before and is not recorded again.
REPLAYED = "Idempotency-Replayed"


def _record(
    s: Stores, observations: list[Observation], key: tuple[str, int] | None
) -> RecordStats | None:
    """The batch recorded; None when `key` says it was committed already."""
    with s.write_lock:
        if key is None:
            return s.recorder().record(observations, validated=True)
        store = s.writer()
        with store.write():
            if pushed.committed(store, *key):
                return None
            stats = s.recorder().record(observations, validated=True, whole_write=True)
            pushed.remember(store, *key, len(observations))
        return stats


@router.post(
    "/observations",
    summary="Record observations, all or nothing",
    dependencies=[Depends(require_write)],
    openapi_extra=_BODY_DOC,
)
async def observations(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="`STREAM:SEQ`: a batch sent again under a key already committed "
            "is answered as before, with `Idempotency-Replayed: true`, and not recorded again.",
        ),
    ] = None,
) -> Response:
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
    key = None
    if idempotency_key is not None:
        stream, _, seq = idempotency_key.rpartition(":")
        key = (stream, int(seq))
    stats = await asyncio.get_running_loop().run_in_executor(s.writes, _record, s, found, key)
    if stats is None:
        # Committed before, its reply lost: every observation of it is a duplicate.
        resp = json_response(
            {
                "observations": 0,
                "duplicates": len(found),
                "rows_written": 0,
                "samples": 0,
                "late_arrivals": 0,
                "sources": sorted({o.source for o in found}),
            }
        )
        resp.headers[REPLAYED] = "true"
        return resp
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
