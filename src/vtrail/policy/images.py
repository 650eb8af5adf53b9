"""The policy's `images:` section: the image catalog, entry by entry, read and checked in
one line per fault like the other sections, and written back in the file's form.

```yaml
images:
  debian@12.5:
    image: sha256:3f5a…            # or an image id: image:sha256:…, image:path:hv-a:/…
    creator: team-images
    certified-by: security-team
    certified-at: 2026-01-10
    security: ok                  # ok | vulnerable | unknown
    advisories: [DSA-5000-1]
    security-at: 2026-02-01T09:00:00Z
    support-end: 2028-06-30
    location: s3://images/debian-12.5.qcow2
```

Each entry is a catalog name and version (`NAME@VERSION`) given to one image. Applying
the policy says each new or changed entry's facts as the `catalog` source's attributes
of that image (`catalog_observation`); docs/images.md says what each means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from vtrail.ids import IMAGE_CHECKSUM, image_checksum, image_content_id, image_identity
from vtrail.model import EntityObs, InvalidId, JSONValue, Observation, split_id
from vtrail.policy.places import (
    At,
    Bad,
    quoted,
    read_list,
    read_mapping,
    read_optional_text,
    read_text,
)

#: The source catalog facts are recorded from, by the policy and by `vtrail image set`.
SOURCE = "catalog"
SECURITY = ("ok", "vulnerable", "unknown")
#: The file's keys and the image attributes they become.
FIELDS = {
    "creator": "catalog.creator",
    "certified-by": "catalog.certified_by",
    "certified-at": "catalog.certified_at",
    "security": "catalog.security",
    "advisories": "catalog.advisories",
    "security-at": "catalog.security_at",
    "support-end": "catalog.support_end",
    "location": "catalog.location",
}
NAME, VERSION = "catalog.name", "catalog.version"
#: Every catalog attribute of an image.
ATTRS = (NAME, VERSION, *FIELDS.values())
_KEYS = ("image", *FIELDS, "description")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_CATALOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    version: str
    #: The image id the entry describes.
    image: str
    creator: str | None = None
    certified_by: str | None = None
    #: ISO 8601: a date, or an instant with its offset.
    certified_at: str | None = None
    security: str | None = None
    advisories: tuple[str, ...] = ()
    security_at: str | None = None
    #: A date, YYYY-MM-DD.
    support_end: str | None = None
    location: str | None = None
    description: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def image_ref(text: str) -> str:
    """The image id a file or a command names: an image id, `sha256:<hex>` or the hex
    alone; `InvalidId` for anything else."""
    t = text.strip()
    if _HEX.match(t):
        return image_content_id(t)
    if t.startswith(IMAGE_CHECKSUM):
        return image_content_id(t.removeprefix(IMAGE_CHECKSUM))
    kind, _ = split_id(t)
    if kind != "image":
        raise InvalidId(f"{t!r} is a {kind}, not an image")
    if image_identity(t) == "name":
        raise InvalidId(f"{t!r} names a declared image: give its checksum or its path id")
    digest = image_checksum(t)
    return t if digest is None else image_content_id(digest)


def catalog_key(text: str) -> tuple[str, str]:
    """`(name, version)` of `NAME@VERSION`; ValueError when it is not one."""
    name, at, version = text.strip().rpartition("@")
    if not at or not _CATALOG_NAME.match(name) or not _CATALOG_NAME.match(version):
        raise ValueError(
            f"{quoted(text)} is not NAME@VERSION (letters, digits, '.', '_', '+', '-')"
        )
    return name, version


def instant_text(value: object) -> str:
    """An ISO 8601 date or instant as recorded: a date as it is, an instant in UTC."""
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=UTC)
        return t.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) == len("2026-12-03"):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{quoted(text)} is not an ISO 8601 date or instant") from None
    try:
        return instant_text(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{quoted(text)} is not an ISO 8601 date or instant") from None


def date_text(value: object) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value).strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{quoted(text)} is not a date (YYYY-MM-DD)") from None


def security_word(value: object) -> str:
    if value not in SECURITY:
        raise ValueError(f"security {quoted(value)} is not one of {', '.join(SECURITY)}")
    return str(value)


def _checked(m: Mapping[str, Any], key: str, at: At, read: Any) -> str | None:
    if key not in m:
        return None
    try:
        return str(read(m[key]))
    except ValueError as e:
        raise at.key(m, key).bad(str(e)) from None


def read_entry(key: str, body: object, at: At) -> CatalogEntry:
    try:
        name, version = catalog_key(key)
    except ValueError as e:
        raise at.bad(str(e)) from None
    m = read_mapping(body, at, _KEYS, "a mapping (image, creator, certified-by, ...)")
    if "image" not in m:
        raise at.bad("an entry names its image: image: sha256:<hex> or an image id")
    try:
        image = image_ref(read_text(m["image"], at.key(m, "image")))
    except InvalidId as e:
        raise at.key(m, "image").bad(str(e)) from None
    advisories: tuple[str, ...] = ()
    if "advisories" in m:
        advisories = read_list(m["advisories"], at.key(m, "advisories"), "ids", read_text)
    return CatalogEntry(
        name, version, image,
        creator=read_optional_text(m, "creator", at),
        certified_by=read_optional_text(m, "certified-by", at),
        certified_at=_checked(m, "certified-at", at, instant_text),
        security=_checked(m, "security", at, security_word),
        advisories=advisories,
        security_at=_checked(m, "security-at", at, instant_text),
        support_end=_checked(m, "support-end", at, date_text),
        location=read_optional_text(m, "location", at),
        description=read_optional_text(m, "description", at),
    )  # fmt: skip


def read_images(value: object, at: At) -> dict[str, CatalogEntry]:
    """The `images:` section: catalog entries by `NAME@VERSION`, one per image."""
    if value is None:
        return {}
    m = read_mapping(value, at, None, "a mapping of catalog entries by NAME@VERSION")
    found: dict[str, CatalogEntry] = {}
    by_image: dict[str, str] = {}
    for key, body in m.items():
        here = At(f"images.{key}", "", at.key(m, key).line)
        entry = read_entry(key, body, here)
        if entry.image in by_image:
            raise here.bad(f"{entry.image} is already catalogued as {by_image[entry.image]}")
        by_image[entry.image] = entry.key
        found[entry.key] = entry
    return found


def entry_document(e: CatalogEntry) -> dict[str, Any]:
    """The entry as the file writes it (and as its `catalog:` entity records it)."""
    doc: dict[str, Any] = {"image": e.image}
    for k, v in (
        ("creator", e.creator), ("certified-by", e.certified_by),
        ("certified-at", e.certified_at), ("security", e.security),
        ("advisories", list(e.advisories) or None), ("security-at", e.security_at),
        ("support-end", e.support_end), ("location", e.location),
        ("description", e.description),
    ):  # fmt: skip
        if v is not None:
            doc[k] = v
    return doc


def read_recorded(key: str, attrs: Mapping[str, Any], where: str) -> CatalogEntry:
    """An entry back from its recorded `catalog:` entity, read by the file's own reader."""
    try:
        return read_entry(key, {k: v for k, v in attrs.items() if k != "name"}, At(where))
    except Bad as e:
        raise ValueError(f"{where} as recorded is no policy's: {e.place}: {e.reason}") from None


def catalog_attrs(e: CatalogEntry) -> dict[str, JSONValue]:
    """The image attributes an entry says."""
    doc = entry_document(e)
    out: dict[str, JSONValue] = {NAME: e.name, VERSION: e.version}
    out |= {attr: doc[k] for k, attr in FIELDS.items() if k in doc}
    return out


def catalog_observation(
    before: Mapping[str, CatalogEntry], after: Mapping[str, CatalogEntry], at: datetime
) -> Observation | None:
    """The catalog facts of the entries new or changed since `before`, as the `catalog`
    source says them at `at`; None when there are none. An entry taken out of the file
    leaves its image's facts as they were: the catalog keeps what it was told."""
    changed = [e for k, e in sorted(after.items()) if before.get(k) != e]
    if not changed:
        return None
    entities = tuple(EntityObs(e.image, "image", catalog_attrs(e)) for e in changed)
    return Observation(SOURCE, at, "event", entities)
