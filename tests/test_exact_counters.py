"""Counters are exact to 2^64 - 1 from the model to the CLI and the API, and a counter of
an entity born while vtrail was recording counts from zero at its birth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at, disconnect, ent, event, sample, snap
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.model import Observation
from vtrail.query import state
from vtrail.query.jsonable import to_jsonable
from vtrail.recording.ingest import ingest_lines, rebuild
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.journal import Journal
from vtrail.store.reads.samples import series
from vtrail.timeexpr import to_us
from vtrail.wire import to_line

TOP = 2**64 - 1
VM = "vm:6695eb01-f6a4-8304-79aa-97f2502e193f"
#: cpu_time of a busy VM late in a 64-bit counter's range: the last reading is its top.
CPU = [TOP - 3_000_000_021 + 1_000_000_007 * k for k in range(4)]


def busy_vm() -> list[Observation]:
    return [
        snap("libvirt@hv-a", 10 * k, ent(VM, name="web-1"), sample(VM, "cpu_time_ns", v))
        for k, v in enumerate([2**53 + 1, 2**63 + 1, *CPU])
    ]


def test_counters_are_exact_from_recorder_to_cli_api_and_rebuild(
    store: SqliteStore, db_path: Path, tmp_path: Path
) -> None:
    readings = [2**53 + 1, 2**63 + 1, *CPU]
    assert CPU[-1] == TOP
    Recorder(store).record(busy_vm())
    n = store.entity_id(VM)
    assert [v for _, v in series(store, n, "cpu_time_ns")] == readings
    # The journal keeps the integers as they were given, not a double near them.
    texts = [p for p, _ in Journal(store).entries()]
    assert all(str(v) in t for v, t in zip(readings, texts, strict=True))
    (c,) = state.lifetime(store, VM).counters
    assert (c.first_value, c.last_value, c.count) == (2**53 + 1, CPU[-1], 6)
    growth = c.total
    assert growth == (2**63 + 1 - (2**53 + 1)) + (CPU[0] - (2**63 + 1)) + CPU[-1] - CPU[0]

    out = CliRunner().invoke(app, ["lifetime", VM, "--db", str(db_path), "-o", "json"])
    assert out.exit_code == 0, out.output
    (cj,) = json.loads(out.stdout)["counters"]
    assert (cj["last_value"], cj["total"]) == (CPU[-1], growth)
    table = CliRunner().invoke(app, ["lifetime", VM, "--db", str(db_path)])
    assert f"{CPU[-1]:,}" in table.output and f"{growth:,}" in table.output

    with TestClient(create_app(Settings(db=db_path))) as client:
        (aj,) = client.get(f"/api/lifetime/{VM}").json()["counters"]
        assert (aj["last_value"], aj["total"]) == (CPU[-1], growth)
        answered = client.get(f"/api/counters/{VM}").json()["series"]
        assert [p[1] for p in answered[0]["points"]] == readings

    rebuild(store, tmp_path / "rebuilt.db")
    fresh = SqliteStore(tmp_path / "rebuilt.db")
    assert series(fresh, fresh.entity_id(VM), "cpu_time_ns") == series(store, n, "cpu_time_ns")
    assert list(Journal(fresh).entries()) == list(Journal(store).entries())
    fresh.close()


def test_a_file_keeps_its_counters_exact_in_the_journal(store: SqliteStore) -> None:
    line = (
        '{"source":"push@hv-a","observed_at":"2026-11-20T03:00:00Z","kind":"event",'
        f'"samples":[{{"entity":"{VM}","metric":"cpu_time_ns","value":{TOP}}},'
        f'{{"entity":"{VM}","metric":"load","value":0.1}}]}}'
    )
    ingest_lines(store, [line])
    ((text, _),) = Journal(store).entries()
    assert f'"value":{TOP}' in text and '"value":0.1' in text
    assert series(store, store.entity_id(VM), "cpu_time_ns") == [(to_us(at(0)), TOP)]


# -- born while recording ----------------------------------------------------------------

SW = "netlink:sw"
BR0, BR1, PORT = "bridge:sw/br0", "bridge:sw/br-ghost", "port:sw/ghost0"


def totals(store: SqliteStore, entity: str) -> dict[str, tuple[int | float, bool]]:
    return {c.metric: (c.total, c.from_birth) for c in state.lifetime(store, entity).counters}


def test_a_port_born_with_its_bridge_reports_all_it_carried(
    store: SqliteStore, recorder: Recorder
) -> None:
    recorder.record(
        [
            disconnect(SW, 0),  # recording starts: nobody watched before
            snap(SW, 1, ent(BR0), sample(BR0, "tx_bytes", 5_000_000_000)),
            snap(SW, 10, ent(BR0), sample(BR0, "tx_bytes", 5_000_000_100)),
            # Created between two looks, and already busy at its first poll.
            snap(SW, 20, ent(BR0), ent(BR1), ent(PORT), sample(PORT, "tx_bytes", 400_000_000)),
            snap(SW, 30, ent(BR0), ent(BR1), ent(PORT), sample(PORT, "tx_bytes", 1_000_000_000)),
            event(SW, 40, sample(PORT, "tx_bytes", 1_600_000_000), gone=(PORT, BR1)),
        ]
    )
    assert totals(store, PORT) == {"tx_bytes": (1_600_000_000, True)}
    # There when recording began: it may have counted for days; its growth only.
    assert totals(store, BR0) == {"tx_bytes": (100, False)}
    (ghost,) = [g for g in state.ghosts(store, at(15), at(50)).ghosts if g.entity == PORT]
    assert ghost.counters[0].total == 1_600_000_000


def test_a_counter_two_sources_read_is_told_by_the_last_to_read_it(
    store: SqliteStore, recorder: Recorder, db_path: Path
) -> None:
    # A veth port: polled by its namespace's collector, which reads its rx as 0 once the
    # pair is cut; its final rx is its peer's tx, read by the peer namespace's collector.
    peer = "netlink:h1"
    recorder.record(
        [
            disconnect(SW, 0),
            disconnect(peer, 0),
            snap(SW, 10, ent(BR0)),
            snap(SW, 20, ent(BR0), ent(PORT), sample(PORT, "rx_bytes", 300_000)),
            snap(SW, 30, ent(BR0), ent(PORT), sample(PORT, "rx_bytes", 666_762)),
            event(SW, 40, sample(PORT, "tx_bytes", 722_724), gone=(PORT,)),
            event(peer, 41, sample(PORT, "rx_bytes", 721_558)),
        ]
    )
    life = state.lifetime(store, PORT)
    assert sorted((c.metric, c.source, c.total) for c in life.counters) == [
        ("rx_bytes", peer, 721_558),
        ("rx_bytes", SW, 666_762),
        ("tx_bytes", SW, 722_724),
    ]
    assert sorted((c.metric, c.total) for c in life.read_last().values()) == [
        ("rx_bytes", 721_558),
        ("tx_bytes", 722_724),
    ]
    ghosts = CliRunner().invoke(
        app,
        ["ghosts", "--from", at(15).isoformat(), "--to", at(50).isoformat(), "--db", str(db_path)],
        env={"COLUMNS": "200"},
    )
    assert ghosts.exit_code == 0, ghosts.output
    assert "rx_bytes=721,558 tx_bytes=722,724" in ghosts.output
    assert ghosts.output.count("rx_bytes=") == 1


def test_born_counters_still_count_resets(store: SqliteStore, recorder: Recorder) -> None:
    readings = [500_000_000, 100_000_000, 300_000_000]  # reset after the first
    recorder.record([snap(SW, 0, ent(BR0)), event(SW, 5, ent(PORT))])
    for k, v in enumerate(readings):
        recorder.record([snap(SW, 10 * (k + 1), ent(BR0), ent(PORT), sample(PORT, "rx_bytes", v))])
    assert totals(store, PORT) == {"rx_bytes": (500_000_000 + 100_000_000 + 200_000_000, True)}


@pytest.mark.parametrize(
    "first_seen",
    [
        "in the source's first snapshot",
        "in the first snapshot after a disconnect",
        "in an event between a disconnect and the next snapshot",
    ],
)
def test_an_entity_nobody_watched_appear_counts_from_its_first_reading(
    store: SqliteStore, recorder: Recorder, first_seen: str
) -> None:
    port = (ent(PORT), sample(PORT, "tx_bytes", 700_000_000))
    later = snap(SW, 50, ent(BR0), ent(PORT), sample(PORT, "tx_bytes", 900_000_000))
    if first_seen == "in the source's first snapshot":
        obs = [snap(SW, 0, ent(BR0), *port)]
    elif first_seen == "in the first snapshot after a disconnect":
        obs = [snap(SW, 0, ent(BR0)), disconnect(SW, 10), snap(SW, 40, ent(BR0), *port)]
    else:
        obs = [snap(SW, 0, ent(BR0)), disconnect(SW, 10), event(SW, 30, *port)]
        later = snap(SW, 40, ent(BR0), ent(PORT), sample(PORT, "tx_bytes", 900_000_000))
    recorder.record([*obs, later])
    assert totals(store, PORT) == {"tx_bytes": (200_000_000, False)}


def test_one_source_that_watched_it_appear_is_enough(
    store: SqliteStore, recorder: Recorder
) -> None:
    # The newcomer sorts first, so it is the source the merged version names.
    newcomer, watcher = "a-netlink:sw", "b-ovs:sw"
    recorder.record(
        [
            snap(watcher, 0, ent(BR0)),
            snap(watcher, 10, ent(BR0), ent(PORT), sample(PORT, "tx_bytes", 300)),
            snap(newcomer, 10, ent(PORT, mtu=1500)),
            snap(watcher, 20, ent(BR0), ent(PORT), sample(PORT, "tx_bytes", 500)),
        ]
    )
    assert state.history(store, PORT).versions[0].source == newcomer
    assert totals(store, PORT) == {"tx_bytes": (500, True)}


def test_the_birth_rule_holds_through_a_rebuild(store: SqliteStore, tmp_path: Path) -> None:
    lines = [
        to_line(o)
        for o in [
            snap(SW, 0, ent(BR0)),
            event(SW, 5, ent(PORT), sample(PORT, "tx_bytes", 2**60)),
            event(SW, 9, sample(PORT, "tx_bytes", 2**60 + 7), gone=(PORT,)),
        ]
    ]
    ingest_lines(store, lines)
    rebuild(store, tmp_path / "again.db")
    fresh = SqliteStore(tmp_path / "again.db")
    assert totals(fresh, PORT) == totals(store, PORT) == {"tx_bytes": (2**60 + 7, True)}
    fresh.close()


def test_counter_totals_say_their_instants_in_iso(store: SqliteStore, recorder: Recorder) -> None:
    recorder.record([snap("a", 0, ent("port:h/tap0"), sample("port:h/tap0", "tx_bytes", 5))])
    recorder.record([snap("a", 10, ent("port:h/tap0"), sample("port:h/tap0", "tx_bytes", 9))])
    out = to_jsonable(state.lifetime(store, "port:h/tap0"))
    c = out["counters"][0]
    assert (c["first_at"], c["last_at"]) == ("2026-11-20T03:00:00.000Z", "2026-11-20T03:00:10.000Z")
