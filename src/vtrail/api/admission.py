"""`POST /api/admission` and `GET /api/quota`: `vtrail admit` and `vtrail quota` over HTTP.

Admission takes the domain XML as its body and writes nothing, so a reader's
token is enough: the libvirt hook (provisioning/hook.py) asks it when it is
installed with `--server`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from vtrail.api.deps import answer, reader, require_read, text, when_required
from vtrail.api.ingest import read_body
from vtrail.api.questions import At, To
from vtrail.provisioning.admission import BadDomain, NoParser, admit
from vtrail.provisioning.quota import quota

router = APIRouter(prefix="/api", tags=["provisioning"], dependencies=[Depends(require_read)])

#: A domain's XML is a few KiB; a body past this is not one.
MAX_DOMAIN = 1 << 20
_TEXT = {"type": "string"}
_REASON = {
    "type": "object",
    "required": ["rule", "kind", "reason", "place"],
    "properties": {"rule": _TEXT, "kind": _TEXT, "reason": _TEXT,
                   "place": {"type": ["string", "null"]}},
}  # fmt: skip
_COUNTS = {"type": ["object", "null"], "additionalProperties": {"type": "integer"}}
_ADMISSION_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The libvirt domain XML of the VM about to start.",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    },
    "responses": {
        "200": {
            "description": "Allow or deny, with every reason (docs/provisioning.md).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["at", "domain", "entity", "owner", "host", "allow",
                                     "reasons", "disks", "usage", "usage_with_vm", "quota"],
                        "properties": {
                            "allow": {"type": "boolean"},
                            "reasons": {"type": "array", "items": _REASON},
                            "usage": _COUNTS, "usage_with_vm": _COUNTS, "quota": _COUNTS,
                        },
                    }
                }
            },
        }
    },
}  # fmt: skip

Owner = Annotated[str | None, Query(description="Its owner (default: its vtrail metadata's).",
                                    min_length=1)]  # fmt: skip
Host = Annotated[str | None, Query(description="The host it is to start on.", min_length=1)]


@router.post(
    "/admission",
    summary="Whether the policy allows a VM to start",
    openapi_extra=_ADMISSION_DOC,
)
async def admission(
    request: Request, owner: Owner = None, host: Host = None, at: At = None
) -> Response:
    """Allow or deny the domain in the body, with every reason: the provisioning rules
    and quotas of the policy in force at `at` (default now). It records nothing."""
    owner = text(owner, "owner") if owner is not None else None
    host = text(host, "host") if host is not None else None
    body = await read_body(request, MAX_DOMAIN)
    try:
        xml = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the domain XML is not UTF-8 text") from None
    instant = when_required(at, "at") if at is not None else datetime.now(UTC)

    def decide() -> Response:
        # In the thread that asks: its own read connection, which keeps the fleet.
        try:
            return answer(admit(reader(request), xml, instant, owner=owner, host=host))
        except BadDomain as e:
            raise HTTPException(422, str(e)) from None
        except NoParser as e:
            raise HTTPException(503, str(e)) from None

    return await run_in_threadpool(decide)


@router.get("/quota", summary="Each owner's quota usage over time, its peak and when")
def quota_over(
    request: Request,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
    owner: Annotated[str | None, Query(description="Only this owner.", min_length=1)] = None,
) -> Response:
    """VMs, vCPUs, memory (MiB) and addresses each owner ran at once: the usage at the
    window's start and at every change, the peak of each and the first instant it was
    reached, beside the quota of the policy in force at the window's end."""
    lo, hi = when_required(t_from, "from"), when_required(t_to, "to")
    owner = text(owner, "owner") if owner is not None else None
    return answer(quota(reader(request), lo, hi, owner))
