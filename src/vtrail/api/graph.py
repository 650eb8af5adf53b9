"""Topology and path over HTTP, and the questions the page asks most: change ticks
(timeline), counter series and search; each is a CLI command of the same name."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

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
from vtrail.query.counters import counters
from vtrail.query.graph import MAX_DEPTH
from vtrail.query.path import compare, path
from vtrail.query.search import MAX_HITS, search
from vtrail.query.timeline import MAX_BUCKETS, timeline

router = APIRouter(prefix="/api", tags=["graph"], dependencies=[Depends(require_read)])

At = Annotated[
    str | None,
    Query(description="Instant: ISO 8601, epoch seconds, 'now', '-6h', '6 hours ago'."),
]


@router.get("/topology", summary="The fabric graph at an instant")
async def topology_route(
    request: Request,
    at: At = None,
    around: Annotated[
        str | None, Query(description="Only the neighbourhood of this entity.")
    ] = None,
    depth: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Hops around `around`.")] = 2,
    kind: Annotated[
        str | None, Query(max_length=32, description="Only this kind and what it touches.")
    ] = None,
    output: Annotated[
        Literal["json", "dot"], Query(description="json, or dot (Graphviz): the CLI's `-o`.")
    ] = "json",
) -> Response:
    """Nodes (with the host or namespace each lives in) and relations live at `at`."""
    t = instant(at, "at")
    centre = text(around, "around") if around is not None else None
    return await heavy(request, "topology", t, centre, depth, kind, output)


@router.get("/path", summary="The hops from A to B at an instant")
def path_route(
    request: Request,
    a: Annotated[str, Query(description="From: a VM, NIC, MAC, IP (`IP@SPACE`) or namespace.")],
    b: Annotated[str, Query(description="To: a VM, NIC, MAC, IP (`IP@SPACE`) or namespace.")],
    at: At = None,
    compare_to: Annotated[
        str | None, Query(alias="compare", description="A second instant to compare with.")
    ] = None,
) -> Response:
    """The hops traffic took, the routes chosen, and where it broke when it did; with
    `compare`, both paths and what changed between them."""
    store = reader(request)
    src, dst = text(a, "a"), text(b, "b")
    t1 = when_required(at, "at")
    if compare_to is not None:
        return answer(compare(store, src, dst, t1, when_required(compare_to, "compare")))
    return answer(path(store, src, dst, t1))


@router.get("/timeline", summary="How much changed when")
def timeline_route(
    request: Request,
    t_from: Annotated[str | None, Query(alias="from", description="Window start.")] = None,
    t_to: Annotated[str | None, Query(alias="to", description="Window end.")] = None,
    buckets: Annotated[int, Query(ge=1, le=MAX_BUCKETS, description="Slices of the window.")] = 200,
) -> Response:
    """The recorded span and the count of changes in each slice of the window: the ticks
    on the page's time slider."""
    store = reader(request)
    lo = when(t_from, "from", None)
    hi = when(t_to, "to", None)
    return answer(timeline(store, lo, hi, buckets))


@router.get("/counters/{id:path}", summary="An entity's counter series")
def counters_route(
    request: Request,
    id: Annotated[str, Path(description="An entity id (or a VM name, MAC or IP).")],
    t_from: Annotated[str | None, Query(alias="from", description="Window start.")] = None,
    t_to: Annotated[str | None, Query(alias="to", description="Window end.")] = None,
) -> Response:
    """Every counter of an entity (bytes, packets, cpu), thinned to at most 2,000 readings."""
    store = reader(request)
    lo = when(t_from, "from", None)
    hi = when(t_to, "to", None)
    return answer(counters(store, text(id, "id"), lo, hi))


@router.get("/search", summary="Find entities by id, name, MAC or IP")
def search_route(
    request: Request,
    q: Annotated[str, Query(description="Part of an id, a name, a MAC or an IP.")],
    limit: Annotated[int, Query(ge=1, le=MAX_HITS, description="At most this many.")] = 20,
) -> Response:
    """Entities whose id, name, MAC or address contains `q`; names typed in full first."""
    store = reader(request)
    return answer(search(store, text(q, "q"), limit))
