"""`/api/check`: a policy's rules at an instant or over a window, as `vtrail check` answers.

`GET` checks the policy in force; `POST` checks the policy its body holds (the
YAML of a policy file), which need never have been applied: a what-if, or a
rule tried against the past. Neither records anything, so readers may ask
both. The walk can take seconds over a long window, so it runs in the
worker processes (api/heavy.py), like the other whole-fabric questions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vtrail.api.deps import heavy, instant, require_read, when_required
from vtrail.api.heavy import Now
from vtrail.api.ingest import read_body
from vtrail.api.questions import At, From, To
from vtrail.policy.model import CHANGE_KINDS
from vtrail.policy.provisioning import PROVISION_KINDS, QUOTA_KEYS, SECURITY

router = APIRouter(prefix="/api", tags=["triage"], dependencies=[Depends(require_read)])

#: A policy file is small; a body past this is not one.
MAX_POLICY = 1 << 20
_NAME = {"type": "string", "minLength": 1}
_NAMES = {"anyOf": [_NAME, {"type": "array", "items": _NAME}]}
_TEXT = {"type": "string"}
_SCALAR = {"anyOf": [{"type": t} for t in ("string", "number", "boolean", "null")]}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if required:
        out["required"] = required
    return {**out, "properties": properties}


_SELECTOR = _object(
    [],
    kind=_NAME,
    name=_NAME,
    ids=_NAMES,
    attrs={"type": "object", "additionalProperties": _SCALAR},
)
_ON_HOSTS = _object(["service", "hosts"], service=_NAME, hosts=_NAMES)
_SPECS: dict[str, Any] = {
    "same-domain": _NAMES,
    "affinity": _NAMES,
    "anti-affinity": _NAMES,
    "host-affinity": _ON_HOSTS,
    "host-anti-affinity": _ON_HOSTS,
    "max-hops": _object(
        ["from", "to", "hops"],
        **{"from": _NAME, "to": _NAME, "hops": {"type": "integer", "minimum": 0}},
    ),
}
_RULE = {
    **_object(["name"], name=_NAME, description=_TEXT, **_SPECS),
    "oneOf": [{"required": [kind]} for kind in _SPECS],
}
_WEIGHT = {"type": "number", "minimum": 0, "maximum": 1}
_DURATION = {
    "anyOf": [{"type": "number"}, {"type": "string"}],
    "description": "Seconds, or a duration such as 90s, 30m, 1h (docs/triage.md).",
}
_TRIAGE = _object(
    [],
    weights=_object(
        [],
        time=_WEIGHT,
        distance=_WEIGHT,
        kind=_WEIGHT,
        kinds=_object([], **dict.fromkeys(CHANGE_KINDS, _WEIGHT)),
    ),
    window=_DURATION,
    **{"half-life": _DURATION},
)
_PROVISION_RULE = {
    **_object(
        ["name"],
        name=_NAME,
        description=_TEXT,
        owners=_NAMES,
        certified={"anyOf": [{"const": True}, _NAMES]},
        security={"anyOf": [{"enum": list(SECURITY)}, {"type": "array",
                                                       "items": {"enum": list(SECURITY)}}]},
        images=_NAMES,
        hosts=_NAMES,
    ),
    "oneOf": [{"required": [kind]} for kind in PROVISION_KINDS],
}  # fmt: skip
_QUOTA = _object(
    [],
    **{k: {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]} for k in QUOTA_KEYS},
)
#: The `provisioning:` section (docs/provisioning.md).
_PROVISIONING = _object(
    [],
    rules={"type": ["array", "null"], "items": _PROVISION_RULE},
    quotas={"type": ["object", "null"], "additionalProperties": _QUOTA},
)
#: A policy file's shape (docs/policy.md), in its JSON form; YAML bodies take the same.
POLICY_RULES = [
    "every service a rule names is one of `services`",
    "no two rules have one name",
]
POLICY_SCHEMA: dict[str, Any] = {
    **_object(
        [],
        # Each part may be empty (null), as `rules:` with nothing under it is in YAML.
        services={
            "type": ["object", "null"],
            "additionalProperties": _object(
                ["members"], owner=_TEXT, description=_TEXT, members=_SELECTOR
            ),
        },
        domains={
            "type": ["object", "null"],
            "additionalProperties": _object(
                [], hosts=_NAMES, bridges=_NAMES, networks=_NAMES, description=_TEXT
            ),
        },
        rules={"type": ["array", "null"], "items": _RULE},
        triage={**_TRIAGE, "type": ["object", "null"]},
        provisioning={**_PROVISIONING, "type": ["object", "null"]},
    ),
    "x-vtrail-rules": POLICY_RULES,
    "description": "A policy (docs/policy.md). Besides the schema: "
    + "; ".join(POLICY_RULES)
    + ".",
}
_INSTANT = {"type": "string", "description": "ISO 8601 with its zone."}
_OPEN = {"type": ["string", "null"], "description": "ISO 8601 with its zone, or null."}
_IDS = {"type": "array", "items": {"$ref": "#/components/schemas/EntityId"}}
_VIOLATION = _object(
    ["from", "to", "members", "reason", "place", "in_force_at_start"],
    **{"from": _INSTANT, "to": {**_OPEN, "description": "null while still open."}},
    members=_IDS,
    reason=_TEXT,
    place={"type": ["string", "null"]},
    in_force_at_start={"type": "boolean"},
)
_GROUPS = {
    "type": ["array", "null"],
    "description": "At an instant, who is in each one then (null over a window).",
    "items": _object(["name", "members"], name=_NAME, members=_IDS),
}
#: The answer (docs/policy.md, "The answer"), as `vtrail check -o json` prints it.
CHECK_SCHEMA: dict[str, Any] = _object(
    ["at", "from", "to", "policy", "rules", "services", "domains"],
    **{"at": _INSTANT, "from": _OPEN, "to": _OPEN},
    policy=_TEXT,
    rules={
        "type": "array",
        "items": _object(
            ["name", "kind", "services", "holds", "members", "reason", "violations"],
            name=_NAME,
            kind={"type": "string", "enum": [*_SPECS, *PROVISION_KINDS, "quota"]},
            services={"type": "array", "items": _NAME},
            holds={"type": "boolean"},
            members=_IDS,
            reason={"type": ["string", "null"]},
            violations={"type": "array", "items": _VIOLATION},
        ),
    },
    services=_GROUPS,
    domains=_GROUPS,
)
_ANSWER_DOC: dict[str, Any] = {
    "responses": {
        "200": {
            "description": "Each rule at the instant, or its violations over the window.",
            "content": {"application/json": {"schema": CHECK_SCHEMA}},
        }
    }
}
_BODY_DOC: dict[str, Any] = {
    **_ANSWER_DOC,
    "requestBody": {
        "required": True,
        "description": "The policy to check, as a policy file holds it: JSON here, or the "
        "file's YAML under any other content type.",
        "content": {"application/json": {"schema": POLICY_SCHEMA}},
    },
}


def _when(
    at: str | None, t_from: str | None, t_to: str | None
) -> tuple[datetime | Now | None, datetime | None, datetime | Now | None]:
    if t_from is None and t_to is None:
        return instant(at, "at"), None, None
    if at is not None:
        raise HTTPException(422, "at: a check is at an instant or over a window, not both")
    if t_from is None:
        raise HTTPException(422, "from: a window needs its start")
    return None, when_required(t_from, "from"), instant(t_to, "to")


@router.get(
    "/check",
    summary="Whether each rule held at an instant, or when it was violated",
    openapi_extra=_ANSWER_DOC,
)
async def check(request: Request, at: At = None, t_from: From = None, t_to: To = None) -> Response:
    """Every rule of the policy in force: whether it holds at `at` (default now) and why
    not, and who is in each service and domain then; or, with `from` and `to`, the exact
    intervals it was violated, each with the members that broke it. 404 when no policy
    was in force: `POST` checks a draft."""
    a, lo, hi = _when(at, t_from, t_to)
    return await heavy(request, "check", None, a, lo, hi)


@router.post("/check", summary="The same, for a policy sent in the body", openapi_extra=_BODY_DOC)
async def check_draft(
    request: Request, at: At = None, t_from: From = None, t_to: To = None
) -> Response:
    """Every rule of the policy in the body, which need never have been applied (a
    what-if, or a rule tried against the past): the same answer as `GET`. It records
    nothing, so a reader may ask it."""
    body = await read_body(request, MAX_POLICY)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the policy is not UTF-8 text") from None
    a, lo, hi = _when(at, t_from, t_to)
    # A JSON body is read as YAML, of which it is a part: one reader for both forms.
    return await heavy(request, "check", text, a, lo, hi)
