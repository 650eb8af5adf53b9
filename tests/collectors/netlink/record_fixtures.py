"""Record the netlink payloads under tests/data/netlink/ from real namespaces (root).

    sudo .venv/bin/python tests/collectors/netlink/record_fixtures.py

`fabric.json`: the raw RTM_NEWLINK/NEWADDR/NEWROUTE dump of each namespace of
`netlink_lab.build_fabric` after some traffic, with ip_forward and the
cross-namespace veth peers `get` resolved.
`events.json`: the raw notifications one namespace received, step by step,
while a bridge and its ports lived and died (and a few other changes), with
what a watcher reads again after each step (main-table routes; veths when
one moved away), the peers `get` resolved, and a dump at the end.

Messages are kept as the kernel sent them (hex), each with a note for people.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[2]))  # tests/, as pytest's pythonpath

from collectors.netlink.netlink_lab import Fabric, Lab, build_fabric
from vtrail.collectors.netlink import codec, get
from vtrail.collectors.netlink.records import (
    AddrEvent,
    BridgePortEvent,
    ForwardingEvent,
    LinkEvent,
    LinkMovedEvent,
    RouteEvent,
    RtnlEvent,
)

DATA = Path(__file__).parents[2] / "data" / "netlink"
TAG = "vttfx"
RECORDER = "tests/collectors/netlink/record_fixtures.py"


def note(frame: codec.Frame) -> str:
    ev: RtnlEvent | None = codec.decode(frame)
    match ev:
        case LinkEvent(action=a, link=link):
            return f"{a} link {link.index} {link.ifname} kind={link.kind} master={link.master}"
        case LinkMovedEvent(link=link):
            return f"link {link.index} {link.ifname} moved to another namespace"
        case BridgePortEvent(action=a, index=i, master=m):
            return f"AF_BRIDGE {a} port {i} master={m}"
        case AddrEvent(action=a, addr=addr):
            return f"{a} addr {addr.address}/{addr.prefixlen} on {addr.index}"
        case RouteEvent(action=a, route=route):
            return f"{a} route {route.cidr} metric {route.metric}"
        case ForwardingEvent(enabled=on):
            return f"ip_forward={int(on)}"
    return f"type {frame.type} (not recorded)"


def messages(frames: list[codec.Frame]) -> list[dict[str, str]]:
    return [{"note": note(f), "hex": f.data.hex()} for f in frames]


def dump(ns: get.Netns) -> list[codec.Frame]:
    with get.Rtnl(ns) as rtnl:
        return [
            f
            for t in (codec.RTM_GETLINK, codec.RTM_GETADDR, codec.RTM_GETROUTE)
            for f in rtnl.dump(t)
        ]


def peers(ns: get.Netns, fabric_ns: list[str]) -> dict[str, list[str | None]]:
    others = [get.open_netns(n) for n in fabric_ns if n != ns.name]
    try:
        links = get.get_links(ns)
        found = get.resolve_peers(ns, links, lambda: get.get_netnsids(ns, others))
    finally:
        for o in others:
            o.close()
    return {str(i): [p.netns, p.ifname] for i, p in sorted(found.items())}


def record_fabric(lab: Lab, f: Fabric) -> dict[str, Any]:
    lab.ping(f.h1, "10.61.2.10")
    names = [f.h1, f.h2, f.sw, f.r]
    out: dict[str, Any] = {}
    for name in names:
        with get.open_netns(name) as ns:
            out[name] = {
                "ip_forward": get.get_ip_forward(ns),
                "remote_peers": peers(ns, names),
                "messages": messages(dump(ns)),
            }
    return {"about": "recorded by " + RECORDER + "; dumps of each namespace", "namespaces": out}


def record_events(lab: Lab, f: Fabric) -> dict[str, Any]:
    names = [f.h1, f.h2, f.sw, f.r]
    sw = get.open_netns(f.sw)
    stream = get.EventStream(sw)
    initial = {
        "ip_forward": get.get_ip_forward(sw),
        "remote_peers": peers(sw, names),
        "messages": messages(dump(sw)),
    }
    steps: list[dict[str, Any]] = []
    lookups: dict[str, list[str | None]] = {}

    def step(what: str, *commands: tuple[str, str]) -> None:
        for ns, args in commands:
            if args.startswith("sysctl "):
                lab.sysctl(ns, args.split()[1])
            elif args.startswith("ping "):
                lab.ping(ns, args.split()[1])
            else:
                lab.ip(ns, args)
        time.sleep(0.2)
        got: list[codec.Frame] = []
        while batch := stream.read_frames(0.3):
            got.extend(frame for _, frame in batch)
        # What the watcher would read again after this step (see state.Reader).
        with get.Rtnl(sw) as rtnl:
            routes = [f for f in rtnl.dump(codec.RTM_GETROUTE) if codec.decode(f)]
            links = [
                f
                for f in rtnl.dump(codec.RTM_GETLINK)
                if isinstance(e := codec.decode(f), LinkEvent) and e.link.kind == "veth"
            ]
        moved = any(isinstance(codec.decode(f), LinkMovedEvent) for f in got)
        steps.append(
            {
                "step": what,
                "messages": messages(got),
                "routes_after": messages(routes),
                "veths_after": messages(links) if moved else [],
            }
        )
        lookups.update(peers(sw, names))

    step("create bridge brx", (f.sw, "link add brx type bridge"), (f.sw, "link set brx up"))
    step(
        "veth xa (port of brx) to h1/xb",
        (f.sw, f"link add xa type veth peer name xb netns {f.h1}"),
        (f.sw, "link set xa master brx up"),
        (f.h1, "link set xb up"),
        (f.h1, "addr add 10.62.0.1/24 dev xb"),
    )
    step(
        "veth xc (port of brx) to h2/xd",
        (f.sw, f"link add xc type veth peer name xd netns {f.h2}"),
        (f.sw, "link set xc master brx up"),
        (f.h2, "link set xd up"),
        (f.h2, "addr add 10.62.0.2/24 dev xd"),
    )
    step("ping h1 -> h2 through brx", (f.h1, "ping 10.62.0.2"))
    step("xc leaves brx (AF_BRIDGE del)", (f.sw, "link set xc nomaster"))
    step("xc joins brx again", (f.sw, "link set xc master brx"))
    step("delete brx", (f.sw, "link del brx"))
    step("delete veth xa (its pair h1/xb dies too)", (f.sw, "link del xa"))
    step(
        "address and routes on va, forwarding on",
        (f.sw, "addr add 10.63.0.1/24 dev va"),
        (f.sw, "link set va up"),
        (f.sw, "link set vb up"),
        (f.sw, "route add 10.64.0.0/16 via 10.63.0.9"),
        (f.sw, "sysctl net.ipv4.ip_forward=1"),
    )
    step("va down: its IPv4 routes vanish without RTM_DELROUTE", (f.sw, "link set va down"))
    step("vb moves to h2", (f.sw, f"link set vb netns {f.h2}"))
    final = {
        "ip_forward": get.get_ip_forward(sw),
        "remote_peers": peers(sw, names),
        "messages": messages(dump(sw)),
    }
    stream.close()
    sw.close()
    return {
        "about": "recorded by " + RECORDER + "; notifications of one namespace, by step",
        "namespace": f.sw,
        "initial": initial,
        "peer_lookups": lookups,
        "steps": steps,
        "final": final,
    }


def main() -> None:
    lab = Lab(TAG)
    lab.namespaces = [f"{TAG}-{role}" for role in ("h1", "h2", "sw", "r")]
    lab.close()  # leftovers of an interrupted run
    try:
        fabric = build_fabric(lab)
        data = {
            "fabric.json": record_fabric(lab, fabric),
            "events.json": record_events(lab, fabric),
        }
    finally:
        lab.close()
    DATA.mkdir(parents=True, exist_ok=True)
    for name, payload in data.items():
        (DATA / name).write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {DATA / name}")


if __name__ == "__main__":
    main()
