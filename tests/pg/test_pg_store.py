"""The PostgreSQL store on a real server: its migrations, its dialect, and several
recorders writing at once giving the history a serial run gives."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory import T0, disconnect, ent, event, rel, sample, snap
from pg.pgserver import Server
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, StoreError, open_store
from vtrail.store.dialect import to_postgres
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.migrations.postgres import POSTGRES
from vtrail.store.postgres import PostgresStore


def test_every_migration_has_its_postgresql_form() -> None:
    assert [m.name for m in MIGRATIONS] == list(POSTGRES)


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT ifnull(max(seq), 0) FROM journal", "SELECT coalesce(max(seq), 0) FROM journal"),
        (
            "SELECT max(a, b), min(c, d) FROM t WHERE x = ?",
            "SELECT greatest(a, b), least(c, d) FROM t WHERE x = %s",
        ),
        (
            "INSERT OR IGNORE INTO label VALUES (?, ?, ?)",
            "INSERT INTO label VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        ),
        (
            "SELECT 1 FROM e WHERE eid IN (SELECT value FROM json_each(:ids)) AND n LIKE '5%'",
            "SELECT 1 FROM e WHERE eid IN (SELECT value FROM json_array_elements_text("
            "CAST(%(ids)s AS json))) AND n ILIKE '5%%'",
        ),
        (
            "INSERT INTO h VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET k = max(k, excluded.k)",
            "INSERT INTO h VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET "
            "k = greatest(h.k, excluded.k)",
        ),
        (
            "INSERT INTO entity (eid, kind) VALUES (?, ?)",
            "INSERT INTO entity (eid, kind) VALUES (%s, %s) RETURNING id",
        ),
    ],
)
def test_sqlite_statements_are_rewritten_for_postgresql(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite)[0] == postgres


@pytest.fixture
def server(pg_server: Server) -> Server:
    return pg_server


def test_a_missing_server_is_a_one_line_error() -> None:
    with pytest.raises(StoreError, match="cannot open store postgresql://vt:\\*\\*\\*@"):
        open_store("postgresql://vt:secret@127.0.0.1:1/nothing")


def test_a_read_only_open_of_an_empty_database_is_refused(server: Server) -> None:
    with pytest.raises(StoreError, match="no store at"):
        open_store(server.database(), readonly=True)


def test_a_second_open_migrates_nothing_and_partitions_are_monthly(server: Server) -> None:
    url = server.database()
    first = open_store(url)
    assert isinstance(first, PostgresStore)
    again = PostgresStore(url)
    try:
        assert again.migrate() == []
        parts = {
            r[0]
            for r in again.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'journal'"
            )
        }
        assert "journal_default" in parts and len(parts) >= 3
    finally:
        first.close()
        again.close()


# -- several recorders at once ------------------------------------------------

HOSTS = [f"h{i}" for i in range(4)]
VMS = [f"vm:{i:03d}" for i in range(24)]


def fleet(seed: int) -> dict[str, list[Observation]]:
    """Each host's observations over an hour: VMs start, change, move between hosts
    (so two sources speak of one VM), disappear, and hosts lose their collector."""
    rnd = random.Random(seed)
    where = {vm: rnd.choice(HOSTS) for vm in VMS}
    out: dict[str, list[Observation]] = {h: [] for h in HOSTS}
    for step in range(60):
        t = step * 60.0
        for vm in rnd.sample(VMS, 4):
            old, new = where[vm], rnd.choice(HOSTS)
            where[vm] = new
            if old != new:
                out[old].append(event(f"libvirt:{old}", t + 1, gone=(vm,)))
            out[new].append(
                event(
                    f"libvirt:{new}",
                    t + 2,
                    ent(vm, name=vm[3:], state=rnd.choice("rp")),
                    rel(vm, "runs_on", f"host:{new}"),
                    sample(vm, "cpu_time", step * 7 + 1),
                )
            )
        for h in HOSTS:
            mine = [v for v in VMS if where[v] == h]
            if step % 10 == 5:
                items = [ent(f"host:{h}")]
                items += [ent(v, name=v[3:], state="r") for v in mine]
                items += [rel(v, "runs_on", f"host:{h}") for v in mine]
                out[h].append(snap(f"libvirt:{h}", t + 30, *items))
            if step == 41 and h == "h2":
                out[h].append(disconnect(f"libvirt:{h}", t + 40))
    return out


def one_switch(per_host: dict[str, list[Observation]]) -> dict[str, list[Observation]]:
    """The fleet in each host's time order (so that few batches arrive late and take
    the whole store), each host also saying after each of its events what its port
    on one switch is doing: every recorder writes that key in nearly every batch,
    beside the others (a snapshot, which leaves it out, ends the host's statement)."""
    out: dict[str, list[Observation]] = {}
    for h, obs in per_host.items():
        said = list(obs)
        for i, o in enumerate(obs):
            if o.kind == "event":
                t = (o.observed_at - T0).total_seconds() + 0.5 + i / 1000
                said.append(event(f"libvirt:{h}", t, ent("switch:core", **{h: i})))
        out[h] = sorted(said, key=lambda o: o.observed_at)
    return out


def history(store: Store) -> list[tuple[object, ...]]:
    """The whole history by names, not by the integers a store happened to intern."""
    c = store.conn
    rows: list[tuple[object, ...]] = []
    rows += c.execute(
        "SELECT 'v', e.eid, v.valid_from, v.valid_to, v.attrs, s.name, v.vanished_after "
        "FROM version v JOIN entity e ON e.id = v.entity JOIN source s ON s.id = v.source"
    ).fetchall()
    rows += c.execute(
        "SELECT 'r', a.eid || ' ' || r.rel || ' ' || b.eid, r.valid_from, r.valid_to, r.attrs, "
        "s.name, r.vanished_after FROM relation r JOIN entity a ON a.id = r.src "
        "JOIN entity b ON b.id = r.dst JOIN source s ON s.id = r.source"
    ).fetchall()
    rows += c.execute(
        "SELECT 'c', e.eid || ' ' || c.rel, c.since, c.until, coalesce(c.attrs, ''), s.name, "
        "c.vanished_after FROM claim c JOIN entity e ON e.id = c.a JOIN source s ON s.id = c.source"
    ).fetchall()
    rows += c.execute(
        "SELECT 'j', s.name, j.observed_at, j.hash, j.kind, '', 0 FROM journal j "
        "JOIN source s ON s.id = j.source"
    ).fetchall()
    # Attribute text names its key set by an id each store (or writer) interns in its own
    # order: compare it decoded, in versions, relations and an entity's statements.
    decoded = [
        (*r[:4], store.attrs.decode(r[4]), *r[5:])
        if r[4] and (r[0] in "vr" or (r[0] == "c" and str(r[1]).endswith(" ")))
        else r
        for r in rows
    ]
    return sorted(decoded, key=repr)


def batches(obs: list[Observation], size: int) -> Iterator[list[Observation]]:
    for i in range(0, len(obs), size):
        yield obs[i : i + size]


class CommitOrder:
    """A deriver that notes which batch each write transaction held: it runs inside
    the transaction, under the write lock, so its list is the order they committed in.
    (The recorder's history follows the order batches arrive in, as on SQLite: a
    serial run is one in that order.)"""

    def __init__(self) -> None:
        self.order: list[tuple[str, int]] = []
        self.current = threading.local()

    def __call__(self, store: Store, since: int) -> int:
        self.order.append(self.current.batch)
        return 0

    def idle(self, store: Store) -> bool:
        # Asked in place of a call, by a batch holding only what it names.
        self.order.append(self.current.batch)
        return True

    def forget(self) -> None:
        # Others may have noted theirs since: this batch's note goes, wherever it is.
        if self.current.batch in self.order:
            del self.order[len(self.order) - 1 - self.order[::-1].index(self.current.batch)]


def test_four_recorders_at_once_write_the_history_of_a_serial_run(server: Server) -> None:
    """Each recorder holds only the sources and entities of its batch (store/postgres.py):
    the four write at once where their batches name different things, one after the
    other where they name one (a VM that moved, the switch), and the history is the
    one a serial run of the batches gives, in the order they held what they named."""
    per_host = one_switch(fleet(seed=7))
    sent: dict[tuple[str, int], list[Observation]] = {}
    for i, host in enumerate(HOSTS):
        # Each recorder also sends its neighbour's first observations: an observation
        # sent twice must be recorded once.
        neighbour = per_host[HOSTS[(i + 1) % len(HOSTS)]][:3]
        for n, batch in enumerate([neighbour, *batches(per_host[host], 5)]):
            sent[(host, n)] = batch
    url = server.database()
    open_store(url).close()  # migrated once, before the writers race
    errors: list[BaseException] = []
    start = threading.Barrier(len(HOSTS))
    noted = CommitOrder()

    def write(host: str) -> None:
        store = open_store(url)
        store.derivers = [noted]
        try:
            recorder = Recorder(store)
            start.wait()
            for key in sorted(k for k in sent if k[0] == host):
                noted.current.batch = key
                recorder.record(sent[key])
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(h,)) for h in HOSTS]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sorted(noted.order) == sorted(sent)
    # The writers did interleave: no one recorder's batches all came first.
    assert [h for h, _ in noted.order[: len(sent) // 4]] != [noted.order[0][0]] * (len(sent) // 4)

    serial = open_store(server.database())
    try:
        recorder = Recorder(serial)
        for key in noted.order:
            recorder.record(sent[key])
        expected = history(serial)
    finally:
        serial.close()
    concurrent = open_store(url, readonly=True)
    try:
        got = history(concurrent)
        journal = concurrent.conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    finally:
        concurrent.close()
    assert journal == sum(len(obs) for obs in per_host.values())
    assert got == expected


def test_the_cli_records_and_answers_on_a_server(server: Server, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vtrail.cli.main import app
    from vtrail.wire import to_line

    url = server.database()
    lines = tmp_path / "obs.jsonl"
    lines.write_text(
        to_line(
            snap(
                "libvirt:h1",
                0,
                ent("host:h1"),
                ent("vm:web", name="web", state="r"),
                rel("vm:web", "runs_on", "host:h1"),
            )
        )
        + "\n"
    )
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(lines), "--db", url]).exit_code == 0
    where = runner.invoke(
        app, ["where", "web", "--at", "2026-11-20T03:00:01Z", "--db", url, "-o", "json"]
    )
    assert where.exit_code == 0, where.output
    assert '"host": "host:h1"' in where.output


def test_the_api_gives_the_same_answers_from_both_stores(server: Server, tmp_path: Path) -> None:
    """The whole-fabric questions go through the API's worker processes, the short reads
    through the read threads (on the event loop for SQLite): the same documents from a
    SQLite file and from the server."""
    from fastapi.testclient import TestClient

    from api.story import WEB, at, record_story
    from vtrail.api import create_app
    from vtrail.api.deps import Settings

    asks = [
        ("/api/snapshot", {"at": at(10).isoformat()}),
        ("/api/diff", {"from": at(5).isoformat(), "to": at(25).isoformat()}),
        (f"/api/history/{WEB}", {"from": at(0).isoformat()}),
        ("/api/where", {"what": "web-1", "at": at(12).isoformat()}),
        (f"/api/show/{WEB}", {"at": at(12).isoformat()}),
    ]
    answers = []
    for where in (tmp_path / "v.db", Path(server.database())):
        record_story(where)
        with TestClient(create_app(Settings(db=where, workers=1))) as client:
            got = [client.get(url, params=params) for url, params in asks]
        assert [r.status_code for r in got] == [200] * len(asks), [r.text for r in got]
        answers.append([r.json() for r in got])
    assert answers[0] == answers[1]
    assert answers[0][0]["entities"] and answers[0][1]["changed"]
