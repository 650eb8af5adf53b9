"""A scripted story checked against every question, through the real CLI in-process.

The story: vm web-1 is created on hv-a, migrates to hv-b at 03:20, and its NIC
moves from br0 to br1 at 03:30. A bridge br-ghost appears at 03:40, carries
1.5 GB in 40 s and vanishes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory import T0, at, ent, event, rel, sample, snap
from vtrail import timeexpr
from vtrail.cli.main import app
from vtrail.model import Observation
from vtrail.wire import to_line

pytestmark = pytest.mark.both_stores

VM = "vm:6695eb01-f6a4-8304-79aa-97f2502e193f"
NIC = "nic:6695eb01-f6a4-8304-79aa-97f2502e193f/52:54:00:aa:bb:01"
GHOST = "bridge:sw/br-ghost"


def story() -> list[Observation]:
    def hv(host: str, t: float, *with_vm: object) -> Observation:
        return snap(f"libvirt@{host}", t, ent(f"host:{host}", hostname=host), *with_vm)

    def vm_on(host: str, bridge: str) -> tuple[object, ...]:
        port = f"port:{host}/vnet0"
        return (
            ent(VM, name="web-1", state="running", vcpus=2),
            ent(NIC, mac="52:54:00:aa:bb:01", model="virtio"),
            ent(port, ifname="vnet0"),
            rel(VM, "runs_on", f"host:{host}"),
            rel(VM, "has_nic", NIC),
            rel(NIC, "plugged_into", port),
            rel(port, "port_of", f"bridge:{host}/{bridge}"),
            rel(NIC, "has_address", "ip:10.0.0.5"),
        )

    return [
        hv("hv-a", 0),
        hv("hv-b", 0),
        event("libvirt@hv-a", 60, *vm_on("hv-a", "br0")),  # 03:01 created
        hv("hv-a", 600, *vm_on("hv-a", "br0")),
        hv("hv-b", 600),
        # 03:20 migration: gone from hv-a, arrives on hv-b.
        hv("hv-a", 1200),
        hv("hv-b", 1200, *vm_on("hv-b", "br0")),
        # 03:30 NIC replugged into br1.
        hv("hv-b", 1800, *vm_on("hv-b", "br1")),
        event("netlink:sw", 2400, ent(GHOST, ifname="br-ghost"), sample(GHOST, "tx_bytes", 0)),
        event("netlink:sw", 2420, sample(GHOST, "tx_bytes", 800_000_000)),
        event("netlink:sw", 2440, sample(GHOST, "tx_bytes", 1_500_000_000), gone=(GHOST,)),
        hv("hv-b", 3000, *vm_on("hv-b", "br1")),
    ]


@pytest.fixture
def cli(tmp_path: Path, db_location: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = db_location
    journal = tmp_path / "story.jsonl"
    journal.write_text("\n".join(to_line(o) for o in story()) + "\n")
    result = runner.invoke(app, ["ingest", str(journal), "--db", db])
    assert result.exit_code == 0, result.output

    def run(*args: str, code: int = 0) -> str:
        r = runner.invoke(app, [*args, "--db", db])
        assert r.exit_code == code, r.output
        return r.output

    def js(*args: str) -> object:
        return json.loads(run(*args, "-o", "json"))

    run.json = js  # type: ignore[attr-defined]
    return run


def iso(seconds: float) -> str:
    return at(seconds).isoformat()


def answered(seconds: float) -> str | None:
    """An instant as every answer writes it."""
    return timeexpr.iso(at(seconds))


def test_where_follows_the_migration_and_the_replug(cli) -> None:  # type: ignore[no-untyped-def]
    w = cli.json("where", "web-1", "--at", iso(900))
    assert w["entity"] == VM and w["host"] == "host:hv-a" and w["state"] == "running"
    assert w["nics"][0]["bridge"] == "bridge:hv-a/br0"
    assert w["nics"][0]["addresses"] == ["ip:10.0.0.5"]
    w = cli.json("where", "web-1", "--at", iso(1500))
    assert w["host"] == "host:hv-b" and w["nics"][0]["bridge"] == "bridge:hv-b/br0"
    w = cli.json("where", "52:54:00:AA:BB:01", "--at", iso(2000))
    assert w["entity"] == VM and w["nics"][0]["bridge"] == "bridge:hv-b/br1"
    assert cli.json("where", "10.0.0.5", "--at", iso(2000))["entity"] == VM
    assert not cli.json("where", VM, "--at", iso(30))["alive"]
    assert "web-1" in cli("where", "web-1", "--at", iso(900))


def test_unknown_and_bad_input_exit_non_zero_with_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("where", "no-such-vm", code=1)
    assert "nothing recorded matches 'no-such-vm'" in out
    assert "cannot read time" in cli("show", VM, "--at", "next tuesday-ish", code=2)
    assert "before it starts" in cli("diff", "--from", iso(100), "--to", iso(50), code=1)


def test_show_and_history(cli) -> None:  # type: ignore[no-untyped-def]
    s = cli.json("show", VM, "--at", iso(1500))
    assert s["version"]["attrs"]["name"] == "web-1"
    assert {(r["rel"], r["dst"]) for r in s["relations"] if r["src"] == VM} == {
        ("runs_on", "host:hv-b"),
        ("has_nic", NIC),
    }
    h = cli.json("history", VM)
    runs = [
        (r["dst"], r["from"], r["to"], r["source"]) for r in h["relations"] if r["rel"] == "runs_on"
    ]
    assert runs == [
        ("host:hv-a", "2026-11-20T03:01:00.000Z", "2026-11-20T03:20:00.000Z", "libvirt@hv-a"),
        ("host:hv-b", "2026-11-20T03:20:00.000Z", None, "libvirt@hv-b"),
    ]


def test_diff_reports_the_move_and_the_ghost(cli) -> None:  # type: ignore[no-untyped-def]
    d = cli.json("diff", "--from", iso(900), "--to", iso(2000))
    assert (d["from"], d["to"]) == (answered(900), answered(2000))
    assert {"entity": VM, "rel": "runs_on", "before": ["host:hv-a"], "after": ["host:hv-b"]} in d[
        "moved"
    ]
    port_moves = [m for m in d["moved"] if m["rel"] == "plugged_into"]
    assert port_moves == [
        {
            "entity": NIC,
            "rel": "plugged_into",
            "before": ["port:hv-a/vnet0"],
            "after": ["port:hv-b/vnet0"],
        }
    ]
    d = cli.json("diff", "--from", iso(2300), "--to", iso(2500))
    assert [v["entity"] for v in d["appeared"]] == [] and [v["entity"] for v in d["vanished"]] == []
    d = cli.json("diff", "--from", iso(2300), "--to", iso(2430), "--kind", "bridge")
    assert [v["entity"] for v in d["appeared"]] == [GHOST]


def test_ghosts_and_lifetime_of_the_one_minute_bridge(cli) -> None:  # type: ignore[no-untyped-def]
    g = cli.json("ghosts", "--from", iso(2000), "--to", iso(2500))
    assert (g["from"], g["to"]) == (answered(2000), answered(2500))
    assert [x["entity"] for x in g["ghosts"]] == [GHOST]
    (ghost,) = g["ghosts"]
    assert ghost["lifetime_s"] == 40.0
    (tx,) = ghost["counters"]
    assert tx["metric"] == "tx_bytes" and tx["total"] == 1_500_000_000
    assert cli.json("ghosts", "--from", iso(2410), "--to", iso(2500))["ghosts"] == []
    assert "1,500,000,000" in cli("lifetime", GHOST)


def test_snapshot_and_stats(cli, store_kind: str) -> None:  # type: ignore[no-untyped-def]
    s = cli.json("snapshot", "--at", iso(2420))
    ids = {v["entity"] for v in s["entities"]}
    assert {VM, NIC, GHOST, "host:hv-a", "host:hv-b"} <= ids
    assert GHOST not in {v["entity"] for v in cli.json("snapshot", "--at", iso(2440))["entities"]}
    st = cli.json("stats")
    assert st["counts"]["journal"] == len(story())
    assert st["first"] == T0.isoformat().replace("+00:00", ".000Z")
    assert "0001_core" in st["migrations"]
    if store_kind == "sqlite":
        assert st["journal_path"].endswith(".journal.db")
        assert st["size_bytes"] > Path(st["journal_path"]).stat().st_size > 0
    else:
        assert st["path"].startswith("postgresql://") and st["size_bytes"] > 0
