"""The questions bench/peers.py puts to vtrail and to Prometheus, at each size; the
requests that put them to each; and how an answer is judged against the history."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from peers_history import T0_MS, History, vm_id
from vtrail.timeexpr import from_us, iso

LOOKBACK_MS = 300_000
HOUR_MS = 3_600_000
DIFF_QUERY = "(vm_info unless vm_info offset 1h) or (vm_info offset 1h unless vm_info)"


@dataclass(frozen=True)
class Size:
    vms: int
    hosts: int
    hours: float
    where: int
    host: int
    diff: int


QUICK = Size(vms=200, hosts=10, hours=2, where=100, host=40, diff=20)
FULL = Size(vms=5_000, hosts=100, hours=6, where=2_000, host=400, diff=200)


@dataclass(frozen=True)
class Question:
    kind: str  # where, host or diff
    subject: str  # the VM's name, the host's name, or "" for diff
    at: int  # milliseconds since the epoch
    near_change: bool  # drawn within the lookback after a change


# -- judging an answer against the history ----------------------------------------------


def judge_where(truth: tuple[str, str] | None, said: list[tuple[str, str]]) -> str | None:
    """Why an answer to "where was the VM" is wrong (None when it is right). `said` lists
    each (host, state) the answer gives, once per series or per entity."""
    if truth is None:
        return "shown after it vanished" if said else None
    if len(said) > 1:
        return "in two places or states at once"
    if not said:
        return "not seen yet"
    return None if said[0] == truth else "stale host or state"


def judge_set(truth: set[str], said: list[str]) -> str | None:
    """Why a list of VMs is wrong: one listed that is not in the truth (on a host: one
    that left it or vanished; in a diff: one that did not change), or one missing."""
    if not set(said) - truth and not truth - set(said):
        return None
    return "lists a VM it should not" if set(said) - truth else "misses a VM"


def prom_series(doc: dict[str, Any]) -> list[dict[str, str]]:
    return [r["metric"] for r in doc["data"]["result"]]


def vtrail_said(q: Question, doc: dict[str, Any]) -> Any:
    if q.kind == "where":
        return [(doc["host"].removeprefix("host:"), doc["state"])] if doc["alive"] else []
    if q.kind == "host":
        host = f"host:{q.subject}"
        return [
            r["src"].removeprefix("vm:")
            for r in doc["relations"]
            if r["rel"] == "runs_on" and r["dst"] == host
        ]
    moved = [m["entity"] for m in doc["moved"] if sorted(m["before"]) != sorted(m["after"])]
    listed = [v["entity"] for side in ("appeared", "vanished", "changed") for v in doc[side]]
    return [e.removeprefix("vm:") for e in listed + moved]


def prom_said(q: Question, doc: dict[str, Any]) -> Any:
    series = prom_series(doc)
    if q.kind == "where":
        return [(m["host"], m["state"]) for m in series]
    # A VM listed twice (two states on one host) is counted once: the generous reading.
    return sorted({m["vm"] for m in series})


def truth(h: History, q: Question) -> Any:
    if q.kind == "where":
        return h.at(q.subject, q.at)
    if q.kind == "host":
        return h.on_host(q.subject, q.at)
    return h.changed(q.at - HOUR_MS, q.at)


def judge(q: Question, right: Any, said: Any) -> str | None:
    return (judge_where if q.kind == "where" else judge_set)(right, said)


# -- the questions ----------------------------------------------------------------------


def questions(h: History, size: Size, seed: int = 3) -> list[Question]:
    rng = random.Random(seed)
    names = sorted(h.spans)
    moves = [c for c in h.changes if c.host_before is not None]
    late = [c for c in moves if c.at >= T0_MS + HOUR_MS]

    def anywhere(lo: int) -> int:
        return rng.randrange(lo, h.end)

    def after(at: int) -> int:
        return min(h.end - 1, at + rng.randrange(LOOKBACK_MS))

    out = []
    for k in range(size.where):
        if k % 2:
            c = rng.choice(moves)
            out.append(Question("where", c.vm, after(c.at), True))
        else:
            out.append(Question("where", rng.choice(names), anywhere(T0_MS), False))
    for k in range(size.host):
        if k % 2:
            c = rng.choice(moves)
            out.append(Question("host", c.host_before or "", after(c.at), True))
        else:
            out.append(Question("host", rng.choice(h.hosts), anywhere(T0_MS), False))
    for k in range(size.diff):
        if k % 2:
            out.append(Question("diff", "", after(rng.choice(late).at), True))
        else:
            out.append(Question("diff", "", anywhere(T0_MS + HOUR_MS), False))
    return out


def at_iso(ms: int) -> str:
    return iso(from_us(ms * 1000))


def vtrail_request(q: Question) -> tuple[str, dict[str, str]]:
    if q.kind == "where":
        return "/api/where", {"what": vm_id(q.subject), "at": at_iso(q.at)}
    if q.kind == "host":
        return f"/api/show/host:{q.subject}", {"at": at_iso(q.at)}
    return "/api/diff", {"from": at_iso(q.at - HOUR_MS), "to": at_iso(q.at)}


def prom_request(q: Question) -> tuple[str, dict[str, str]]:
    query = {
        "where": f'vm_info{{vm="{q.subject}"}}',
        "host": f'vm_info{{host="{q.subject}"}}',
        "diff": DIFF_QUERY,
    }[q.kind]
    return "/api/v1/query", {"query": query, "time": f"{q.at / 1000:.3f}"}
