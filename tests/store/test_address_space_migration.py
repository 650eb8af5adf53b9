"""`0008_address_spaces`: a store recorded with global `ip:`/`net:` ids, opened by this vtrail.

The store is recorded, then told it never had the migration, as a store from
before it would be; reopening applies it to real history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from factory import at, ent, rel, snap
from vtrail.query.names import HeldInSeveralSpaces
from vtrail.query.state import history, where
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, UnknownEntity

NIC = "nic:6695eb01-f6a4-8304-79aa-000000000001/52:54:00:00:00:01"
#: What the collectors said before address spaces: one `ip:10.0.0.1` for two namespaces.
BEFORE = [
    snap(
        "netlink:ns1@h",
        0,
        ent("port:ns1/eth0"),
        ent("port:ns1/eth1"),
        ent("router:ns1"),
        ent("ip:10.0.0.1", prefixlen=24),
        ent("ip:10.9.0.1", prefixlen=24),
        ent("net:10.0.0.0/24", cidr="10.0.0.0/24"),
        rel("port:ns1/eth0", "has_address", "ip:10.0.0.1"),
        rel("port:ns1/eth1", "has_address", "ip:10.9.0.1"),
        rel("router:ns1", "routes", "net:10.0.0.0/24"),
    ),
    snap(
        "netlink:ns2@h",
        0,
        ent("port:ns2/eth0"),
        ent("router:ns2"),
        ent("ip:10.0.0.1", prefixlen=24),
        ent("net:10.0.0.0/24", cidr="10.0.0.0/24"),
        ent("net:10.5.0.0/16", cidr="10.5.0.0/16"),
        rel("port:ns2/eth0", "has_address", "ip:10.0.0.1"),
        rel("router:ns2", "routes", "net:10.0.0.0/24"),
        rel("router:ns2", "routes", "net:10.5.0.0/16"),
    ),
    snap(
        "libvirt+test:///a@hv-a",
        0,
        ent("net:hv-a/default", name="default"),
        ent(NIC, mac="52:54:00:00:00:01"),
        rel(NIC, "has_address", "ip:10.1.1.1"),
    ),
    snap("libvirt+test:///b@hv-b", 0, ent("net:hv-b/default", name="default")),
]


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    Recorder(store).record(BEFORE)
    store.close()
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM migration WHERE name = '0008_address_spaces'")
    c.close()
    return db


def test_old_ids_seen_in_one_space_are_renamed_with_their_history(old_store: Path) -> None:
    store = SqliteStore(old_store)
    try:
        assert "0008_address_spaces" in [name for name, _ in store.migrations()]
        eids = {str(eid) for (eid,) in store.conn.execute("SELECT eid FROM entity")}
        assert {
            "ip:10.9.0.1@ns1",
            "ip:10.1.1.1@6695eb01-f6a4-8304-79aa-000000000001",
            "net:10.5.0.0/16@ns2",
            "net:default@hv-a",
            "net:default@hv-b",
        } <= eids
        # Shared by two spaces: one entity for two things, which no rename can split.
        assert {"ip:10.0.0.1", "net:10.0.0.0/24"} <= eids
        assert not {"ip:10.9.0.1", "net:hv-a/default", "net:10.5.0.0/16"} & eids
        (v,) = history(store, "ip:10.9.0.1@ns1").versions
        assert v.valid_from == at(0)

        # The collector of now says the same thing under the new id: nothing new.
        Recorder(store).record(
            [
                snap(
                    "netlink:ns1@h",
                    10,
                    ent("port:ns1/eth1"),
                    ent("ip:10.9.0.1@ns1", prefixlen=24),
                    rel("port:ns1/eth1", "has_address", "ip:10.9.0.1@ns1"),
                )
            ]
        )
        assert len(history(store, "ip:10.9.0.1@ns1").versions) == 1
    finally:
        store.close()


def test_an_old_shared_address_is_still_refused_by_holder(old_store: Path) -> None:
    store = SqliteStore(old_store, readonly=True)
    try:
        with pytest.raises(HeldInSeveralSpaces) as refused:
            where(store, "10.0.0.1", at(5))
        assert "port:ns1/eth0" in str(refused.value) and "port:ns2/eth0" in str(refused.value)
        assert where(store, "10.0.0.1@ns2", at(5)).entity == "port:ns2/eth0"
        with pytest.raises(UnknownEntity):
            where(store, "10.0.0.1@ns3", at(5))
    finally:
        store.close()
