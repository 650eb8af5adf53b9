"""`GET /api/policy`, `GET /api/policy/diff` and `PUT /api/policy`: the CLI's
`vtrail policy show|diff|apply` over HTTP, with the same JSON."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from vtrail.api.deps import (
    Settings,
    Stores,
    answer,
    reader,
    require_read,
    require_write,
    stores,
    when_required,
)
from vtrail.api.ingest import read_body
from vtrail.api.questions import At, To
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.triage import policy_at
from vtrail.triage.policy_at import Applied

router = APIRouter(prefix="/api", tags=["policy"])

_CHANGES = {"type": "array", "items": {"type": "object"}}
_PUT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A policy file (docs/policy.md), checked whole before anything is recorded.",
        "content": {
            "application/yaml": {
                # The document's outline only: which services a rule may name, and every
                # other check, are the file's (docs/policy.md), said in the 422's line.
                "schema": {
                    "type": "object",
                    "properties": {
                        "services": {"type": ["object", "null"]},
                        "domains": {"type": ["object", "null"]},
                        "rules": {"type": ["array", "null"]},
                    },
                    "additionalProperties": False,
                }
            },
        },
    },
    "responses": {
        "200": {
            "description": "Recorded as in force from `at`: its size, and what changed.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["at", "services", "domains", "rules", "changes"],
                        "properties": {
                            "at": {"type": "string"},
                            "services": {"type": "integer", "minimum": 0},
                            "domains": {"type": "integer", "minimum": 0},
                            "rules": {"type": "integer", "minimum": 0},
                            "changes": _CHANGES,
                        },
                    }
                }
            },
        },
    },
}


@router.get(
    "/policy", summary="The policy in force at an instant", dependencies=[Depends(require_read)]
)
def policy(request: Request, at: At = None) -> Response:
    """Services, domains and rules in force at `at`, in the policy file's form (empty
    before any was applied)."""
    store = reader(request)
    return answer(policy_at.show(store, when_required(at, "at")))


@router.get("/policy/diff", summary="How the policy changed", dependencies=[Depends(require_read)])
def policy_diff(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
) -> Response:
    """Services, domains and rules added, removed or changed between `from` and `to`."""
    store = reader(request)
    a, b = when_required(t_from, "from"), when_required(t_to, "to")
    return answer(policy_at.diff(store, a, b))


def _apply(s: Stores, text: str) -> Applied:
    with s.write_lock:
        store = s.writer()
        policy = parse_policy(text, "body", policy_at.known_kinds(store))
        recorder = s.recorder()
        return policy_at.apply(store, policy, datetime.now(UTC), lambda o: recorder.record([o]))


@router.put(
    "/policy",
    summary="Apply a policy file",
    dependencies=[Depends(require_write)],
    openapi_extra=_PUT_DOC,
)
async def put_policy(request: Request) -> Response:
    """Check a policy file and record it as in force from now, as `vtrail policy apply`
    does: a file with any fault is refused with 422 and one line naming the place, and
    nothing is recorded."""
    settings: Settings = request.app.state.settings
    body = await read_body(request, settings.max_body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        raise HTTPException(422, f"body:{line}: not UTF-8 text (byte {e.start + 1})") from None
    s = stores(request)
    try:
        done = await asyncio.get_running_loop().run_in_executor(s.writes, _apply, s, text)
    except PolicyError as e:
        raise HTTPException(422, str(e)) from None
    return answer(done)
