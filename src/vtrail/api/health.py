"""`/api/health`: each member of a service or domain, its probes' results, and when it was
degraded, as `vtrail health` answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from vtrail.api.deps import answer, reader, require_read, text, when
from vtrail.api.questions import At, From, To
from vtrail.triage.health import health
from vtrail.triage.policy_at import recorded_policy

router = APIRouter(prefix="/api", tags=["triage"], dependencies=[Depends(require_read)])


@router.get("/health", summary="Each member's probe results, and when it was degraded")
def health_route(
    request: Request,
    what: Annotated[str, Query(description="A service or domain of the policy in force.")],
    at: At = None,
    t_from: From = None,
    t_to: To = None,
) -> Response:
    """Per member of the service or domain (members at each instant, as `check` says),
    its probes' last loss and RTT per vantage at `at` (default now) and whether it is
    degraded then; or, with `from` and `to`, the exact intervals it was degraded, from
    the first bad round to the first good one. 404 for a name that is neither a service
    nor a domain of the policy in force, or when no policy was in force."""
    group = text(what, "what")
    if t_from is None and t_to is None:
        instant, lo, hi = when(at, "at"), None, None
    else:
        if at is not None:
            raise HTTPException(422, "at: health is at an instant or over a window, not both")
        if t_from is None:
            raise HTTPException(422, "from: a window needs its start")
        instant, lo, hi = None, when(t_from, "from"), when(t_to, "to")
    about = instant or hi
    assert about is not None
    store = reader(request)
    policy = recorded_policy(store, about)
    return answer(health(store, policy, group, at=instant, t_from=lo, t_to=hi))
