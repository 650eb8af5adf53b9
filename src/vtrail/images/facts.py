"""One image's facts at an instant: what the collectors saw of its file, and what the
catalog says of it (the `catalog.*` attributes, policy/images.py), with its flags.

`image_facts` is the read the other image questions, and provisioning, build on:
"was this image certified when that VM started?" is `image_facts(store, image, start)`,
because the catalog's facts are history like everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from vtrail.ids import image_checksum, image_identity, parse_image
from vtrail.model import JSONValue
from vtrail.policy.images import NAME, VERSION
from vtrail.store import Store
from vtrail.store.reads.graph import GraphReader
from vtrail.store.reads.images import ImageReader
from vtrail.timeexpr import to_us

#: The flags an image may carry, in the order they are listed.
UNCERTIFIED, INSECURE, OUT_OF_SUPPORT = "uncertified", "insecure", "out-of-support"


class ImageError(ValueError):
    """A request about images that cannot be answered or done, in one line; nothing changed."""


class ImageNotFound(ImageError):
    """What was asked of names no image (the API's 404)."""


@dataclass(frozen=True, slots=True)
class ImageFacts:
    id: str
    at: datetime
    #: `checksum`, `path` or `name` (declared by a VM's metadata): how the id identifies it.
    identity: str
    #: Whether an image entity was live at `at` (a declared image never is).
    recorded: bool
    checksum: str | None = None
    paths: tuple[str, ...] = ()
    format: str | None = None
    virtual_size: int | None = None
    #: Why no checksum was taken, when none was.
    unhashed: str | None = None
    name: str | None = None
    version: str | None = None
    creator: str | None = None
    certified_by: str | None = None
    #: A date given alone is its midnight, UTC.
    certified_at: datetime | None = None
    #: `ok`, `vulnerable` or `unknown`; None when the catalog says nothing.
    security: str | None = None
    advisories: tuple[str, ...] = ()
    security_at: datetime | None = None
    support_end: str | None = None
    location: str | None = None
    flags: tuple[str, ...] = ()

    @property
    def certified(self) -> bool:
        return self.certified_by is not None


def _text(attrs: Mapping[str, JSONValue], key: str) -> str | None:
    v = attrs.get(key)
    return v if isinstance(v, str) else None


def _texts(attrs: Mapping[str, JSONValue], key: str) -> tuple[str, ...]:
    v = attrs.get(key)
    return tuple(str(x) for x in v) if isinstance(v, list) else ()


def _instant(attrs: Mapping[str, JSONValue], key: str) -> datetime | None:
    text = _text(attrs, key)
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None  # recorded by another producer in a form vtrail does not write
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def flags_of(attrs: Mapping[str, JSONValue], at: datetime) -> tuple[str, ...]:
    out = []
    if _text(attrs, "catalog.certified_by") is None:
        out.append(UNCERTIFIED)
    if _text(attrs, "catalog.security") == "vulnerable":
        out.append(INSECURE)
    end = _text(attrs, "catalog.support_end")
    if end is not None and end < at.date().isoformat():
        out.append(OUT_OF_SUPPORT)
    return tuple(out)


def facts_from(eid: str, attrs: Mapping[str, JSONValue] | None, at: datetime) -> ImageFacts:
    a: Mapping[str, JSONValue] = attrs or {}
    size = a.get("virtual_size")
    return ImageFacts(
        id=eid,
        at=at,
        identity=image_identity(eid),
        recorded=attrs is not None,
        checksum=_text(a, "checksum") or image_checksum(eid),
        paths=_texts(a, "paths"),
        format=_text(a, "format"),
        virtual_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        unhashed=_text(a, "unhashed"),
        name=_text(a, NAME),
        version=_text(a, VERSION),
        creator=_text(a, "catalog.creator"),
        certified_by=_text(a, "catalog.certified_by"),
        certified_at=_instant(a, "catalog.certified_at"),
        security=_text(a, "catalog.security"),
        advisories=_texts(a, "catalog.advisories"),
        security_at=_instant(a, "catalog.security_at"),
        support_end=_text(a, "catalog.support_end"),
        location=_text(a, "catalog.location"),
        flags=flags_of(a, at),
    )


def catalogued(images: Mapping[str, Mapping[str, JSONValue]], name: str, version: str) -> list[str]:
    """The images among these whose catalog name and version are these."""
    return sorted(
        eid for eid, a in images.items() if a.get(NAME) == name and a.get(VERSION) == version
    )


def image_facts(store: Store, image_id: str, at: datetime) -> ImageFacts:
    """The facts of `image_id` at `at`. A declared image (`image:NAME@VERSION`, from a
    VM's metadata) has the facts of the image the catalog names so then, when one does."""
    t = to_us(at)
    node = GraphReader(store).nodes([image_id], t).get(image_id)
    if node is not None or image_identity(image_id) != "name":
        return facts_from(image_id, None if node is None else node.attrs, at)
    name, version = parse_image(image_id)
    images = ImageReader(store).images_at(t)
    found = catalogued(images, name, version)
    if len(found) != 1:
        return facts_from(image_id, None, at)
    return replace(facts_from(found[0], images[found[0]], at), id=image_id, identity="name")
