"""`/api/plan/drain`, `/api/plan/rolling` and `/api/plan/review`: `vtrail plan` over HTTP,
with the same JSON. A review held against a saved plan is a `POST` whose body is the
plan (`plan rolling -o json`), which the CLI reads from `--plan FILE`."""

from __future__ import annotations

from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from vtrail.api.deps import (
    answer,
    heavy,
    instant,
    reader,
    require_read,
    text,
    when,
    when_required,
)
from vtrail.api.ingest import read_body
from vtrail.api.questions import At, From, To
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


def _review(
    request: Request,
    t_from: str | None,
    t_to: str | None,
    hosts: str | None,
    plan: SavedPlan | None,
) -> Response:
    if t_from is None:
        raise HTTPException(422, "from: a review is over a window: give its start")
    lo, hi = when_required(t_from, "from"), when(t_to, "to")
    assert hi is not None
    picked = text(hosts, "hosts") if hosts is not None else None
    return answer(review(reader(request), lo, hi, picked, plan))


@router.get("/review", summary="What a maintenance window really did")
def review_route(
    request: Request, t_from: From = None, t_to: To = None, hosts: Hosts = None
) -> Response:
    """The migrations in the window, each VM's downtime (stopped or absent), the rule
    violations, and the hosts drained in order."""
    return _review(request, t_from, t_to, hosts, None)


@router.post("/review", summary="The same, held against a saved plan in the body")
async def review_plan_route(
    request: Request, t_from: From = None, t_to: To = None, hosts: Hosts = None
) -> Response:
    """The review, and each planned move and the plan's order held against what
    happened. The body is a saved plan (`plan rolling -o json`); 422 when it is not one."""
    body = await read_body(request, MAX_BYTES)
    plan = parse_plan_text(body, "body")
    return await to_thread.run_sync(lambda: _review(request, t_from, t_to, hosts, plan))
