"""Hold a recording against the story's ground truth: what was recorded, and how late.

For each `Change` the instants vtrail recorded for it (an edge beginning or
ending, a version starting) are found in the store and compared with the
instant the change was made. `Finding.error_s` is recorded minus true time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vtrail.demo.churn import Change, Story
from vtrail.model import Relation
from vtrail.query import state
from vtrail.store import SqliteStore, UnknownEntity

#: How far before the truth a recorded instant may lie and still be this change's.
EARLY = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Finding:
    change: Change
    what: str
    recorded: datetime | None

    @property
    def error_s(self) -> float | None:
        if self.recorded is None:
            return None
        return (self.recorded - self.change.at).total_seconds()


def _relations(store: SqliteStore, entity: str) -> list[Relation]:
    try:
        return state.history(store, entity).relations
    except UnknownEntity:
        return []


def rel_began(
    store: SqliteStore, c: Change, src: str, rel: str, dst: str, **attrs: object
) -> Finding:
    starts = [
        r.valid_from
        for r in _relations(store, src)
        if (r.key.src, r.key.rel, r.key.dst) == (src, rel, dst)
        and r.valid_from >= c.at - EARLY
        and all(r.attrs.get(k) == v for k, v in attrs.items())
    ]
    return Finding(c, f"{rel} {dst} began", min(starts, default=None))


def rel_ended(store: SqliteStore, c: Change, src: str, rel: str, dst: str) -> Finding:
    ends = [
        r.valid_to
        for r in _relations(store, src)
        if (r.key.src, r.key.rel, r.key.dst) == (src, rel, dst)
        and r.valid_to is not None
        and r.valid_to >= c.at - EARLY
        and r.vanished_after is None
    ]
    return Finding(c, f"{rel} {dst} ended", min(ends, default=None))


def began(store: SqliteStore, c: Change, **attrs: object) -> Finding:
    try:
        vs = state.history(store, c.subject).versions
    except UnknownEntity:
        vs = []
    starts = [
        v.valid_from
        for v in vs
        if v.valid_from >= c.at - EARLY and all(v.attrs.get(k) == x for k, x in attrs.items())
    ]
    what = "appeared" if not attrs else ", ".join(f"{k}={v}" for k, v in attrs.items())
    return Finding(c, what, min(starts, default=None))


def ended(store: SqliteStore, c: Change) -> Finding:
    try:
        vs = state.history(store, c.subject).versions
    except UnknownEntity:
        vs = []
    ends = [
        v.valid_to
        for v in vs
        if v.valid_to is not None and v.valid_to >= c.at - EARLY and v.vanished_after is None
    ]
    return Finding(c, "ended", min(ends, default=None))


def route_began(store: SqliteStore, c: Change) -> Finding:
    """The first version of the interface the route now leaves by that carries it."""
    try:
        vs = state.history(store, c.subject).versions
    except UnknownEntity:
        vs = []
    starts = [
        v.valid_from
        for v in vs
        if v.valid_from >= c.at - EARLY
        and any(
            isinstance(x, dict) and x.get("dst") == c.label and x.get("via") == c.after
            for x in v.attrs.get("routes") or []
        )
    ]
    return Finding(c, f"route {c.label} via {c.after} began", min(starts, default=None))


def findings(store: SqliteStore, story: Story) -> list[Finding]:
    out: list[Finding] = []
    for c in story.changes:
        host = lambda h: f"host:{h}"  # noqa: E731
        match c.action:
            case "create":
                out += [began(store, c), rel_began(store, c, c.subject, "runs_on", host(c.after))]
            case "migrate":
                out += [
                    rel_began(store, c, c.subject, "runs_on", host(c.after)),
                    rel_ended(store, c, c.subject, "runs_on", host(c.before)),
                ]
            case "stop":
                out += [
                    began(store, c, state="shutoff"),
                    rel_ended(store, c, c.subject, "runs_on", host(c.before)),
                ]
            case "start":
                out += [
                    began(store, c, state="running"),
                    rel_began(store, c, c.subject, "runs_on", host(c.after)),
                ]
            case "destroy" | "vanish":
                out.append(ended(store, c))
            case "appear":
                out.append(began(store, c))
            case "replug":
                assert c.before and c.after
                out += [
                    rel_began(store, c, c.subject, "port_of", c.after),
                    rel_ended(store, c, c.subject, "port_of", c.before),
                ]
            case "route":
                out.append(route_began(store, c))
            case "join":
                assert c.after
                out.append(rel_began(store, c, c.subject, "port_of", c.after))
    return out


def final_reading(store: SqliteStore, entity: str, metric: str) -> float:
    """The last reading of `metric`, by whichever source read it last (`read_last`: a veth
    port's final rx is read at the pair's deletion by its peer namespace's collector)."""
    last = state.lifetime(store, entity).read_last().get(metric)
    return 0.0 if last is None else last.last_value


def table(found: list[Finding]) -> str:
    lines = [f"{'change':<40} {'recorded as':<44} {'error':>9}"]
    for f in found:
        err = "MISSING" if f.error_s is None else f"{f.error_s * 1000:+8.0f}ms"
        lines.append(f"{f.change.describe()[:40]:<40} {f.what[:44]:<44} {err:>9}")
    return "\n".join(lines)
