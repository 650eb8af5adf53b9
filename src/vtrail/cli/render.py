"""Answers for people; `-o json` bypasses all of this.

A thing shows by its name where it has one (a VM's), or by its id when that is
short; a long id (a uuid in it) follows whole on a line of its own. Tables fit
the terminal by moving whole cells (vtrail.cli.columns), never by cutting them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from rich.text import Text

from vtrail.cli.columns import Col, Row, flow, instant, table
from vtrail.cli.common import console, esc
from vtrail.model import JSONValue, Relation, Statement, Version
from vtrail.query.graph import label
from vtrail.query.state import (
    DiffAnswer,
    HistoryAnswer,
    Lifetime,
    ShowAnswer,
    SnapshotAnswer,
    StatsAnswer,
    WhereAnswer,
)
from vtrail.timeexpr import iso

#: An id up to this long reads as a name (`port:hv-a/vnet1`); a longer one is shown by
#: what a person knows it by, with the whole id under it.
SHORT_ID = 24

Names = Mapping[str, str]


def _names(*groups: Iterable[Version]) -> dict[str, str]:
    """Entity id → its name, for those of `groups` that have one."""
    out: dict[str, str] = {}
    for g in groups:
        for v in g:
            name = v.attrs.get("name")
            if isinstance(name, str) and name:
                out[v.entity] = name
    return out


def who(eid: str, names: Names) -> tuple[str, str | None]:
    """What to call `eid` in a cell, and its whole id when the cell does not show it."""
    name = names.get(eid)
    if name:
        return name, eid
    if len(eid) <= SHORT_ID:
        return eid, None
    kind = eid.partition(":")[0]
    return label(eid, kind, {}), eid


def _attrs(attrs: Mapping[str, JSONValue], limit: int = 6) -> str:
    items = [f"{k}={_short(v)}" for k, v in sorted(attrs.items())]
    more = f" (+{len(items) - limit})" if len(items) > limit else ""
    return " ".join(items[:limit]) + more


def _short(v: JSONValue) -> str:
    text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return text if len(text) <= 40 else text[:37] + "..."


def _end(to: datetime | None, vanished: datetime | None, under: list[str]) -> datetime | str:
    """The end of an interval for its cell; when it is only known to lie between two
    instants, the cell says so and the two go under the row."""
    if vanished is not None:
        under.append(f"vanished between {instant(vanished)} and {instant(to) if to else 'now'}")
        return "vanished"
    return to if to is not None else "now"


def _span(seconds: float) -> str:
    """A lifetime the way `--for` takes one: 50s, 12m30s, 3h15m, 2d4h."""
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = round(seconds)
    d, rest = divmod(whole, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    while parts and parts[-1][0] == 0:
        parts.pop()
    return "".join(f"{n}{u}" for n, u in parts[:3])


def _relations(rels: Iterable[Relation], title: str, names: Names, subject: str = "") -> None:
    """`subject`'s id is printed above the table: it is not repeated under each row."""
    cols = (
        Col("src"),
        Col("rel"),
        Col("dst"),
        Col("from"),
        Col("to"),
        Col("source", spill=True),
    )
    rows = []
    for r in rels:
        under: list[str] = []
        src, src_id = who(r.key.src, names)
        dst, dst_id = who(r.key.dst, names)
        src_id, dst_id = (None if x == subject else x for x in (src_id, dst_id))
        if src_id and dst_id:
            under.append(f"{src_id} → {dst_id}")
        elif src_id or dst_id:
            under.append(src_id or dst_id or "")
        end = _end(r.valid_to, r.vanished_after, under)
        rows.append(Row((src, r.key.rel, dst, r.valid_from, end, r.source), under))
    table(console, title, cols, rows)


def _versions(vs: Iterable[Version], title: str, names: Names, *, entity: bool = True) -> None:
    """Versions of several entities, or with `entity` False, of the one the title names."""
    cols: tuple[Col, ...] = (
        Col("entity"),
        Col("from"),
        Col("to"),
        Col("attrs", spill=True),
        Col("source", spill=True),
    )
    rows = []
    for v in vs:
        under: list[str] = []
        shown, eid = who(v.entity, names)
        if eid and entity:
            under.append(eid)
        end = _end(v.valid_to, v.vanished_after, under)
        rows.append(Row((shown, v.valid_from, end, _attrs(v.attrs), v.source), under))
    if not entity:
        cols, rows = cols[1:], [Row(r.cells[1:], r.under) for r in rows]
    table(console, title, cols, rows)


def _heading(eid: str, names: Names, tail: str = "") -> None:
    """`web-1  vm:6695…` in bold; an id alone when there is no name."""
    name = names.get(eid)
    line = Text(name if name else eid, style="bold")
    if name:
        line.append(f"  {eid}", style="dim")
    line.append(tail)
    console.print(line, soft_wrap=True)


def where(a: WhereAnswer, known: Names | None = None) -> None:
    if not a.alive:
        console.print(Text(f"{a.entity} did not exist at {instant(a.at)}", style="yellow"))
        return
    names = dict(known or {})
    if isinstance(a.name, str) and a.name:
        names[a.entity] = a.name
    _heading(a.entity, names, f" at {instant(a.at)}")
    width = console.width
    if a.state is not None:
        console.print(Text(f"  state    {a.state}"), soft_wrap=True)
    if a.kind == "vm":
        console.print(Text(f"  host     {a.host or '-'}"), soft_wrap=True)
    for nic in a.nics:
        via = [x for x in (nic.port, nic.bridge or nic.network) if x]
        items = [str(nic.mac), *via] if via else [str(nic.mac), "-"]
        for part in flow("  nic      ", " " * 13, items, " → ", width):
            console.print(Text(part), soft_wrap=True)
        console.print(Text(f"           {nic.nic}", style="dim"), soft_wrap=True)
        for addr in nic.addresses:
            console.print(Text(f"           {addr}"), soft_wrap=True)
    if a.kind != "vm":
        _relations(a.relations, "relations", names, a.entity)


def show(a: ShowAnswer, known: Names | None = None) -> None:
    names = {**(known or {}), **_names([a.version] if a.version else [])}
    if a.version is None:
        console.print(Text(f"{a.entity} did not exist at {instant(a.at)}", style="yellow"))
    else:
        v = a.version
        _heading(a.entity, names, f" at {instant(a.at)}")
        console.print(Text(f"  since {instant(v.valid_from)}, from {v.source}"), soft_wrap=True)
        for k, val in sorted(v.attrs.items()):
            shown = val if isinstance(val, str) else _short(val)
            console.print(Text(f"  {k:<14} {shown}"), soft_wrap=True)
    if len(a.sources) > 1:
        _statements(a.sources, "as each source said it")
    if a.relations:
        _relations(a.relations, "relations", names, a.entity)


def history(a: HistoryAnswer, known: Names | None = None) -> None:
    names = {**(known or {}), **_names(a.versions)}
    name = names.get(a.entity)
    title = f"versions of {name} ({a.entity})" if name else f"versions of {a.entity}"
    _versions(a.versions, title, names, entity=False)
    if len({s.source for s in a.statements}) > 1:
        _statements(a.statements, "what each source said")
    _relations(a.relations, "relations", names, a.entity)


def _statements(statements: list[Statement], title: str) -> None:
    cols = (Col("source"), Col("from"), Col("to"), Col("attrs", spill=True))
    rows = [Row((s.source, s.valid_from, s.valid_to or "now", _attrs(s.attrs))) for s in statements]
    table(console, title, cols, rows)


def diff(a: DiffAnswer, known: Names | None = None) -> None:
    names = {**(known or {}), **_names(a.appeared, a.vanished)}
    console.print(
        Text.assemble(("diff", "bold"), f" {instant(a.t_from)} → {instant(a.t_to)}"),
        soft_wrap=True,
    )
    _versions(a.appeared, f"appeared ({len(a.appeared)})", names)
    _versions(a.vanished, f"vanished ({len(a.vanished)})", names)
    rows = []
    for c in a.changed:
        shown, eid = who(c.entity, names)
        for k, (old, new) in c.changes.items():
            rows.append(Row((shown, k, _short(old), _short(new)), [eid] if eid else []))
    cols = (Col("entity"), Col("attribute"), Col("old", spill=True), Col("new", spill=True))
    table(console, f"changed ({len(a.changed)})", cols, rows)
    rows = []
    for mv in a.moved:
        shown, eid = who(mv.entity, names)
        rows.append(
            Row((shown, mv.rel, ", ".join(mv.before), ", ".join(mv.after)), [eid] if eid else [])
        )
    cols = (
        Col("entity"),
        Col("rel"),
        Col("before", spill=True, sep=", "),
        Col("after", spill=True, sep=", "),
    )
    table(console, f"moved ({len(a.moved)})", cols, rows)
    _relations(a.relations_added, f"relations added ({len(a.relations_added)})", names)
    _relations(a.relations_removed, f"relations removed ({len(a.relations_removed)})", names)


def _count(v: float) -> str:
    # Through a float, a counter above 2^53 would print rounded.
    return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}"


def _carried(g: Lifetime) -> str:
    counters = list(g.read_last().values())
    shown = [c for c in counters if c.metric.endswith("bytes")] or counters[:3]
    return " ".join(f"{c.metric}={_count(c.total)}" for c in shown)


def _others(g: Lifetime) -> list[str]:
    """What `g` was attached to: the other end of each of its relations."""
    return sorted({r.key.dst if r.key.src == g.entity else r.key.src for r in g.attached})


def lifetimes(ls: list[Lifetime]) -> None:
    names = {g.entity: n for g in ls if isinstance(n := g.attrs.get("name"), str) and n}
    cols = (
        Col("entity"),
        Col("first seen"),
        Col("ended"),
        Col("lived", right=True),
        Col("carried", spill=True),
        Col("attached to", spill=True, sep=", "),
    )
    rows = []
    for g in ls:
        under: list[str] = []
        shown, eid = who(g.entity, names)
        if eid:
            under.append(eid)
        vanished = g.vanished_between[0] if g.vanished_between else None
        end = _end(g.ended, vanished, under) if g.ended or vanished else "alive"
        attached = _others(g)
        lived = _span(g.lifetime_s) if g.lifetime_s is not None else "alive"
        rows.append(Row((shown, g.first_seen, end, lived, _carried(g), ", ".join(attached)), under))
    table(console, f"ghosts ({len(ls)})", cols, rows)


def lifetime(g: Lifetime) -> None:
    name = g.attrs.get("name")
    _heading(g.entity, {g.entity: name} if isinstance(name, str) and name else {})
    lines = [("first seen", instant(g.first_seen))]
    lines.append(("last seen", instant(g.last_seen) if g.last_seen else "still alive"))
    if g.vanished_between:
        a, b = g.vanished_between
        lines.append(("vanished", f"between {instant(a)} and {instant(b)}"))
    if g.lifetime_s is not None:
        exact = f" ({g.lifetime_s:,.1f}s)" if g.lifetime_s >= 60 else ""
        lines.append(("lifetime", _span(g.lifetime_s) + exact))
    for k, v in lines:
        console.print(Text(f"  {k:<11} {v}"), soft_wrap=True)
    attached = _others(g)
    if attached:
        for part in flow("  attached to ", " " * 14, attached, ", ", console.width):
            console.print(Text(part), soft_wrap=True)
    cols = (
        Col("metric"),
        Col("total", right=True),
        Col("last reading", right=True),
        Col("readings", right=True),
    )
    # A metric read by two sources (two probes' vantages) is two rows: say whose. A
    # gauge's growth means nothing: its last reading says what it was.
    metrics = [c.metric for c in g.counters]
    rows = [
        Row(
            (
                f"{c.metric} ({c.source})" if metrics.count(c.metric) > 1 else c.metric,
                "(gauge)" if c.gauge else _count(c.total),
                _count(c.last_value),
                str(c.count),
            )
        )
        for c in g.counters
    ]
    table(console, "counters over its life", cols, rows, empty="none recorded")


def snapshot(a: SnapshotAnswer, known: Names | None = None) -> None:
    names = {**(known or {}), **_names(a.entities)}
    _versions(a.entities, f"{len(a.entities)} entities at {instant(a.at)}", names)
    _relations(a.relations, f"{len(a.relations)} relations", names)


def stats(a: StatsAnswer) -> None:
    console.print(f"[bold]{esc(a.path)}[/]  {a.size_bytes / 1e6:.1f} MB with its journal")
    console.print(f"  journal     {esc(a.journal_path)}")
    if a.journal_kept_from is None:
        console.print("  replayable  all of it (vtrail rebuild can replay the whole journal)")
    else:
        console.print(
            f"  replayable  from {iso(a.journal_kept_from)} (older bodies dropped by vtrail "
            "compact; late observations from then on are put in place; no full rebuild)"
        )
    console.print(f"  span        {iso(a.first) or '-'} → {iso(a.last) or '-'}")
    for k, v in a.counts.items():
        console.print(f"  {k:<16} {v:,}")
    if a.live_by_kind:
        live = ", ".join(f"{k} {n}" for k, n in a.live_by_kind.items())
        console.print(f"  live now    {esc(live)}")
    for s in a.sources:
        state = {"disconnected": "[red]disconnected[/]", "ended": "[dim]ended[/]"}.get(
            s.state, s.state
        )
        console.print(
            f"  source      {esc(s.name)}: {s.observations} obs, "
            f"last {iso(s.last_observed)}, {state}"
        )
