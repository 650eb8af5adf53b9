"""Who had an address or a MAC and how; usage over time; exports; the lease files'
formats; and the same over HTTP, where allocating takes a writer's token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ipam.fabric import NOW, ago, allocated, apply_pools, holds
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.collectors.leases.parse import Lease, parse
from vtrail.collectors.leases.transform import to_observation
from vtrail.ipam.usage import usage
from vtrail.ipam.who import who
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store

pytestmark = pytest.mark.both_stores

MAC = "52:54:00:12:34:56"
KEA = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
    "state,user_context,pool_id\n"
    "10.0.3.50,52:54:00:12:34:56,,3600,4102444800,1,0,0,web-1,0,,0\n"
    "10.0.3.51,52:54:00:00:00:51,,3600,4102444800,1,0,0,gone,0,,0\n"
    "10.0.3.51,52:54:00:00:00:51,,3600,4102444800,1,0,0,gone,2,,0\n"
    "10.0.3.52,52:54:00:00:00:52,,3600,946684800,1,0,0,old,0,,0\n"
    "garbage\n"
)


def story(recorder: Recorder) -> None:
    apply_pools(recorder)
    allocated(recorder, "lab", "10.0.3.50", "lab", "vm:web", ago(10))
    holds(recorder, "netlink:web", "port:web/eth0", "10.0.3.50", "web", ago(9), ago(1))
    leases = parse(KEA).leases
    recorder.record([to_observation("leases:/var/lib/kea/kea-leases4.csv", "dhcp", leases, ago(5))])


def test_kea_keeps_each_address_last_row_and_its_state() -> None:
    found = parse(KEA)
    assert found.format == "kea" and found.skipped == 1
    assert [x.address for x in found.leases] == ["10.0.3.50", "10.0.3.52"]
    dnsmasq = parse("1796293574 02:00:5e:77:00:09 10.77.0.50 client-9 01:02:00:5e:77:00:09\n"
                    "duid 00:01:00:01\n0 1234 2001:db8::9 * 00:01\n")  # fmt: skip
    assert dnsmasq.leases == (
        Lease("10.77.0.50", "02:00:5e:77:00:09", 1796293574, "client-9", "01:02:00:5e:77:00:09"),
        Lease("2001:db8::9", None, None, None, "00:01"),
    )


def test_who_names_every_holder_and_how(store: SqliteStore, recorder: Recorder) -> None:
    story(recorder)
    held = who(store, "10.0.3.50").holders
    assert [(h.how, h.entity, h.id, h.t_from, h.t_to) for h in held] == [
        ("allocated", "vm:web", "ip:10.0.3.50@lab", ago(10), None),
        ("observed", "port:web/eth0", "ip:10.0.3.50@web", ago(9), ago(1)),
        ("leased", f"mac:{MAC}", "ip:10.0.3.50@dhcp", ago(5), None),
    ]
    # An expired lease (10.0.3.52, expired in 2000) was never recorded as held.
    assert who(store, "10.0.3.52").holders == []
    assert [h.how for h in who(store, "10.0.3.50", at=ago(7)).holders] == ["allocated", "observed"]
    assert [h.how for h in who(store, "10.0.3.50@web").holders] == ["observed"]
    by_mac = who(store, MAC.upper()).holders
    assert [(h.how, h.entity, h.detail) for h in by_mac] == [
        ("leased", "ip:10.0.3.50@dhcp", "web-1")
    ]


def test_usage_counts_allocated_in_use_and_free(store: SqliteStore, recorder: Recorder) -> None:
    story(recorder)
    (lab,) = usage(store, ago(12), NOW, pool="lab", points=7).pools
    assert lab.size == 253
    by_day = {round((NOW - p.at).total_seconds() / 86400): p for p in lab.series}
    assert (by_day[12].allocated, by_day[12].observed, by_day[12].free) == (0, 0, 253)
    assert (by_day[8].allocated, by_day[8].observed, by_day[8].free) == (1, 1, 252)
    assert (by_day[0].allocated, by_day[0].observed) == (1, 1)  # the lease is use too
    (v6,) = usage(store, ago(12), NOW, pool="lab6", points=2).pools
    assert v6.family == 6 and v6.size == 2**64 - 1


def test_exports_follow_the_allocations(
    store: SqliteStore, recorder: Recorder, db_location: str
) -> None:
    story(recorder)
    out = {}
    for fmt in ("dnsmasq", "hosts", "csv"):
        done = CliRunner().invoke(app, ["ipam", "export", "--format", fmt, "--db", db_location])
        assert done.exit_code == 0, done.output
        out[fmt] = [x for x in done.stdout.splitlines() if not x.startswith("#")]
    assert out["dnsmasq"] == ["dhcp-host=web,10.0.3.50"]
    assert out["hosts"] == ["10.0.3.50\tweb"]
    assert out["csv"][0] == "pool,address,space,entity,name,mac,since"
    assert out["csv"][1].startswith("lab,10.0.3.50,lab,vm:web,web,,")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path, dict[str, str]]]:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    apply_pools(Recorder(store))
    _, reader = token_store.create(store, "reader", "r")
    _, writer = token_store.create(store, "writer", "w")
    store.close()
    with TestClient(create_app(Settings(db=db))) as c:
        yield c, db, {"reader": reader, "writer": writer}


def test_the_api_allocates_for_writers_and_answers_as_the_cli(
    served: tuple[TestClient, Path, dict[str, str]],
) -> None:
    c, db, tok = served
    params = {"pool": "lab", "for": "vm:api", "count": 2}
    refused = c.post(
        "/api/ipam/allocate", params=params, headers={"Authorization": f"Bearer {tok['reader']}"}
    )
    assert refused.status_code == 403
    done = c.post(
        "/api/ipam/allocate", params=params, headers={"Authorization": f"Bearer {tok['writer']}"}
    )
    assert done.status_code == 200, done.text
    assert [a["address"] for a in done.json()["allocated"]] == ["10.0.3.2", "10.0.3.3"]
    unknown = c.post("/api/ipam/allocate", params={**params, "pool": "nope"},
                     headers={"Authorization": f"Bearer {tok['writer']}"})  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("unknown pool 'nope'")
    api = c.get("/api/ipam/who/10.0.3.2").json()
    cli = CliRunner().invoke(app, ["ipam", "who", "10.0.3.2", "--db", str(db), "-o", "json"])
    assert json.loads(cli.stdout) == api
    assert [(h["entity"], h["how"]) for h in api["holders"]] == [("vm:api", "allocated")]
    released = c.post("/api/ipam/release", params={"address": "10.0.3.2"},
                      headers={"Authorization": f"Bearer {tok['writer']}"})  # fmt: skip
    assert released.status_code == 200 and released.json()["released"][0]["entity"] == "vm:api"
    assert c.get("/api/ipam/who/nonsense").status_code == 404
    full = c.post("/api/ipam/allocate", params={**params, "count": 4096},
                  headers={"Authorization": f"Bearer {tok['writer']}"})  # fmt: skip
    assert full.status_code == 409 and "nothing was allocated" in full.json()["detail"]
