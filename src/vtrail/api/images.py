"""`/api/images`, `/api/image`, `/api/image/exposure`: the CLI's `vtrail images` and
`vtrail image show|exposure` over HTTP, with the same JSON; `POST /api/image/set` records
catalog facts, so it takes a writer's token, as `PUT /api/policy` does (docs/images.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from vtrail.api.deps import (
    Stores,
    answer,
    reader,
    require_read,
    require_write,
    stores,
    when_required,
)
from vtrail.api.questions import At, To
from vtrail.images.catalog import CatalogChange, set_catalog, show_image
from vtrail.images.exposure import exposure
from vtrail.images.facts import ImageFacts
from vtrail.images.listing import images

router = APIRouter(prefix="/api", tags=["images"])

Image = Annotated[
    str,
    Query(
        description="An image id, sha256:<hex>, a catalog NAME@VERSION, or a path.",
        min_length=1,
        max_length=1024,
    ),
]
Fact = Annotated[str | None, Query(max_length=1024)]
CatalogName = Annotated[str | None, Query(description="Its catalog NAME@VERSION.", max_length=257)]


@router.get(
    "/images", summary="The images in use at an instant", dependencies=[Depends(require_read)]
)
def images_at(request: Request, at: At = None) -> Response:
    """How many VMs use each image, and which are uncertified, insecure or out of support."""
    return answer(images(reader(request), when_required(at, "at")))


@router.get("/image", summary="One image's facts", dependencies=[Depends(require_read)])
def image_show(request: Request, image: Image, at: At = None) -> Response:
    """Its file (paths, format, size, checksum) and its catalog record at `at`."""
    return answer(show_image(reader(request), image, when_required(at, "at")))


@router.get(
    "/image/exposure",
    summary="Every VM that ran an image in a window",
    dependencies=[Depends(require_read)],
)
def image_exposure(
    request: Request,
    image: Image,
    t_from: Annotated[str, Query(alias="from", description="Window start (any time form).")],
    t_to: To = None,
) -> Response:
    """The VMs that ran the image, or one backed by it: hosts, owners, intervals (VMs
    that lived seconds too) and the VM-hours."""
    lo, hi = when_required(t_from, "from"), when_required(t_to, "to")
    return answer(exposure(reader(request), image, lo, hi))


def _set(s: Stores, image: str, change: CatalogChange) -> ImageFacts:
    with s.write_lock:
        recorder = s.recorder()
        return set_catalog(
            s.writer(), lambda o: recorder.record([o]), image, change, datetime.now(UTC)
        )


@router.post(
    "/image/set", summary="Record an image's catalog facts", dependencies=[Depends(require_write)]
)
async def image_set(
    request: Request,
    image: Image,
    name: Annotated[
        str | None, Query(description="Its catalog NAME@VERSION.", max_length=257)
    ] = None,
    creator: Fact = None,
    certified_by: Annotated[str | None, Query(alias="certified-by", max_length=1024)] = None,
    certified_at: Annotated[str | None, Query(alias="certified-at", max_length=64)] = None,
    security: Annotated[str | None, Query(description="ok, vulnerable or unknown.")] = None,
    advisory: Annotated[list[str] | None, Query(description="Advisory or CVE ids.")] = None,
    security_at: Annotated[str | None, Query(alias="security-at", max_length=64)] = None,
    support_end: Annotated[str | None, Query(alias="support-end", max_length=64)] = None,
    location: Fact = None,
) -> Response:
    """As `vtrail image set`: the facts given change from now, the others stay; an empty
    value takes a fact away. A bad value is refused in one line and nothing is recorded."""
    advisories = None if advisory is None else tuple(a for a in advisory if a.strip())
    change = CatalogChange(
        name, creator, certified_by, certified_at, security, advisories, security_at,
        support_end, location,
    )  # fmt: skip
    s = stores(request)
    loop = asyncio.get_running_loop()
    return answer(await loop.run_in_executor(s.writes, _set, s, image, change))
