"""The guided tour: questions about the story just recorded, answered from the store.

Every answer comes from `vtrail.query.state` over the store, never from the
story's own notes; the notes only choose which questions to ask and, for the
ghost bridge, what the burst really sent, so the reader can compare.
Each question shows the command that asks it, to try afterwards with --keep.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from vtrail.cli import render
from vtrail.demo.churn import Change, Story
from vtrail.ids import namespace_of, net_id, vm_id
from vtrail.query import state
from vtrail.store import SqliteStore, UnknownEntity
from vtrail.store.reads.samples import SeriesTotal
from vtrail.timeexpr import iso


def _cmd(console: Console, text: str) -> None:
    console.print(f"  [dim]$ vtrail {text}[/]", highlight=False)


def _ago(t: datetime, now: datetime) -> str:
    s = (now - t).total_seconds()
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.1f} min ago"


def _first(story: Story, action: str) -> Change | None:
    return next((c for c in story.changes if c.action == action), None)


def _bytes(n: float) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


def _final(counters: list[SeriesTotal], metric: str) -> float:
    """A counter's last reading: the links were new, so it counted from zero."""
    return next((c.last for c in counters if c.metric == metric), 0.0)


def where_was(console: Console, store: SqliteStore, story: Story, now: datetime) -> None:
    m = _first(story, "migrate")
    if m is None:
        return
    before = max(story.started, m.at - timedelta(seconds=1))
    console.print(Rule(f"Where was {m.label} {_ago(before, now)}, before it moved?"))
    _cmd(console, f"where {m.label} --at {iso(before)}")
    render.where(state.where(store, m.label, before))
    console.print(f"\n  … and at the end of the story ({m.before} → {m.after}):")
    _cmd(console, f"where {m.label} --at {iso(story.ended)}")
    render.where(state.where(store, m.label, story.ended))


def ghost(console: Console, store: SqliteStore, story: Story) -> None:
    g = story.ghost
    if g is None:
        return
    console.print(Rule("What did the ghost bridge carry?"))
    _cmd(console, f"lifetime {g.bridge}")
    try:
        life = state.lifetime(store, g.bridge)
    except UnknownEntity:
        console.print(f"  [red]{g.bridge} was never recorded[/]")
        return
    span = f"{life.lifetime_s:.1f} s" if life.lifetime_s is not None else "still alive"
    console.print(f"  [bold]{g.bridge}[/] lived {span}: {iso(life.first_seen)} → {iso(life.ended)}")
    t = Table(box=None, header_style="bold", padding=(0, 2))
    for col in ("port", "into the bridge", "out of it", "packets in", "vanished"):
        t.add_column(col, justify="left" if col == "port" else "right")
    carried = 0.0
    for port in g.ports:
        try:
            p = state.lifetime(store, port)
        except UnknownEntity:
            t.add_row(port, "not recorded", "", "", "")
            continue
        rx, tx = _final(p.counters, "rx_bytes"), _final(p.counters, "tx_bytes")
        carried += rx
        t.add_row(
            port,
            _bytes(rx),
            _bytes(tx),
            f"{_final(p.counters, 'rx_packets'):,.0f}",
            iso(p.ended) or "alive",
        )
    console.print(t)
    console.print(
        f"  Through its ports it carried [bold]{_bytes(carried)}[/]; "
        f"the burst sent {g.packets:,} packets, {_bytes(g.bytes)} on the wire."
    )


def ghosts(console: Console, store: SqliteStore, story: Story) -> None:
    console.print(Rule("Everything that lived and died inside the story"))
    _cmd(console, f"ghosts --from {iso(story.started)} --to {iso(story.ended)}")
    render.lifetimes(state.ghosts(store, story.started, story.ended))


def window_diff(console: Console, store: SqliteStore, story: Story) -> None:
    console.print(Rule("What changed over the story"))
    _cmd(console, f"diff --from {iso(story.started)} --to {iso(story.ended)}")
    d = state.diff(store, story.started, story.ended)
    console.print(
        f"  {len(d.appeared)} appeared, {len(d.vanished)} vanished, {len(d.changed)} changed, "
        f"{len(d.moved)} moved; {len(d.relations_added)} relations began and "
        f"{len(d.relations_removed)} ended."
    )
    t = Table(box=None, header_style="bold", padding=(0, 2), title_justify="left")
    for col in ("what", "entity", "detail"):
        t.add_column(col)
    names = {vm_id(v.uuid): v.name for v in story.vms.values()}
    for v in d.appeared:
        if v.kind in ("vm", "bridge", "router"):
            t.add_row("appeared", v.entity, names.get(v.entity, ""))
    for v in d.vanished:
        if v.kind in ("vm", "bridge", "router"):
            t.add_row("vanished", v.entity, names.get(v.entity, ""))
    for mv in d.moved:
        label = names.get(mv.entity, "")
        t.add_row(
            f"moved ({mv.rel})",
            mv.entity,
            f"{label + ': ' if label else ''}{', '.join(mv.before)} → {', '.join(mv.after)}",
        )
    for c in d.changed:
        if c.kind == "vm" and "state" in c.changes:
            old, new = c.changes["state"]
            t.add_row("changed", c.entity, f"{names.get(c.entity, '')}: state {old} → {new}")
    console.print(t)


def route(console: Console, store: SqliteStore, story: Story) -> None:
    r = _first(story, "route")
    if r is None:
        return
    console.print(Rule(f"How did the route to {r.label} change?"))
    _cmd(console, f"history {r.subject}")
    try:
        h = state.history(store, r.subject)
    except UnknownEntity:
        console.print(f"  [red]{r.subject} was never recorded[/]")
        return
    t = Table(box=None, header_style="bold", padding=(0, 2))
    for col in ("from", "to", "route", "via", "dev"):
        t.add_column(col)
    # The prefix as the router's own namespace routes it.
    routed = net_id(r.label, namespace_of(r.subject) or "")
    for x in h.relations:
        if x.key.rel == "routes" and x.key.dst == routed:
            t.add_row(
                iso(x.valid_from),
                iso(x.valid_to) or "now",
                x.key.dst,
                str(x.attrs.get("via")),
                str(x.attrs.get("dev")),
            )
    console.print(t)


def tour(console: Console, db: Path, story: Story, now: datetime) -> None:
    """Print the whole tour; `db` must hold the recording of `story`."""
    store = SqliteStore(db, readonly=True)
    try:
        console.print()
        console.print(Rule("[bold]The tour[/]: the story, as vtrail remembers it", style="cyan"))
        where_was(console, store, story, now)
        ghost(console, store, story)
        ghosts(console, store, story)
        window_diff(console, store, story)
        route(console, store, story)
    finally:
        store.close()
