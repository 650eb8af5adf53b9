"""`/api/plan/drain`, `/api/plan/rolling` and `/api/plan/review`: `vtrail plan` over HTTP,
with the same JSON. A review held against a saved plan is a `POST` whose body is the
plan (`plan rolling -o json`), which the CLI reads from `--plan FILE`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request, Response

from vtrail.api.deps import (
    answer,
    heavy,
    instant,
    reader,
    require_read,
    text,
    when_required,
)
from vtrail.api.ingest import read_body
from vtrail.api.questions import At, To
from vtrail.maintenance.drain import drain
from vtrail.maintenance.notice import to_markdown
from vtrail.maintenance.plan_file import MAX_BYTES, SavedPlan, parse_plan_text
from vtrail.maintenance.review import review
from vtrail.triage.policy_at import policy_at

router = APIRouter(prefix="/api/plan", tags=["maintenance"], dependencies=[Depends(require_read)])

Hosts = Annotated[
    str | None,
    Query(
        description="Hosts: names or globs, comma-separated (hv-a,hv-b; hv-*), or "
        "domain:NAME (default: every host)."
    ),
]


@router.get("/drain", summary="Every VM on a host, the rules that bind it, where it could go")
def drain_route(
    request: Request,
    host: Annotated[str, Query(description="The host to drain (hv-a or host:hv-a).")],
    at: At = None,
    output: Annotated[
        Literal["json", "md"], Query(description="json, or md (a notice for the owners).")
    ] = "json",
) -> Response:
    """Each VM running on `host` at `at` (default now), with its services, owner and size,
    the rules of its services, and every host it could move to (free vCPUs and memory
    under the policy's overcommit ratios, every rule kept), placed largest first. 404
    for a host not recorded then."""
    store = reader(request)
    t = when_required(at, "at")
    policy = policy_at(store, t)
    found = drain(store, policy, text(host, "host"), t)
    if output == "md":
        return Response(to_markdown(found, policy), media_type="text/markdown; charset=utf-8")
    return answer(found)


@router.get("/rolling", summary="Hosts in ordered groups that can be drained together")
async def rolling_route(request: Request, hosts: Hosts = None, at: At = None) -> Response:
    """The hosts split into groups by graph colouring (no two hosts whose drain at once
    would break anti-affinity or same-domain or leave a service with no member
    running), fewest groups first, each with its drain plan. 409 with the reason when
    it cannot be done safely. A whole-fabric question: asked in the worker processes
    (api/heavy.py)."""
    picked = text(hosts, "hosts") if hosts is not None else None
    return await heavy(request, "rolling", picked, instant(at, "at"))


Start = Annotated[str, Query(alias="from", description="Window start (any time form).")]
_ID = {"type": "string", "minLength": 1}
_MOVE = {
    "type": "object",
    "required": ["vm", "host"],
    "properties": {"vm": _ID, "host": _ID, "target": {"anyOf": [_ID, {"type": "null"}]}},
}
_GROUP = {
    "type": "object",
    "required": ["hosts"],
    "properties": {
        "hosts": {"type": "array", "items": _ID},
        "moves": {"type": "array", "items": _MOVE},
    },
}
_PLAN_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A saved plan: the JSON of `vtrail plan rolling -o json` "
        "(`GET /api/plan/rolling`); only its groups' hosts and moves are read.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["groups"],
                    "properties": {"groups": {"type": "array", "items": _GROUP}},
                }
            }
        },
    }
}


def _review(
    request: Request, t_from: str, t_to: str | None, hosts: str | None, plan: SavedPlan | None
) -> Response:
    lo, hi = when_required(t_from, "from"), when_required(t_to, "to")
    picked = text(hosts, "hosts") if hosts is not None else None
    return answer(review(reader(request), lo, hi, picked, plan))


@router.get("/review", summary="What a maintenance window really did")
def review_route(request: Request, t_from: Start, t_to: To = None, hosts: Hosts = None) -> Response:
    """The migrations in the window, each VM's downtime (stopped or absent), the rule
    violations, and the hosts drained in order."""
    return _review(request, t_from, t_to, hosts, None)


@router.post(
    "/review", summary="The same, held against a saved plan in the body", openapi_extra=_PLAN_DOC
)
async def review_plan_route(
    request: Request, t_from: Start, t_to: To = None, hosts: Hosts = None
) -> Response:
    """The review, and each planned move and the plan's order held against what
    happened. The body is a saved plan (`plan rolling -o json`); 422 when it is not one."""
    body = await read_body(request, MAX_BYTES)
    plan = parse_plan_text(body, "body")
    return await to_thread.run_sync(lambda: _review(request, t_from, t_to, hosts, plan))
