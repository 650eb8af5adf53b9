"""The time-travel questions over HTTP, with the CLI's names and the CLI's JSON."""

from __future__ import annotations

from typing import Annotated

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
from vtrail.query import state

router = APIRouter(prefix="/api", tags=["questions"], dependencies=[Depends(require_read)])

At = Annotated[
    str | None,
    Query(description="Instant: ISO 8601, epoch seconds, 'now', '-6h', '6 hours ago'."),
]
From = Annotated[str | None, Query(alias="from", description="Window start (any time form).")]
To = Annotated[str | None, Query(alias="to", description="Window end (any time form).")]
Kind = Annotated[str | None, Query(description="Only entities of this kind.", max_length=32)]
EntityPath = Annotated[str, Path(description="An entity id (or a VM name, MAC or IP).")]


@router.get("/where", summary="Where a VM was at an instant")
def where(
    request: Request,
    what: Annotated[
        str, Query(description="An entity id, VM name, MAC or IP (`IP@SPACE` picks a space).")
    ],
    at: At = None,
    space: Annotated[
        str | None,
        Query(
            description="For an IP held in several address spaces at `at`: the namespace, "
            "host, libvirt network (`NAME@HOST`) or VM whose address it is."
        ),
    ] = None,
) -> Response:
    """Host, state, NICs, ports, bridges and addresses of a VM (or of the VM behind a NIC,
    MAC or IP) at `at`. An IP held in several address spaces then is refused with 409,
    naming every holder, unless `space` (or `IP@SPACE`) picks one."""
    store = reader(request)
    picked = text(space, "space") if space is not None else None
    return answer(state.where(store, text(what, "what"), when_required(at, "at"), picked))


@router.get("/show/{id:path}", summary="An entity at an instant")
def show(request: Request, id: EntityPath, at: At = None) -> Response:
    """An entity's attributes and relations at `at`."""
    store = reader(request)
    return answer(state.show(store, text(id, "id"), when_required(at, "at")))


@router.get("/history/{id:path}", summary="Every change of an entity")
def history(request: Request, id: EntityPath, t_from: From = None, t_to: To = None) -> Response:
    """Every version and relation change of an entity, with the source of each."""
    store = reader(request)
    lo = when(t_from, "from", None)
    hi = when(t_to, "to", None)
    return answer(state.history(store, text(id, "id"), lo, hi))


@router.get("/lifetime/{id:path}", summary="What a thing did while alive")
def lifetime(request: Request, id: EntityPath) -> Response:
    """First and last seen, lifetime and counter totals."""
    store = reader(request)
    return answer(state.lifetime(store, text(id, "id")))


@router.get("/diff", summary="What changed between two instants")
async def diff(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
    kind: Kind = None,
) -> Response:
    """What appeared, vanished, changed and moved between `from` and `to`."""
    a, b = when_required(t_from, "from"), instant(t_to, "to")
    return await heavy(request, "diff", a, b, kind)


@router.get("/ghosts", summary="Entities whose whole life fell inside a window")
async def ghosts(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
) -> Response:
    """Entities that appeared and vanished between `from` and `to`, with what they carried."""
    a, b = when_required(t_from, "from"), instant(t_to, "to")
    return await heavy(request, "ghosts", a, b)


@router.get("/snapshot", summary="Everything live at an instant")
async def snapshot(request: Request, at: At = None, kind: Kind = None) -> Response:
    """Every live entity and relation at `at`."""
    return await heavy(request, "snapshot", instant(at, "at"), kind)


@router.get("/stats", summary="Counts, span, sources and size")
def stats(request: Request) -> Response:
    """What the store holds: counts, time span, sources and their connection state."""
    store = reader(request)
    return answer(state.stats(store))
