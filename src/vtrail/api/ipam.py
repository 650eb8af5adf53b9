"""`/api/ipam/...`: the CLI's `vtrail ipam` over HTTP, with the same JSON. The questions
(`pools`, `who`, `conflicts`, `usage`, `export`) take a reader token; `allocate` and
`release` record, so they take a writer's, as `PUT /api/policy` does."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from vtrail.api.deps import (
    Stores,
    answer,
    reader,
    require_read,
    require_write,
    stores,
    when,
    when_required,
)
from vtrail.api.questions import At, From, To
from vtrail.ipam.allocate import AllocateAnswer, ReleaseAnswer, allocate, release
from vtrail.ipam.conflicts import conflicts
from vtrail.ipam.export import export
from vtrail.ipam.pools import pools_answer
from vtrail.ipam.usage import usage
from vtrail.ipam.who import who

ExportFormat = Literal["dnsmasq", "hosts", "csv"]

router = APIRouter(prefix="/api/ipam", tags=["ipam"])

Address = Annotated[str, Path(description="An address (ADDRESS or ADDRESS@SPACE) or a MAC.")]
PoolName = Annotated[str | None, Query(description="One pool (default: every one).", min_length=1)]


def _instant_or_window(at: str | None, t_from: str | None, t_to: str | None) -> None:
    if at is not None and (t_from is not None or t_to is not None):
        raise HTTPException(422, "ask at an instant (at) or over a window (from, to), not both")


@router.get(
    "/pools", summary="The pools in force at an instant", dependencies=[Depends(require_read)]
)
def pools(request: Request, at: At = None) -> Response:
    return answer(pools_answer(reader(request), when_required(at, "at")))


@router.get(
    "/who/{address}", summary="Who held an address or a MAC", dependencies=[Depends(require_read)]
)
def who_held(
    request: Request, address: Address, at: At = None, t_from: From = None, t_to: To = None
) -> Response:
    """Every holder, how it held it (allocated, observed, leased) and when: at `at`, in
    the window, or over the whole history when neither is given."""
    _instant_or_window(at, t_from, t_to)
    window = t_from is not None or t_to is not None
    return answer(
        who(
            reader(request),
            address,
            at=when(at, "at", None),
            t_from=when(t_from, "from", None),
            t_to=when(t_to, "to", "now") if window else None,
        )
    )


@router.get("/conflicts", summary="Address and MAC conflicts", dependencies=[Depends(require_read)])
def conflicts_at(request: Request, at: At = None, t_from: From = None, t_to: To = None) -> Response:
    """At `at` (default now), or every one in the window with its interval."""
    _instant_or_window(at, t_from, t_to)
    if t_from is None and t_to is None:
        return answer(conflicts(reader(request), at=when_required(at, "at")))
    if t_from is None:
        raise HTTPException(422, "a window needs its start: from")
    return answer(
        conflicts(
            reader(request),
            t_from=when_required(t_from, "from"),
            t_to=when_required(t_to, "to"),
        )
    )


@router.get("/usage", summary="A pool's use over time", dependencies=[Depends(require_read)])
def usage_over(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
    pool: PoolName = None,
    points: Annotated[int, Query(description="Instants counted at.", ge=2, le=1000)] = 24,
) -> Response:
    """Allocated, observed in use and free members of each pool at evenly spaced instants."""
    lo, hi = when_required(t_from, "from"), when_required(t_to, "to")
    return answer(usage(reader(request), lo, hi, pool=pool, points=points))


@router.get(
    "/export", summary="Allocations as dnsmasq, hosts or CSV", dependencies=[Depends(require_read)]
)
def export_of(
    request: Request,
    fmt: Annotated[ExportFormat, Query(alias="format", description="The file's format.")],
    at: At = None,
    pool: PoolName = None,
) -> Response:
    """The allocations live at `at`, each line and the file as `text`."""
    return answer(export(reader(request), fmt, when_required(at, "at"), pool))


def _allocate(s: Stores, pool: str, holder: str, count: int) -> AllocateAnswer:
    with s.write_lock:
        return allocate(s.writer(), s.recorder(), pool, holder, count)


def _release(s: Stores, address: str) -> ReleaseAnswer:
    with s.write_lock:
        return release(s.writer(), s.recorder(), address)


@router.post("/allocate", summary="Allocate from a pool", dependencies=[Depends(require_write)])
async def allocate_from(
    request: Request,
    pool: Annotated[str, Query(description="The pool's name.", min_length=1)],
    holder: Annotated[str, Query(alias="for", description="Who gets it.", min_length=1)],
    count: Annotated[int, Query(description="How many.", ge=1, le=4096)] = 1,
) -> Response:
    """The next free members of the pool, recorded as allocated to `for`."""
    s = stores(request)
    loop = asyncio.get_running_loop()
    return answer(await loop.run_in_executor(s.writes, _allocate, s, pool, holder, count))


@router.post(
    "/release", summary="Release an address or a MAC", dependencies=[Depends(require_write)]
)
async def release_one(
    request: Request,
    address: Annotated[str, Query(description="ADDRESS[@SPACE] or a MAC.", min_length=1)],
) -> Response:
    s = stores(request)
    loop = asyncio.get_running_loop()
    return answer(await loop.run_in_executor(s.writes, _release, s, address))
