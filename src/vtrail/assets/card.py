"""`vtrail asset ID`: one VM's or host's identity card over its whole life.

What it is (uuid, name, MACs, disks, or a host's hardware), who owns it and what
for at the instant asked, where it ran and when, its renames and owner changes,
how long it lived, its support status, where it came from (image, clone) and the
VM it continues or that continues it (`continuity`).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import datetime

from vtrail.assetattrs import CLONED_FROM, IMAGE, OWNER
from vtrail.assets.continuity import Link, disk_sources, links
from vtrail.assets.facts import NAMES, Fact, Support, facts, flags, hardware, support
from vtrail.assets.listing import KINDS, name_of
from vtrail.ids import asset_id, parse_asset, parse_nic
from vtrail.model import Relation, Statement, Version, split_id
from vtrail.query.names import resolve, resolve_one
from vtrail.store import Store, UnknownEntity
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import from_us, to_us


class NotAnAsset(UnknownEntity):
    """An entity that has no asset record: only VMs and hosts do."""


@dataclass(frozen=True, slots=True)
class Placement:
    host: str
    t_from: datetime
    t_to: datetime | None


@dataclass(frozen=True, slots=True)
class FactChange:
    """A field that took a new value (None: no longer said), and who said so."""

    at: datetime
    before: str | None
    after: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    uuid: str | None
    name: str | None
    #: Every MAC and every disk source it ever had.
    macs: list[str]
    disks: list[str]


@dataclass(frozen=True, slots=True)
class Lineage:
    #: The images it came from (`uses_image`), or as its facts name one.
    images: list[str]
    #: What its facts say it was cloned from, and the VM that names, when one does.
    cloned_from: str | None
    cloned_from_entity: str | None
    #: The VM it likely continues, re-created under a new uuid, and the one that
    #: likely continues it.
    replaces: Link | None
    replaced_by: Link | None


@dataclass(frozen=True, slots=True)
class AssetCard:
    entity: str
    kind: str
    at: datetime
    #: Recorded alive at `at`; if not, the facts are those it last had.
    alive: bool
    identity: Identity
    facts: dict[str, Fact]
    support: Support
    flags: list[str]
    first_seen: datetime | None
    ended: datetime | None
    lifetime_s: float | None
    placements: list[Placement]
    renames: list[FactChange]
    owner_changes: list[FactChange]
    lineage: Lineage
    hardware: dict[str, str] = field(default_factory=dict)


def asset(store: Store, text: str, at: datetime) -> AssetCard:
    """The card of the VM or host `text` names (an id, a VM's name, a MAC, `asset:<id>`)."""
    eid = _entity(store, text)
    kind = split_id(eid)[0]
    r, t = StateReader(store), to_us(at)
    own = _versions(store, r, eid)
    theirs = _versions(store, r, asset_id(eid))
    now_own, now_theirs = _at(own, t), _at(theirs, t)
    mine = now_own or _last(own)
    # A thing not alive at `at` is shown as it last was; a live one as the register then
    # says, which may be nothing.
    register = now_theirs or (None if now_own else _last(theirs))
    said = _Said(r.statements(store.entity_id(eid)) if own else [])
    # Who said the facts of a thing no longer alive: whoever said them when it last was.
    asked = to_us(mine.valid_from) if mine is not None and now_own is None else t
    fields = said.facts(asked, mine, facts(mine, register))
    sup = support(fields, at)
    rels = r.relations(store.entity_id(eid)) if own else []
    life = r.first_last(store.entity_id(eid)) if own else None
    first, end = (life[0], life[1]) if life else (None, None)
    return AssetCard(
        entity=eid,
        kind=kind,
        at=at,
        alive=now_own is not None,
        identity=_identity(eid, own, mine, rels),
        facts=fields,
        support=sup,
        flags=flags(fields, sup, recorded=now_own is not None),
        first_seen=from_us(first) if first is not None else None,
        ended=from_us(end) if end is not None else None,
        lifetime_s=(end - first) / 1e6 if first is not None and end is not None else None,
        placements=[
            Placement(x.key.dst, x.valid_from, x.valid_to)
            for x in rels
            if x.key.rel == "runs_on" and x.key.src == eid
        ],
        renames=_changes(said, own, [], "name"),
        owner_changes=_changes(said, own, theirs, NAMES[OWNER]),
        lineage=_lineage(store, eid, fields, rels)
        if kind == "vm"
        else Lineage([], None, None, None, None),
        hardware=hardware(now_own or (own[-1] if own else None)),
    )


class _Said:
    """Who said what of the thing: a version names only the source whose change began
    it, and several sources may report one VM (a migration: both hosts' libvirt)."""

    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements

    def who(self, t: int, attr: str, value: str, fallback: str) -> str:
        said = [
            s
            for s in self.statements
            if to_us(s.valid_from) <= t
            and (s.valid_to is None or to_us(s.valid_to) > t)
            and s.attrs.get(attr) == value
        ]
        if not said or fallback in {s.source for s in said}:
            return fallback
        return max(said, key=lambda s: s.valid_from).source

    def facts(self, t: int, mine: Version | None, fields: dict[str, Fact]) -> dict[str, Fact]:
        """`fields` with each of the thing's own facts under the source that said it."""
        out = dict(fields)
        for attr, name in NAMES.items():
            fact = fields.get(name)
            if mine is not None and fact is not None and fact.source == mine.source:
                out[name] = replace(fact, source=self.who(t, attr, fact.value, fact.source))
        return out


def _entity(store: Store, text: str) -> str:
    """The VM or host `text` names; an inventory row alone is enough to name one."""
    if text.partition(":")[0] == "asset":
        text = parse_asset(text)
    try:
        eid = resolve_one(store, text)
    except UnknownEntity:
        try:
            store.entity_id(asset_id(text))
        except (UnknownEntity, ValueError):
            raise UnknownEntity(f"no VM or host {text!r} was ever recorded or listed") from None
        eid = text
    kind = split_id(eid)[0]
    if kind not in KINDS:
        raise NotAnAsset(f"{eid} is a {kind}: asset records are of VMs and hosts")
    return eid


def _versions(store: Store, r: StateReader, eid: str) -> list[Version]:
    try:
        n = store.entity_id(eid)
    except UnknownEntity:
        return []
    return r.versions(n)


def _at(versions: list[Version], t: int) -> Version | None:
    i = bisect_right([to_us(v.valid_from) for v in versions], t) - 1
    if i < 0:
        return None
    v = versions[i]
    return v if v.valid_to is None or to_us(v.valid_to) > t else None


def _last(versions: list[Version]) -> Version | None:
    return versions[-1] if versions else None


def _identity(eid: str, own: list[Version], mine: Version | None, rels: list[Relation]) -> Identity:
    last = own[-1].attrs if own else {}
    uuid = last.get("uuid")
    macs = sorted(
        {parse_nic(x.key.dst)[1] for x in rels if x.key.rel == "has_nic" and x.key.src == eid}
    )
    disks = sorted(set().union(*(disk_sources(v.attrs) for v in own)) if own else set())
    return Identity(uuid if isinstance(uuid, str) else None, name_of(mine), macs, disks)


def _changes(said: _Said, own: list[Version], theirs: list[Version], name: str) -> list[FactChange]:
    """Each instant the field's value changed, the thing's own word before the register's."""
    instants = sorted(
        {to_us(v.valid_from) for v in (*own, *theirs)}
        | {to_us(v.valid_to) for v in (*own, *theirs) if v.valid_to is not None}
    )
    out: list[FactChange] = []
    before: str | None = None
    for t in instants:
        a, b = _at(own, t), _at(theirs, t)
        if name == "name":
            value = name_of(a)
            source = said.who(t, "name", value, a.source) if a and value else None
        else:
            fact = said.facts(t, a, facts(a, b)).get(name)
            value, source = (fact.value, fact.source) if fact else (None, None)
        if value != before and (value is not None or out):
            ending = a or b
            out.append(
                FactChange(from_us(t), before, value, source or (ending.source if ending else None))
            )
        before = value
    return out


def _lineage(store: Store, eid: str, fields: dict[str, Fact], rels: list[Relation]) -> Lineage:
    images = {x.key.dst for x in rels if x.key.rel == "uses_image" and x.key.src == eid}
    image = fields.get(NAMES[IMAGE])
    if image and not images:
        images.add(image.value)
    source = fields.get(NAMES[CLONED_FROM])
    try:
        named = resolve(store, source.value) if source else []
    except (LookupError, ValueError):
        named = []  # free text that names nothing, or an address held in several spaces
    continuity = links(store)
    return Lineage(
        sorted(images),
        source.value if source else None,
        named[0] if len(named) == 1 else None,
        next((x for x in continuity if x.later == eid), None),
        next((x for x in continuity if x.earlier == eid), None),
    )
