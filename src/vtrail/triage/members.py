"""Which entities a service's selector matches, at an instant and over a window.

An entity is a member while one of its versions matches: a VM that appears
later joins then, one renamed out of the glob leaves then, one that lived 20 s
was a member for 20 s. Membership changes only where a version does, so the
intervals are the versions' own, joined where consecutive versions match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from datetime import datetime

from vtrail.model import JSONValue, canonical
from vtrail.policy.model import Policy, Selector
from vtrail.query.state import check_window
from vtrail.store import Store
from vtrail.store.reads.triage import TriageReader, VersionRow
from vtrail.timeexpr import from_us, to_us
from vtrail.triage.answer import MemberInterval, Membership

_SCALARS = (str, int, float, bool, type(None))


class UnknownService(LookupError):
    """A service the policy does not define."""


def attr_value(attrs: Mapping[str, JSONValue], key: str) -> JSONValue:
    """`key` of `attrs`; a dotted key (`metadata.owner`) also reaches into nested objects."""
    if key in attrs:
        return attrs[key]
    value: JSONValue = dict(attrs)
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _comparable(v: JSONValue) -> tuple[str, object]:
    # By type too: `True == 1` in Python, but a selector's `true` is not the number 1
    # (while 2 and 2.0 are one number, as in JSON).
    kind = "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__
    return (kind, v if isinstance(v, _SCALARS) else canonical(v))


def _test(s: Selector) -> Callable[[str, Mapping[str, JSONValue]], bool] | None:
    """The selector's conditions but its ids, as one test; None when it has none."""
    if s.kind is None and s.name is None and not s.attrs:
        return None
    glob = re.compile(fnmatch.translate(s.name)).match if s.name is not None else None
    wanted = [(k, _comparable(v)) for k, v in s.attrs]

    def test(kind: str, attrs: Mapping[str, JSONValue]) -> bool:
        if s.kind is not None and kind != s.kind:
            return False
        if glob is not None:
            name = attrs.get("name")
            if not isinstance(name, str) or glob(name) is None:
                return False
        return all(_comparable(attr_value(attrs, k)) == v for k, v in wanted)

    return test


class Matcher:
    """The services an entity's version puts it in. Versions of one entity differ mostly
    in what no selector reads (state, counters), so answers are kept by what they read."""

    def __init__(self, policy: Policy) -> None:
        self.tests: dict[str, Callable[[str, Mapping[str, JSONValue]], bool]] = {}
        #: Services that list ids: the entity must be one of them, and meet the rest.
        self.by_id: dict[str, list[tuple[str, Callable[..., bool] | None]]] = {}
        for name, s in policy.services.items():
            test = _test(s.members)
            if s.members.ids:
                for eid in s.members.ids:
                    self.by_id.setdefault(eid, []).append((name, test))
            elif test is not None:
                self.tests[name] = test
        self.keys = sorted(
            {"name"} | {k for s in policy.services.values() for k, _ in s.members.attrs}
        )
        self._kept: dict[tuple[object, ...], frozenset[str]] = {}
        # A name can only match a glob that starts as it does: services by the literal
        # start of their glob, so that a name is tested against a few, not all of them.
        self.always: list[str] = []
        self.by_start: dict[int, dict[str, list[str]]] = {}
        for name in self.tests:
            glob = policy.services[name].members.name
            start = re.split(r"[*?\[]", glob, maxsplit=1)[0] if glob is not None else ""
            if start:
                self.by_start.setdefault(len(start), {}).setdefault(start, []).append(name)
            else:
                self.always.append(name)

    def _candidates(self, attrs: Mapping[str, JSONValue]) -> list[str]:
        name = attrs.get("name")
        if not isinstance(name, str):
            return self.always
        out = list(self.always)
        for n, starts in self.by_start.items():
            out += starts.get(name[:n], ())
        return out

    def services_of(self, eid: str, kind: str, attrs: Mapping[str, JSONValue]) -> frozenset[str]:
        key = (kind, *(_comparable(attr_value(attrs, k)) for k in self.keys))
        found = self._kept.get(key)
        if found is None:
            tests = self.tests
            found = self._kept[key] = frozenset(
                n for n in self._candidates(attrs) if tests[n](kind, attrs)
            )
        named = self.by_id.get(eid)
        if not named:
            return found
        return found | {n for n, t in named if t is None or t(kind, attrs)}


def scope(policy: Policy) -> tuple[set[str] | None, set[str]]:
    """Which entities could be members: of these kinds (None: of any) or with these ids."""
    kinds: set[str] | None = set()
    ids: set[str] = set()
    for s in policy.services.values():
        sel = s.members
        if sel.ids:
            ids.update(sel.ids)
        elif _test(sel) is None:
            continue
        elif sel.kind is None:
            kinds = None
        elif kinds is not None:
            kinds.add(sel.kind)
    return kinds, ids


def _intervals(
    rows: list[VersionRow], lo: int, hi: int, matches: Callable[[VersionRow], bool]
) -> list[MemberInterval]:
    """Each entity's matching versions, consecutive ones joined, clipped to `[lo, hi]`."""
    out: list[MemberInterval] = []
    by_entity: dict[str, list[VersionRow]] = {}
    for r in rows:
        by_entity.setdefault(r.eid, []).append(r)
    for eid in sorted(by_entity):
        start: int | None = None
        end: int | None = None
        for r in sorted(by_entity[eid], key=lambda r: r.valid_from):
            if not matches(r):
                continue
            if start is not None and end == r.valid_from:
                end = r.valid_to
                continue
            if start is not None:
                out.append(_member(eid, start, end, lo, hi))
            start, end = r.valid_from, r.valid_to
        if start is not None:
            out.append(_member(eid, start, end, lo, hi))
    return out


def _member(eid: str, start: int, end: int | None, lo: int, hi: int) -> MemberInterval:
    return MemberInterval(
        eid,
        from_us(max(start, lo)),
        from_us(end) if end is not None and end <= hi else None,
        start < lo,
    )


def membership(
    store: Store, policy: Policy, service: str, t_from: datetime, t_to: datetime
) -> Membership:
    """The exact intervals during which each entity matched `service`'s selector."""
    check_window(t_from, t_to)
    if service not in policy.services:
        known = ", ".join(sorted(policy.services)) or "none"
        raise UnknownService(f"the policy defines no service {service!r} (it has: {known})")
    one = Policy(services={service: policy.services[service]})
    kinds, ids = scope(one)
    lo, hi = to_us(t_from), to_us(t_to)
    live, began = TriageReader(store).versions(lo, hi, kinds, ids)
    matcher = Matcher(one)

    def matches(r: VersionRow) -> bool:
        return bool(matcher.services_of(r.eid, r.kind, r.attrs))

    return Membership(service, t_from, t_to, _intervals([*live, *began], lo, hi, matches))
