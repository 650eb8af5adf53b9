"""`0013_routes_on_interfaces`: a store where netlink wrote each route twice, opened by this vtrail.

Before, the netlink collector recorded a namespace's table on its interfaces (the
`routes` attribute) and part of it again as `routes` relations, router →
`net:<cidr>@<ns>`. The store is recorded that way, then told it never had the
migration, as a store from before it would be; reopening applies it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from factory import at, ent, snap
from vtrail.model import RelationObs, RelKey
from vtrail.query.graph import topology
from vtrail.query.path import path
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

NAME = "0013_routes_on_interfaces"
NL = "netlink:r@h"


def ids_like(store: SqliteStore, pattern: str) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT eid FROM entity WHERE eid LIKE ?", (pattern,))]


def route(dst: str, via: str | None, metric: int = 0) -> dict[str, Any]:
    return {"dst": dst, "family": 4, "via": via, "metric": metric, "proto": "boot"}


def routes_rel(dst: str, dev: str, via: str | None, metric: int = 0) -> RelationObs:
    """What the collector wrote beside the attribute: the best route to each prefix."""
    return RelationObs(
        RelKey("router:r", "routes", f"net:{dst}@r"),
        {"prefix": dst, "prefixlen": 16, "family": 4, "via": via, "dev": dev, "metric": metric},
    )


def client(seconds: float) -> Any:
    """Namespace c, no router: its default route is on its one interface."""
    return snap(
        "netlink:c@h",
        seconds,
        ent("port:c/eth0", routes=[route("0.0.0.0/0", "10.1.0.1")]),
        ent("ip:10.1.0.5@c", prefixlen=24),
        RelationObs(RelKey("port:c/eth0", "has_address", "ip:10.1.0.5@c")),
        RelationObs(RelKey("port:c/eth0", "peer", "port:r/eth1")),
    )


def router(seconds: float, via: str, old: bool) -> Any:
    """Router r: 10.9.0.0/16 leaves by eth2 through `via`; `old` adds the relations."""
    items: list[Any] = [
        ent("router:r", forwarding=True, interfaces=2, ifnames=["eth1", "eth2"]),
        ent("port:r/eth1", routes=[]),
        ent("port:r/eth2", routes=[route("10.9.0.0/16", via, 20)]),
        ent("ip:10.1.0.1@r", prefixlen=24),
        ent("ip:10.2.0.1@r", prefixlen=24),
        RelationObs(RelKey("port:r/eth1", "has_address", "ip:10.1.0.1@r")),
        RelationObs(RelKey("port:r/eth2", "has_address", "ip:10.2.0.1@r")),
        RelationObs(RelKey("port:r/eth1", "peer", "port:c/eth0")),
        RelationObs(RelKey("port:r/eth2", "peer", "port:d/eth0")),
    ]
    if old:
        items += [
            ent("net:10.9.0.0/16@r", cidr="10.9.0.0/16"),
            routes_rel("10.9.0.0/16", "eth2", via, 20),
        ]
    return snap(NL, seconds, *items)


def far_side(seconds: float) -> Any:
    return snap(
        "netlink:d@h",
        seconds,
        ent("port:d/eth0", routes=[]),
        ent("ip:10.2.0.7@d", prefixlen=24),
        ent("ip:10.2.0.8@d", prefixlen=24),
        RelationObs(RelKey("port:d/eth0", "has_address", "ip:10.2.0.7@d")),
        RelationObs(RelKey("port:d/eth0", "has_address", "ip:10.2.0.8@d")),
        RelationObs(RelKey("port:d/eth0", "peer", "port:r/eth2")),
    )


#: Someone else's drawing of what r routes: not netlink's to take back.
OTHER = snap(
    "inventory@h",
    0,
    ent("net:10.50.0.0/16", name="lab"),
    RelationObs(RelKey("router:r", "routes", "net:10.50.0.0/16")),
)


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    Recorder(store).record(
        [
            client(0),
            router(0, "10.2.0.7", old=True),
            far_side(0),
            OTHER,
            # The route moved at 10: a new relation version, as the old collector said it.
            router(10, "10.2.0.8", old=True),
        ]
    )
    store.close()
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM migration WHERE name = ?", (NAME,))
    c.close()
    return db


def counts(store: SqliteStore) -> dict[str, int]:
    c = store.conn
    return {
        t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("entity", "version", "relation")
    }


def test_netlinks_second_copy_of_the_routes_goes_and_paths_stay(old_store: Path) -> None:
    store = SqliteStore(old_store, readonly=True)
    try:
        answers = [path(store, "c", "10.9.1.1", at(s)) for s in (5, 15)]
        assert len(ids_like(store, "net:10.9.0.0/16@r")) == 1
    finally:
        store.close()

    store = SqliteStore(old_store)
    try:
        assert NAME in [name for name, _ in store.migrations()]
        c = store.conn
        # Netlink's relations and prefixes went; the other source's stayed.
        routed = c.execute(
            "SELECT a.eid, b.eid FROM relation r JOIN entity a ON a.id = r.src "
            "JOIN entity b ON b.id = r.dst WHERE r.rel = 'routes'"
        ).fetchall()
        assert routed == [("router:r", "net:10.50.0.0/16")]
        assert ids_like(store, "net:%") == ["net:10.50.0.0/16"]
        assert c.execute(
            "SELECT count(*) FROM claim WHERE rel = 'routes' AND source = "
            "(SELECT id FROM source WHERE name = ?)",
            (NL,),
        ).fetchone() == (0,)
        # The row counts `stats` reads stay true.
        tally = dict(c.execute("SELECT name, n FROM tally"))
        assert {k: tally[k] for k in ("entity", "version", "relation")} == counts(store)

        # The path reads the interfaces' routes: the same answers, before and after the move.
        again = [path(store, "c", "10.9.1.1", at(s)) for s in (5, 15)]
        assert again == answers
        assert [a.routes[-1].gateway for a in again] == ["10.2.0.7", "10.2.0.8"]
        assert again[0].routes[0].router == "netns:c"  # a namespace that is no router
        edges = {(e.src, e.rel, e.dst) for e in topology(store, at(15)).edges}
        assert [e for e in edges if e[1] == "routes"] == [
            ("router:r", "routes", "net:10.50.0.0/16")
        ]

        # The collector of now says the same without the relations: nothing is new,
        # and nothing it no longer says is there to be closed.
        before = counts(store)
        Recorder(store).record([router(20, "10.2.0.8", old=False)])
        assert counts(store) == before
    finally:
        store.close()
