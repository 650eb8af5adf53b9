"""Asset records over HTTP: `GET /api/assets` and `GET /api/asset/{id}`, the CLI's
`assets` and `asset` (docs/assets.md). Asset facts are written like any other
observation, through `POST /api/observations` (an `asset:<id>` entity)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from vtrail.api.deps import answer, csv_response, reader, require_read, text, when_required
from vtrail.assets.card import asset
from vtrail.assets.listing import CSV_COLUMNS, assets, csv_rows

router = APIRouter(prefix="/api", tags=["assets"], dependencies=[Depends(require_read)])

At = Annotated[
    str | None,
    Query(description="Instant: ISO 8601, epoch seconds, 'now', '-6h', '6 hours ago'."),
]


_LISTED = {
    "description": "The assets as JSON, or as CSV with `output=csv`.",
    "content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {
        "schema": {"type": "string"}}},
}  # fmt: skip


@router.get(
    "/assets",
    summary="Every VM and host with its owner and support",
    responses={200: _LISTED},
)
def assets_route(
    request: Request,
    at: At = None,
    owner: Annotated[
        str | None, Query(description="Only those this owner owns (case aside).")
    ] = None,
    flagged: Annotated[
        bool, Query(description="Only those without an owner, past support, or in doubt.")
    ] = False,
    output: Annotated[
        Literal["json", "csv"], Query(description="json, or csv: the CLI's `-o`.")
    ] = "json",
) -> Response:
    """The VMs and hosts live at `at` and those an inventory lists then: owner, cost
    centre, purpose, support end and status, host, first seen, flags, hardware."""
    store = reader(request)
    who = text(owner, "owner") if owner is not None else None
    found = assets(store, when_required(at, "at"), who, flagged)
    if output == "json":
        return answer(found)
    return csv_response(CSV_COLUMNS, csv_rows(found))


@router.get("/asset/{id:path}", summary="A VM's or host's identity card")
def asset_route(
    request: Request,
    id: Annotated[str, Path(description="A VM or host: its id, a VM's name or a MAC.")],
    at: At = None,
) -> Response:
    """Identity, owner and support at `at`, where it ran, renames and owner changes,
    lifetime, lineage, and the VM it likely continues (with the evidence)."""
    store = reader(request)
    return answer(asset(store, text(id, "id"), when_required(at, "at")))
