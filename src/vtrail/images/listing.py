"""`vtrail images [--at T]`: the images in use at an instant, how many VMs use each, and
which are uncertified, insecure or out of support.

A VM uses an image when one of its disks is that image or is backed by it, however
deep the chain: a base image is in use while any overlay on it is. Declared images
(`image:NAME@VERSION`, from a VM's metadata) are listed too, with the facts of the
image the catalog names so, when one does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime

from vtrail.ids import image_identity, parse_image
from vtrail.images.facts import ImageFacts, catalogued, facts_from
from vtrail.store import Store
from vtrail.store.reads.images import ImageReader
from vtrail.timeexpr import to_us


@dataclass(frozen=True, slots=True)
class ImageInUse:
    facts: ImageFacts
    #: The VMs using it (defined, running or not), and those of them running.
    vms: int
    running: int


@dataclass(frozen=True, slots=True)
class ImagesAnswer:
    at: datetime
    images: list[ImageInUse]


def images(store: Store, at: datetime) -> ImagesAnswer:
    r = ImageReader(store)
    t = to_us(at)
    live = r.images_at(t)
    backing: dict[str, set[str]] = defaultdict(set)
    for src, dst in r.edges_at("backed_by", t):
        backing[src].add(dst)
    users: dict[str, set[str]] = defaultdict(set)
    for vm, top in r.edges_at("uses_image", t):
        seen: set[str] = set()
        todo = [top]
        while todo:
            img = todo.pop()
            if img in seen:
                continue
            seen.add(img)
            users[img].add(vm)
            todo.extend(backing.get(img, ()))
    running = {vm for vm, _ in r.edges_at("runs_on", t)}
    out = []
    for eid, vms in users.items():
        facts = facts_from(eid, live.get(eid), at)
        if image_identity(eid) == "name":
            named = catalogued(live, *parse_image(eid))
            if len(named) == 1:
                facts = replace(facts_from(named[0], live[named[0]], at), id=eid, identity="name")
        out.append(ImageInUse(facts, len(vms), len(vms & running)))
    out.sort(key=lambda x: (-x.vms, x.facts.id))
    return ImagesAnswer(at, out)
