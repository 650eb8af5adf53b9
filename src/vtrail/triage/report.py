"""A triage answer as Markdown, to paste into an incident ticket (`vtrail triage -o md`,
`GET /api/triage?output=md`)."""

from __future__ import annotations

from vtrail.timeexpr import iso
from vtrail.triage.incident import IncidentPath, TriageAnswer

#: Suspects the report lists; the JSON has every one the limit kept.
SHOWN = 10


def _cell(text: object) -> str:
    # A pipe would end the cell; a newline the row.
    return str(text).replace("|", "\\|").replace("\n", " ")


def _path(p: IncidentPath) -> list[str]:
    c = p.comparison
    hops = c.before.hops or c.after.hops
    a = hops[0].label if hops and hops[0].entity == p.a else p.a
    b = hops[-1].label if hops and hops[-1].entity == p.b else p.b
    lines = [f"**{_cell(a)} → {_cell(b)}** (`{p.a}` → `{p.b}`)", ""]
    lines += ["| hop | before | at the onset |", "| ---: | --- | --- |"]
    x, y = c.before.hops, c.after.hops
    for i in range(max(len(x), len(y))):
        a = f"{x[i].kind} {x[i].label}" if i < len(x) else ""
        b = f"{y[i].kind} {y[i].label}" if i < len(y) else ""
        mark = " ⚠" if p.first_difference == i + 1 else ""
        lines.append(f"| {i + 1}{mark} | {_cell(a)} | {_cell(b)} |")
    lines.append("")
    if p.first_difference is None:
        lines.append("The path was the same before and at the onset.")
    else:
        lines.append(f"The paths first differ at hop {p.first_difference}.")
    for answer, when in ((c.before, "Before"), (c.after, "At the onset")):
        if not answer.reachable:
            lines.append(f"{when}, it broke at `{answer.broken_at}`: {_cell(answer.reason)}.")
    return [*lines, ""]


def to_markdown(a: TriageAnswer) -> str:
    out = [
        f"## Triage: {' and '.join(a.targets)} at {iso(a.at)}",
        "",
        f"- **Onset:** {iso(a.onset)} ({a.onset_reason})",
        f"- **Last healthy:** {iso(a.last_healthy)}",
        f"- **Changes ranked:** {a.changes}, from {iso(a.t_from)} to {iso(a.t_to)}",
        "",
        "### Symptom",
        "",
    ]
    if a.affected:
        for hit in a.affected:
            until = iso(hit.t_to) if hit.t_to else "still degraded"
            out.append(
                f"- `{hit.entity}` from {hit.vantage or hit.source}: {hit.reason}, "
                f"{iso(hit.t_from)} → {until}"
            )
    else:
        out.append("- No probe was degraded in the window: the onset is the instant asked.")
    out += ["", "### Paths", ""]
    for p in a.paths:
        out += _path(p)
    if not a.paths:
        out += ["No path was traced (no probe vantage, or no two endpoints).", ""]
    out += [
        "### Suspects",
        "",
        "| # | score | time | distance | kind | when | what |",
        "| ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for i, s in enumerate(a.suspects[:SHOWN], 1):
        out.append(
            f"| {i} | {s.score:.3f} | {s.parts.time:.2f} | {s.parts.distance:.2f} | "
            f"{s.kind} | {iso(s.at)} | {_cell(s.reason)} |"
        )
    if not a.suspects:
        out.append("| | | | | | | nothing changed in the window |")
    w = a.weights
    out += [
        "",
        f"Score = ({w.time:g} × time + {w.distance:g} × distance + {w.kind:g} × kind) / "
        f"{w.time + w.distance + w.kind:g}; time halves every {w.half_life:g} s "
        "(docs/triage.md).",
        "",
    ]
    return "\n".join(out)
