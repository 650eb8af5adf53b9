"""`vtrail image exposure IMAGE --from --to`: every VM that ran the image, or an image
backed by it, in the window: on which host, when, owned by whom, and the VM-hours.

A VM ran an image while it used it (`uses_image`, from one of its disks) and ran on a
host (`runs_on`); each interval is that overlap, cut to the window. A VM that lived
seconds has its seconds: every version of the history is read, not samples of it.
The walk starts at the image and goes outwards by index (store/reads/images.py), so
its cost is the images and VMs it finds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from vtrail.assetattrs import OWNER
from vtrail.ids import asset_id, image_identity
from vtrail.images.catalog import resolve
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.images import ImageReader, Span
from vtrail.timeexpr import from_us, to_us


def now() -> datetime:
    return datetime.now(UTC)


#: The deepest backing chain followed from the image asked about.
DEPTH_MAX = 64


@dataclass(frozen=True, slots=True)
class ExposedRun:
    """One VM on one host, running the image (or one backed by it) from `t_from` to `t_to`."""

    entity: str
    name: str | None
    owner: str | None
    host: str
    t_from: datetime
    t_to: datetime
    #: Still so when the window ended.
    ongoing: bool
    seconds: float
    #: The image(s) of its disks that are, or are backed by, the one asked about.
    images: list[str]


@dataclass(frozen=True, slots=True)
class ExposureAnswer:
    image: str
    t_from: datetime
    t_to: datetime
    #: The images asked about: the one named and every one backed by it.
    images: list[str]
    vms: list[ExposedRun]
    vm_count: int
    hosts: list[str]
    owners: list[str]
    vm_hours: float


def _backed_closure(r: ImageReader, seeds: list[str], lo: int, hi: int) -> list[str]:
    found = list(dict.fromkeys(seeds))
    frontier = set(found)
    for _ in range(DEPTH_MAX):
        more = {s.src for s in r.into(frontier, "backed_by", lo, hi)} - set(found)
        if not more:
            break
        found += sorted(more)
        frontier = more
    return found


def _overlaps(
    uses: list[Span], runs: list[Span], lo: int, hi: int
) -> list[tuple[str, int, int, str]]:
    """(host, from, to, image) of each overlap of a VM's use of an image and its runs."""
    out = []
    for u in uses:
        for h in runs:
            a = max(u.valid_from, h.valid_from, lo)
            b = min(
                u.valid_to if u.valid_to is not None else hi,
                h.valid_to if h.valid_to is not None else hi,
                hi,
            )
            if a < b:
                out.append((h.dst, a, b, u.dst))
    return out


def _merged(parts: list[tuple[str, int, int, str]]) -> list[tuple[str, int, int, set[str]]]:
    """Overlapping intervals on one host as one, with every image run in them."""
    out: list[tuple[str, int, int, set[str]]] = []
    for host, a, b, img in sorted(parts):
        if out and out[-1][0] == host and a <= out[-1][2]:
            h, a0, b0, imgs = out[-1]
            out[-1] = (h, a0, max(b0, b), imgs | {img})
        else:
            out.append((host, a, b, {img}))
    return out


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def exposure(store: Store, image: str, t_from: datetime, t_to: datetime) -> ExposureAnswer:
    check_window(t_from, t_to)
    lo, hi = to_us(t_from), to_us(t_to)
    r = ImageReader(store)
    # A name given since the window still names the image: the advisory is read today.
    seeds = list(dict.fromkeys([*resolve(store, image, t_to), *resolve(store, image, now())]))
    imgs = _backed_closure(r, seeds, lo, hi)
    uses: dict[str, list[Span]] = defaultdict(list)
    for s in r.into(imgs, "uses_image", lo, hi):
        uses[s.src].append(s)
    runs: dict[str, list[Span]] = defaultdict(list)
    for s in r.out_of(list(uses), "runs_on", lo, hi):
        runs[s.src].append(s)
    ran = {vm: _merged(_overlaps(uses[vm], runs[vm], lo, hi)) for vm in uses}
    ran = {vm: x for vm, x in ran.items() if x}
    attrs = r.last_attrs([*ran, *(asset_id(vm) for vm in ran)], hi)
    vms = []
    for vm, parts in sorted(ran.items()):
        own = attrs.get(vm, {})
        owner = _text(own.get(OWNER)) or _text(attrs.get(asset_id(vm), {}).get(OWNER))
        for host, a, b, used in parts:
            end_open = b == hi and any(
                (h.valid_to is None or h.valid_to > hi) for h in runs[vm] if h.dst == host
            )
            vms.append(
                ExposedRun(
                    vm, _text(own.get("name")), owner, host, from_us(a), from_us(b),
                    end_open, (b - a) / 1e6, sorted(used),
                )
            )  # fmt: skip
    vms.sort(key=lambda x: (x.t_from, x.entity, x.host))
    return ExposureAnswer(
        image=next((s for s in seeds if image_identity(s) != "name"), seeds[0]),
        t_from=t_from,
        t_to=t_to,
        images=imgs,
        vms=vms,
        vm_count=len(ran),
        hosts=sorted({x.host for x in vms}),
        owners=sorted({x.owner for x in vms if x.owner}),
        vm_hours=round(sum(x.seconds for x in vms) / 3600, 6),
    )
