"""Load the recorded payloads under tests/data/netlink/ (see record_fixtures.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from vtrail.collectors.netlink import codec, state, transform
from vtrail.collectors.netlink.records import (
    AddrEvent,
    LinkEvent,
    LinkInfo,
    NamespaceState,
    PeerRef,
    RouteEvent,
    RouteInfo,
    RtnlEvent,
)
from vtrail.model import Observation

DATA = Path(__file__).parents[2] / "data" / "netlink"
#: The namespaces of netlink_lab.build_fabric as recorded (tag "vttfx").
H1, H2, SW, R = "vttfx-h1", "vttfx-h2", "vttfx-sw", "vttfx-r"
T0 = datetime(2026, 11, 21, 3, 12, tzinfo=UTC)


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def decoded(messages: Sequence[dict[str, str]]) -> list[RtnlEvent]:
    return [e for m in messages for e in codec.decode_bytes(bytes.fromhex(m["hex"]))]


def _peers(raw: dict[str, list[str]]) -> dict[int, PeerRef]:
    return {int(i): PeerRef(ns, name) for i, (ns, name) in raw.items()}


def state_of(entry: dict[str, Any]) -> NamespaceState:
    """A namespace's recorded dump as `get.get_state` would have returned it."""
    events = decoded(entry["messages"])
    return NamespaceState(
        links=tuple(e.link for e in events if isinstance(e, LinkEvent)),
        addrs=tuple(e.addr for e in events if isinstance(e, AddrEvent)),
        routes=tuple(e.route for e in events if isinstance(e, RouteEvent)),
        ip_forward=entry["ip_forward"],
        remote_peers=_peers(entry["remote_peers"]),
    )


def fabric_state(ns: str) -> NamespaceState:
    return state_of(load("fabric.json")["namespaces"][ns])


class RecordedReader:
    """`state.Reader` answering from what the recorder read after the current step."""

    def __init__(self, lookups: dict[str, list[str]]) -> None:
        self.lookups = _peers(lookups)
        self.step: dict[str, Any] = {}
        self.reads: list[str] = []

    def peer(self, link: LinkInfo) -> PeerRef | None:
        self.reads.append(f"peer {link.ifname}")
        return self.lookups.get(link.index)

    def link(self, index: int) -> LinkInfo | None:
        self.reads.append(f"link {index}")
        for e in decoded(self.step["veths_after"]):
            if isinstance(e, LinkEvent) and e.link.index == index:
                return e.link
        return None

    def routes(self) -> Sequence[RouteInfo]:
        self.reads.append("routes")
        return [e.route for e in decoded(self.step["routes_after"]) if isinstance(e, RouteEvent)]


@dataclass
class Replayed:
    step: str
    observations: list[Observation]
    state: NamespaceState


def replay(source: str = f"netlink:{SW}@fixture-host") -> tuple[list[Replayed], RecordedReader]:
    """Feed events.json through the watcher's pure path, as `NetlinkCollector.watch` does."""
    data = load("events.json")
    ns = data["namespace"]
    current = state_of(data["initial"])
    reported = transform.topology(ns, current)
    reader = RecordedReader(data["peer_lookups"])
    out = []
    at = T0
    for step in data["steps"]:
        reader.step = step
        got = []
        for event in decoded(step["messages"]):
            at += timedelta(milliseconds=1)
            after = state.follow(current, event, reader)
            obs, reported = transform.on_event(source, at, ns, event, current, after, reported)
            current = after
            if obs is not None:
                got.append(obs)
        out.append(Replayed(step["step"], got, current))
    return out, reader
