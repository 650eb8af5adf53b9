"""A domain's disks → `image:` entities, `uses_image` and `backed_by` edges. Pure.

Each disk's file is an image, and so is each file under it in its backing chain
(docs/images.md). The chain is the one read from the files' headers
(`images.py`) where this host could read them, else the one libvirt shows in
the live XML (`<backingStore>`), which has neither sizes nor checksums. An
image is `image:sha256:<hex>` when its checksum was taken, so that two paths
to one content are one image; otherwise `image:path:<host>:<path>`, and
`identity` says which.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

from vtrail.collectors.libvirt.parse import Disk
from vtrail.collectors.libvirt.payload import ImageFile
from vtrail.ids import image_content_id, image_path_id
from vtrail.model import EntityObs, JSONValue, RelationObs, RelKey

#: What `unhashed` says of a file known only from the domain XML.
FROM_XML = "not read: known from the domain XML only"


def _layers(disk: Disk, files: Mapping[str, ImageFile]) -> list[ImageFile]:
    assert disk.source is not None
    out: list[ImageFile] = []
    f = files.get(disk.source)
    while f is not None and len(out) < 64:
        out.append(f)
        f = files.get(f.backing) if f.backing is not None else None
    if out:
        return out
    why = FROM_XML if disk.type in ("file", "block") else f"a disk of type {disk.type}"
    paths = [(disk.source, disk.format), *disk.backing]
    return [
        ImageFile(path, fmt, None, paths[i + 1][0] if i + 1 < len(paths) else None, None, why)
        for i, (path, fmt) in enumerate(paths)
    ]


def image_of(host: str, f: ImageFile) -> str:
    return image_content_id(f.checksum) if f.checksum else image_path_id(host, f.path)


def _attrs(f: ImageFile) -> dict[str, JSONValue]:
    attrs: dict[str, JSONValue] = {
        "paths": [f.path],
        "format": f.format,
        "virtual_size": f.virtual_size,
        "checksum": f.checksum,
        "identity": "checksum" if f.checksum else "path",
    }
    if f.unhashed:
        attrs["unhashed"] = f.unhashed
    return attrs


def disk_images(
    host: str, vm: str, disks: Sequence[Disk], files: Iterable[ImageFile]
) -> tuple[list[EntityObs], list[RelationObs]]:
    """The images of a VM's disks and the edges between them and the VM."""
    by_path = {f.path: f for f in files}
    entities: dict[str, dict[str, JSONValue]] = {}
    relations: list[RelationObs] = []
    for disk in disks:
        if not disk.source:
            continue  # an empty CD-ROM drive
        layers = _layers(disk, by_path)
        ids = [image_of(host, f) for f in layers]
        for eid, f in zip(ids, layers, strict=True):
            merge_image(entities, eid, _attrs(f))
        relations.append(RelationObs(RelKey(vm, "uses_image", ids[0]), {"target": disk.target}))
        relations += [RelationObs(RelKey(a, "backed_by", b)) for a, b in itertools.pairwise(ids)]
    return [EntityObs(eid, "image", a) for eid, a in entities.items()], relations


def merge_image(
    into: dict[str, dict[str, JSONValue]], eid: str, attrs: Mapping[str, JSONValue]
) -> None:
    """One content reached by several paths is one image listing every path."""
    known = into.get(eid)
    if known is None:
        into[eid] = dict(attrs)
        return
    paths = known.get("paths")
    more = attrs.get("paths")
    if isinstance(paths, list) and isinstance(more, list):
        known["paths"] = list[JSONValue](sorted({*map(str, paths), *map(str, more)}))


def merged_images(entities: Iterable[EntityObs]) -> list[EntityObs]:
    """The entities with each image once, its `paths` the union of what each said."""
    images: dict[str, dict[str, JSONValue]] = {}
    out: list[EntityObs] = []
    for e in entities:
        if e.kind == "image":
            merge_image(images, e.id, e.attrs)
        else:
            out.append(e)
    return out + [EntityObs(eid, "image", a) for eid, a in images.items()]
