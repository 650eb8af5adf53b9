"""Naming images as a user types them, and setting their catalog facts.

An image is named by its id (`image:sha256:…`, `image:path:HOST:PATH`, or a declared
`image:NAME@VERSION`), by its checksum (`sha256:<hex>` or the hex alone), by its catalog
name (`NAME@VERSION`), or by a path it was seen at. Catalog facts are set as the
`catalog` source's attributes of the image (policy/images.py), recorded through the
caller's `record` (the recorder's: this layer reaches none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from vtrail.ids import IMAGE_CHECKSUM, image_id, image_identity, parse_image
from vtrail.images.facts import ImageError, ImageFacts, ImageNotFound, catalogued, image_facts
from vtrail.model import EntityObs, InvalidId, JSONValue, Observation, split_id
from vtrail.policy.images import (
    ATTRS,
    NAME,
    SOURCE,
    VERSION,
    catalog_key,
    date_text,
    image_ref,
    instant_text,
    security_word,
)
from vtrail.store import Store
from vtrail.store.reads.images import ImageReader
from vtrail.timeexpr import iso, to_us


def resolve(store: Store, text: str, at: datetime) -> list[str]:
    """Every image `text` names at `at` (a catalog name names the image catalogued so
    then, and the image VMs declare by that name); `ImageNotFound` when none."""
    t = text.strip()
    try:
        return [image_ref(t)]
    except InvalidId as e:
        if t.startswith(IMAGE_CHECKSUM):
            raise ImageError(str(e)) from None
    images = ImageReader(store).images_at(to_us(at))
    if _is_image_id(t):
        try:
            name, version = parse_image(t)
        except InvalidId as e:
            raise ImageError(str(e)) from None
        return [t, *catalogued(images, name, version)]
    if t.startswith("/"):
        found = sorted(e for e, a in images.items() if _seen_at(a.get("paths"), t))
        if not found:
            raise ImageNotFound(f"no image was seen at {t} at {iso(at)}")
        return found
    try:
        name, version = catalog_key(t)
    except ValueError:
        raise ImageNotFound(
            f"{t!r} names no image: give an image id, sha256:<hex>, NAME@VERSION or a path"
        ) from None
    return [*catalogued(images, name, version), image_id(name, version)]


def _is_image_id(text: str) -> bool:
    try:
        return split_id(text)[0] == "image"
    except InvalidId:
        return False


def _seen_at(paths: JSONValue, path: str) -> bool:
    return isinstance(paths, list) and path in paths


def one_file_image(store: Store, text: str, at: datetime) -> str:
    """The one image (by checksum or path, never a declared one) `text` names."""
    found = [e for e in resolve(store, text, at) if image_identity(e) != "name"]
    if len(found) != 1:
        if not found:
            raise ImageNotFound(f"{text.strip()} names no catalogued or recorded image")
        raise ImageError(f"{text.strip()} names {len(found)} images: {', '.join(found)}")
    return found[0]


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """What `vtrail image set` changes; None leaves a fact as it is, "" takes it away."""

    name: str | None = None
    creator: str | None = None
    certified_by: str | None = None
    certified_at: str | None = None
    security: str | None = None
    advisories: tuple[str, ...] | None = None
    security_at: str | None = None
    support_end: str | None = None
    location: str | None = None


_CHECK: Mapping[str, Callable[[object], str]] = {
    "certified_at": instant_text,
    "security_at": instant_text,
    "support_end": date_text,
    "security": security_word,
}


def _changed(current: dict[str, JSONValue], c: CatalogChange, now: datetime) -> None:
    stamp = instant_text(now)
    for f in fields(c):
        value = getattr(c, f.name)
        if value is None or f.name == "name":
            continue
        attr = f"catalog.{f.name}"
        if value in ("", ()):
            current.pop(attr, None)
            continue
        if f.name == "advisories":
            current[attr] = [str(a).strip() for a in value]
            continue
        try:
            current[attr] = _CHECK[f.name](value) if f.name in _CHECK else str(value).strip()
        except ValueError as e:
            raise ImageError(str(e)) from None
    if c.security and c.security_at is None:
        current["catalog.security_at"] = stamp
    if c.certified_by and c.certified_at is None:
        current["catalog.certified_at"] = stamp


def set_catalog(
    store: Store,
    record: Callable[[Observation], object],
    text: str,
    change: CatalogChange,
    now: datetime,
) -> ImageFacts:
    """Record the catalog facts of the image `text` names as changed by `change` at
    `now`; `ImageError` (nothing recorded) when the image or a value is not one."""
    if all(getattr(change, f.name) is None for f in fields(change)):
        raise ImageError("nothing to set: give at least one catalog fact (see --help)")
    eid = one_file_image(store, text, now)
    t = to_us(now)
    live = ImageReader(store).images_at(t)
    current: dict[str, JSONValue] = {
        k: v for k, v in live.get(eid, {}).items() if k in ATTRS and v is not None
    }
    if change.name is not None:
        try:
            name, version = catalog_key(change.name)
        except ValueError as e:
            raise ImageError(str(e)) from None
        taken = [e for e in catalogued(live, name, version) if e != eid]
        if taken:
            raise ImageError(f"{name}@{version} is already the catalog name of {taken[0]}")
        current |= {NAME: name, VERSION: version}
    _changed(current, change, now)
    record(Observation(SOURCE, now, "event", (EntityObs(eid, "image", current),)))
    return image_facts(store, eid, now)


def show_image(store: Store, text: str, at: datetime) -> ImageFacts:
    """The facts at `at` of the one image `text` names: a declared name stands for the
    image catalogued under it, when there is one."""
    found = resolve(store, text, at)
    files = [e for e in found if image_identity(e) != "name"]
    if len(files) > 1:
        raise ImageError(f"{text.strip()} names {len(files)} images: {', '.join(files)}")
    return image_facts(store, (files or found)[0], at)
