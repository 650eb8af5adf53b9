"""Tables for people; `-o json` bypasses all of this."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

from vtrail.cli.common import console, esc
from vtrail.model import JSONValue, Relation, Statement, Version
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


def _attrs(attrs: Mapping[str, JSONValue], limit: int = 6) -> str:
    items = [f"{k}={_short(v)}" for k, v in sorted(attrs.items())]
    more = f" (+{len(items) - limit})" if len(items) > limit else ""
    return " ".join(items[:limit]) + more


def _short(v: JSONValue) -> str:
    text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return text if len(text) <= 40 else text[:37] + "..."


def _until(to: Any, vanished: Any) -> str:
    if vanished is not None:
        return f"vanished {iso(vanished)} .. {iso(to)}"
    return iso(to) or "now"


def _row(t: Table, *cells: str | None) -> None:
    """A row of text from the store, shown as it is: never read as markup."""
    t.add_row(*(None if c is None else esc(c) for c in cells))


def _relations(rels: Iterable[Relation], title: str) -> Table:
    t = Table(title=esc(title), title_justify="left", box=None, header_style="bold")
    for col in ("src", "rel", "dst", "from", "to", "source"):
        t.add_column(col, overflow="fold")
    for r in rels:
        _row(
            t,
            r.key.src,
            r.key.rel,
            r.key.dst,
            iso(r.valid_from),
            _until(r.valid_to, r.vanished_after),
            r.source,
        )
    return t


def _versions(vs: Iterable[Version], title: str) -> Table:
    t = Table(title=esc(title), title_justify="left", box=None, header_style="bold")
    for col in ("entity", "from", "to", "attrs", "source"):
        t.add_column(col, overflow="fold")
    for v in vs:
        _row(
            t,
            v.entity,
            iso(v.valid_from),
            _until(v.valid_to, v.vanished_after),
            _attrs(v.attrs),
            v.source,
        )
    return t


def where(a: WhereAnswer) -> None:
    if not a.alive:
        console.print(f"[yellow]{esc(a.entity)} did not exist at {iso(a.at)}[/]")
        return
    name = f" ({esc(a.name)})" if a.name else ""
    console.print(f"[bold]{esc(a.entity)}[/]{name} at {iso(a.at)}")
    if a.state is not None:
        console.print(f"  state    {esc(a.state)}")
    if a.kind == "vm":
        console.print(f"  host     {esc(a.host or '-')}")
    for nic in a.nics:
        via = " → ".join(x for x in (nic.port, nic.bridge or nic.network) if x)
        console.print(f"  nic      {esc(nic.nic)} mac {esc(nic.mac)} → {esc(via or '-')}")
        for addr in nic.addresses:
            console.print(f"           {esc(addr)}")
    if a.kind != "vm":
        console.print(_relations(a.relations, "relations"))


def show(a: ShowAnswer) -> None:
    if a.version is None:
        console.print(f"[yellow]{esc(a.entity)} did not exist at {iso(a.at)}[/]")
    else:
        v = a.version
        since = f"since {iso(v.valid_from)}, {esc(v.source)}"
        console.print(f"[bold]{esc(a.entity)}[/] at {iso(a.at)} ({since})")
        for k, val in sorted(v.attrs.items()):
            shown = val if isinstance(val, str) else _short(val)
            console.print(f"  {esc(f'{k:<14}')} {esc(shown)}")
    if len(a.sources) > 1:
        console.print(_statements(a.sources, "as each source said it"))
    if a.relations:
        console.print(_relations(a.relations, "relations"))


def history(a: HistoryAnswer) -> None:
    console.print(_versions(a.versions, f"versions of {a.entity}"))
    if len({s.source for s in a.statements}) > 1:
        console.print(_statements(a.statements, "what each source said"))
    console.print(_relations(a.relations, "relations"))


def _statements(statements: list[Statement], title: str) -> Table:
    t = Table(title=title, title_justify="left", box=None)
    for col in ("source", "from", "to", "attrs"):
        t.add_column(col, overflow="fold")
    for s in statements:
        _row(
            t,
            s.source,
            iso(s.valid_from),
            iso(s.valid_to) if s.valid_to else "now",
            _short(dict(s.attrs)),
        )
    return t


def diff(a: DiffAnswer) -> None:
    console.print(f"[bold]diff[/] {iso(a.t_from)} → {iso(a.t_to)}")
    console.print(_versions(a.appeared, f"appeared ({len(a.appeared)})"))
    console.print(_versions(a.vanished, f"vanished ({len(a.vanished)})"))
    t = Table(title=f"changed ({len(a.changed)})", title_justify="left", box=None)
    for col in ("entity", "attribute", "old", "new"):
        t.add_column(col, overflow="fold")
    for c in a.changed:
        for k, (old, new) in c.changes.items():
            _row(t, c.entity, k, _short(old), _short(new))
    console.print(t)
    m = Table(title=f"moved ({len(a.moved)})", title_justify="left", box=None)
    for col in ("entity", "rel", "before", "after"):
        m.add_column(col, overflow="fold")
    for mv in a.moved:
        _row(m, mv.entity, mv.rel, ", ".join(mv.before), ", ".join(mv.after))
    console.print(m)
    console.print(_relations(a.relations_added, f"relations added ({len(a.relations_added)})"))
    console.print(
        _relations(a.relations_removed, f"relations removed ({len(a.relations_removed)})")
    )


def _count(v: float) -> str:
    # Through a float, a counter above 2^53 would print rounded.
    return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}"


def lifetimes(ls: list[Lifetime]) -> None:
    t = Table(title=f"ghosts ({len(ls)})", title_justify="left", box=None, header_style="bold")
    for col in ("entity", "first seen", "ended", "lifetime", "final counters", "attached to"):
        t.add_column(col, overflow="fold")
    for g in ls:
        counters = " ".join(
            f"{c.metric}={_count(c.total)}" for c in g.counters if c.metric.endswith("bytes")
        ) or " ".join(f"{c.metric}={_count(c.total)}" for c in g.counters[:3])
        attached = ", ".join(
            sorted({r.key.dst if r.key.src == g.entity else r.key.src for r in g.attached})
        )
        _row(
            t,
            g.entity,
            iso(g.first_seen),
            _until(g.ended, g.vanished_between[0] if g.vanished_between else None),
            f"{g.lifetime_s:.1f}s" if g.lifetime_s is not None else "alive",
            counters,
            attached,
        )
    console.print(t)


def lifetime(g: Lifetime) -> None:
    console.print(f"[bold]{esc(g.entity)}[/]")
    console.print(f"  first seen  {iso(g.first_seen)}")
    console.print(f"  last seen   {iso(g.last_seen) or 'still alive'}")
    if g.vanished_between:
        a, b = g.vanished_between
        console.print(f"  vanished    between {iso(a)} and {iso(b)}")
    if g.lifetime_s is not None:
        console.print(f"  lifetime    {g.lifetime_s:.1f}s")
    t = Table(title="counters over its life", title_justify="left", box=None)
    for col in ("metric", "total", "last reading", "readings"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for c in g.counters:
        _row(t, c.metric, _count(c.total), _count(c.last_value), str(c.count))
    console.print(t)


def snapshot(a: SnapshotAnswer) -> None:
    console.print(_versions(a.entities, f"{len(a.entities)} entities at {iso(a.at)}"))
    console.print(_relations(a.relations, f"{len(a.relations)} relations"))


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
