"""`/api/triage`: the incident near an instant, as `vtrail triage` answers it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from vtrail.api.deps import answer, reader, require_read, text, when_required
from vtrail.api.questions import At
from vtrail.timeexpr import TimeParseError, parse_duration
from vtrail.triage.incident import LIMIT, triage
from vtrail.triage.report import to_markdown

router = APIRouter(prefix="/api", tags=["triage"], dependencies=[Depends(require_read)])

#: The most suspects one answer lists (the CLI's `--limit` has the same bound).
MAX_LIMIT = 1000
#: A window over HTTP: a whole number of seconds, minutes, hours or days (the CLI also
#: reads the other forms of a duration: `1h30m`, `90 minutes`).
WINDOW = "^[1-9][0-9]{0,3}(s|m|h|d)$"


@router.get("/triage", summary="What broke it: symptom, paths, ranked suspects")
def triage_route(
    request: Request,
    what: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=2,
            description="A service or domain (once), or two endpoints (twice: a VM, NIC, "
            "MAC, IP or namespace each).",
        ),
    ],
    at: At = None,
    window: Annotated[
        str | None,
        Query(
            pattern=WINDOW,
            description="How far before the onset changes are suspects (1h, 30m); "
            "default: the policy's triage.window, else 1h.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Suspects listed.")] = LIMIT,
    output: Annotated[
        Literal["json", "md"], Query(description="json, or md (a report for a ticket).")
    ] = "json",
) -> Response:
    """The incident near `at` (default now): which members or endpoints degraded and the
    onset (the first bad probe round, or `at` when no probe was bad); the paths at the
    onset and at the last healthy round before it, hop by hop; and every change in the
    window before the onset, ranked by time, distance to those paths, and kind
    (docs/triage.md). 404 for an unknown service or endpoint, 422 for more than two."""
    targets = [text(w, "what") for w in what]
    span = None
    if window is not None:
        try:
            span = parse_duration(text(window, "window"))
        except TimeParseError as e:
            raise HTTPException(422, f"window: {e}") from None
    found = triage(reader(request), targets, when_required(at, "at"), span, limit)
    if output == "md":
        return Response(to_markdown(found), media_type="text/markdown; charset=utf-8")
    return answer(found)
