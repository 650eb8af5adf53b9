"""`GET /api/account`: the CLI's `vtrail account` over HTTP, with the same JSON, or CSV
with `output=csv` (docs/accounting.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from vtrail.accounting.account import BY, CSV_COLUMNS, By, account, csv_rows, policy_in_force
from vtrail.api.deps import answer, csv_response, reader, require_read, text, when_required

router = APIRouter(prefix="/api", tags=["accounting"], dependencies=[Depends(require_read)])

_ROWS = {
    "description": "The rows and the hosts' idle capacity as JSON, or the rows as CSV with "
    "`output=csv`.",
    "content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {
        "schema": {"type": "string"}}},
}  # fmt: skip


@router.get("/account", summary="Allocation, use and cost over a window", responses={200: _ROWS})
def account_route(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: Annotated[
        str | None, Query(alias="to", description="Window end (any time form; default now).")
    ] = None,
    by: Annotated[By, Query(description=f"Rows by {', '.join(BY)}.")] = "vm",
    output: Annotated[
        Literal["json", "csv"], Query(description="json, or csv: the CLI's `-o`.")
    ] = "json",
) -> Response:
    """Per row: allocated vCPU-hours and memory GiB-hours (in the billed states), CPU
    seconds used, the share of the hosts' CPU and memory, disk and network bytes, and
    the cost by the policy's rate card; and each host's idle capacity. 422 for a window
    that does not end after it starts or an unknown `by`."""
    store = reader(request)
    lo, hi = when_required(text(t_from, "from"), "from"), when_required(t_to, "to")
    found = account(store, policy_in_force(store, hi), lo, hi, by)
    if output == "json":
        return answer(found)
    return csv_response(CSV_COLUMNS, csv_rows(found))
