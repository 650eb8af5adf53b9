"""The guided tour: questions about the story just recorded, answered from the store.

Every answer comes from `vtrail.query` (state, path) and `vtrail.triage` (check)
over the store, never from the story's own notes; the notes only choose which
questions to ask and, for the ghost bridge, what the burst really sent, so the
reader can compare.
Each question shows the command that asks it, to try afterwards with --keep.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from vtrail.cli import check as check_cli
from vtrail.cli import render
from vtrail.cli import triage as triage_cli
from vtrail.cli.columns import Col, Row, instant, table
from vtrail.cli.common import vm_names
from vtrail.demo.churn import Change, Story
from vtrail.ids import namespace_of, router_id, vm_id
from vtrail.query import path, state
from vtrail.query.state import Lifetime
from vtrail.store import Store, UnknownEntity, open_store
from vtrail.timeexpr import iso
from vtrail.triage import Violation, check
from vtrail.triage.incident import triage
from vtrail.triage.policy_at import NoPolicy, recorded_policy


def _cmd(console: Console, text: str) -> None:
    # Never folded: a command is copied from here whole.
    console.print(f"  [dim]$ vtrail {text}[/]", highlight=False, soft_wrap=True)


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


def _final(life: Lifetime, metric: str) -> float:
    """A counter's last reading: the links were new, so it counted from zero."""
    last = life.read_last().get(metric)
    return 0.0 if last is None else last.last_value


def where_was(console: Console, store: Store, story: Story, now: datetime) -> None:
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


def ghost(console: Console, store: Store, story: Story) -> None:
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
    ended = f" to {instant(life.ended)}" if life.ended else ""
    console.print(Text.assemble("  ", (g.bridge, "bold"), f" lived {span},"), soft_wrap=True)
    console.print(f"  from {instant(life.first_seen)}{ended}", highlight=False, soft_wrap=True)
    cols = (
        Col("port"),
        Col("into the bridge", right=True),
        Col("out of it", right=True),
        Col("packets in", right=True),
        Col("vanished"),
    )
    rows = []
    carried = 0.0
    for port in g.ports:
        try:
            p = state.lifetime(store, port)
        except UnknownEntity:
            rows.append(Row((port, "not recorded", "", "", "")))
            continue
        rx, tx = _final(p, "rx_bytes"), _final(p, "tx_bytes")
        carried += rx
        rows.append(
            Row(
                (
                    port,
                    _bytes(rx),
                    _bytes(tx),
                    f"{_final(p, 'rx_packets'):,.0f}",
                    p.ended or "alive",
                )
            )
        )
    table(console, "  its ports", cols, rows)
    console.print(
        f"  Through its ports it carried [bold]{_bytes(carried)}[/]; "
        f"the burst sent {g.packets:,} packets, {_bytes(g.bytes)} on the wire."
    )


def ghosts(console: Console, store: Store, story: Story) -> None:
    console.print(Rule("Everything that lived and died inside the story"))
    _cmd(console, f"ghosts --from {iso(story.started)} --to {iso(story.ended)}")
    render.lifetimes(state.ghosts(store, story.started, story.ended).ghosts)


def window_diff(console: Console, store: Store, story: Story) -> None:
    console.print(Rule("What changed over the story"))
    _cmd(console, f"diff --from {iso(story.started)} --to {iso(story.ended)}")
    d = state.diff(store, story.started, story.ended)
    console.print(
        f"  {len(d.appeared)} appeared, {len(d.vanished)} vanished, {len(d.changed)} changed, "
        f"{len(d.moved)} moved; {len(d.relations_added)} relations began and "
        f"{len(d.relations_removed)} ended."
    )
    names = {vm_id(v.uuid): v.name for v in story.vms.values()}
    rows = []

    def add(what: str, entity: str, detail: str = "") -> None:
        shown, eid = render.who(entity, names)
        rows.append(Row((what, shown, detail), [eid] if eid else []))

    for v in d.appeared:
        if v.kind in ("vm", "bridge", "router"):
            add("appeared", v.entity)
    for v in d.vanished:
        if v.kind in ("vm", "bridge", "router"):
            add("vanished", v.entity)
    for mv in d.moved:
        add(f"moved ({mv.rel})", mv.entity, f"{', '.join(mv.before)} → {', '.join(mv.after)}")
    for c in d.changed:
        if c.kind == "vm" and "state" in c.changes:
            old, new = c.changes["state"]
            add("changed", c.entity, f"state {old} → {new}")
    cols = (Col("what"), Col("entity"), Col("detail", spill=True))
    table(console, "", cols, rows)


def route(console: Console, store: Store, story: Story) -> None:
    r = _first(story, "route")
    if r is None:
        return
    ns = namespace_of(r.subject) or r.subject
    dst = str(next(ipaddress.ip_network(r.label).hosts()))
    before = max(story.started, r.at - timedelta(seconds=1))
    console.print(Rule(f"How did the route to {r.label} change?"))
    _cmd(console, f"path {ns} {dst} --at {iso(before)} --compare {iso(story.ended)}")
    c = path.compare(store, router_id(ns), dst, before, story.ended)
    rows = []
    for answer in (c.before, c.after):
        # The router's own step: the route it chose for the address.
        step = next((s for s in answer.routes if s.router == router_id(ns)), None)
        if step is None:
            rows.append(Row((answer.at, "none", "", "", answer.reason or "")))
            continue
        rows.append(Row((answer.at, step.prefix, str(step.gateway), step.dev, str(step.metric))))
    cols = (Col("at"), Col("route"), Col("via"), Col("dev"), Col("metric", right=True))
    table(console, f"  the route {ns} chose for {dst}", cols, rows)


def _lasted(v: Violation, end: datetime) -> float:
    return ((v.t_to or end) - v.t_from).total_seconds()


def compliance(console: Console, store: Store, story: Story, interval: float) -> None:
    """The recorded policy checked over the story, then inside its longest violation."""
    console.print(Rule("Did the fabric keep its policy during the story?"))
    _cmd(console, f"check --from {iso(story.started)} --to {iso(story.ended)}")
    try:
        policy = recorded_policy(store, story.ended)
    except NoPolicy as e:
        console.print(Text(f"  {e}", style="red"))
        return
    answer = check(store, policy, "recorded", t_from=story.started, t_to=story.ended)
    check_cli.table(answer)
    found = sorted(
        ((r.name, v) for r in answer.rules for v in r.violations),
        key=lambda x: -_lasted(x[1], story.ended),
    )
    if not found:
        return
    console.print("  Each runs from the recorded change that began it to the one that ended it:")
    for name, v in found:
        lasted = _lasted(v, story.ended)
        unseen = (
            f", less than the {interval:g} s between two snapshots: no poller would have seen it"
            if lasted < interval
            else ""
        )
        # Text: a reason names VMs, and a name is no markup.
        console.print(Text(f"  {name} for {lasted:.2f} s ({v.reason}){unseen}."))
    name, longest = found[0]
    mid = longest.t_from + ((longest.t_to or story.ended) - longest.t_from) / 2
    console.print(
        Rule(f"Inside {name}'s violation: which rules held at {instant(mid, date=False)}?")
    )
    _cmd(console, f"check --at {iso(mid)}")
    check_cli.table(check(store, recorded_policy(store, mid), "recorded", at=mid))


#: The service the demo's probe measures, whose path the incident breaks.
PROBED = "files"


def inside_the_loss(story: Story) -> datetime | None:
    """An instant inside the incident's loss: halfway from the replug to the repair."""
    plugs = [c for c in story.changes if c.action == "replug"]
    if len(plugs) < 2:
        return None
    broke, mended = plugs[0], plugs[1]
    return broke.done + (mended.at - broke.done) / 2


def suspects_window(story: Story) -> timedelta:
    """How far before the onset the tour looks for suspects: back to the story's start
    at most. What the fabric's first snapshots saw is where its record starts, but the
    policy was recorded before them, so without this they would be changes too."""
    broke = next(c for c in story.changes if c.action == "replug")
    return timedelta(seconds=int((broke.at - story.started).total_seconds()))


def _short(eid: str | None) -> str:
    """`bridge:vt3fa9-sw/vtbr0` → `vtbr0`: the names the story uses."""
    return eid.rsplit("/", 1)[-1] if eid else "nothing"


def incident(console: Console, store: Store, story: Story) -> None:
    """`vtrail triage` inside the loss, as the CLI prints it, then what it says."""
    at = inside_the_loss(story)
    if at is None:
        return
    window = suspects_window(story)
    console.print(Rule(f"The {PROBED} service lost its packets: what broke it?"))
    _cmd(console, f"triage {PROBED} --at {iso(at)} --window {window.total_seconds():.0f}s")
    try:
        found = triage(store, [PROBED], at, window)
    except (NoPolicy, ValueError) as e:
        console.print(Text(f"  {e}", style="red"))
        return
    triage_cli.table(found, vm_names(store, found, found.onset))
    broke = next(c for c in story.changes if c.action == "replug")
    lag = (found.onset - broke.at).total_seconds()
    console.print(
        Text(f"  Loss began at {instant(found.onset, date=False)}, {lag:.1f} s after "
             f"{broke.label} was replugged from {_short(broke.before)} to {_short(broke.after)}.")
    )  # fmt: skip
    differing = next((p for p in found.paths if p.first_difference is not None), None)
    if differing is not None:
        onset = (
            f"at the onset it broke at {_short(differing.broken_at)}"
            if differing.differs_at_onset is None
            else f"{_short(differing.differs_at_onset)} at the onset"
        )
        console.print(
            Text(f"  The path differs from hop {differing.first_difference}: "
                 f"{_short(differing.differs_before)} before, {onset}.")
        )  # fmt: skip
    if found.suspects:
        console.print(Text(f"  First suspect: {found.suspects[0].reason}", style="bold"))


def tour(console: Console, db: Path, story: Story, now: datetime, interval: float) -> None:
    """Print the whole tour; `db` must hold the recording of `story`, made with
    snapshots every `interval` seconds."""
    store = open_store(db, readonly=True)
    try:
        console.print()
        console.print(Rule("[bold]The tour[/]: the story, as vtrail remembers it", style="cyan"))
        where_was(console, store, story, now)
        ghost(console, store, story)
        ghosts(console, store, story)
        window_diff(console, store, story)
        route(console, store, story)
        compliance(console, store, story, interval)
        incident(console, store, story)
    finally:
        store.close()
