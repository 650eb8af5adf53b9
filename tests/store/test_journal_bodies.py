"""Journal bodies as keyframes and deltas (store/bodies.py), and retention (`compact`)."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import at, ent, event, rel, sample, snap
from test_recorder_order import history
from vtrail.model import Observation
from vtrail.query.state import stats
from vtrail.recording.ingest import rebuild
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.store.bodies import SEP, SMALL, Keyframe
from vtrail.store.journal import BodiesDropped, Journal
from vtrail.store.sqlite import journal_path
from vtrail.timeexpr import to_us

DAY = 86_400


def vms(n: int, **changed: str) -> list[object]:
    """`n` VMs on two hosts, each with a NIC, a port and counters: a few KB of snapshot."""
    items: list[object] = []
    for i in range(n):
        vm = f"vm:00000000-0000-4000-8000-{i:012x}"
        state = changed.get(f"state{i}", "running")
        items += [
            ent(vm, name=f"web-{i}", state=state, vcpus=2, memory_kib=524288),
            ent(f"nic:{vm[3:]}/52:54:00:00:00:{i:02x}", mac=f"52:54:00:00:00:{i:02x}"),
            rel(vm, "runs_on", f"host:hv-{i % 2}"),
            sample(f"port:hv-{i % 2}/vnet{i}", "rx_bytes", 1000 * i),
        ]
    return items


def body_bytes(store: SqliteStore) -> int:
    return int(store.conn.execute("SELECT sum(length(body)) FROM journal").fetchone()[0])


def texts(store: SqliteStore) -> list[str]:
    return [p for p, _ in Journal(store).entries()]


# -- the codec ------------------------------------------------------------------

pieces = st.lists(st.text(alphabet='ab{}:"0123456789,é', max_size=6), min_size=1, max_size=40)


@given(pieces, st.lists(st.tuples(st.integers(0, 60), st.text(max_size=8)), max_size=12))
def test_a_delta_gives_back_the_very_text(base: list[str], edits: list[tuple[int, str]]) -> None:
    old = SEP.join(base)
    new = list(base)
    for i, piece in edits:  # replace, insert or delete, anywhere
        k = i % (len(new) + 1)
        if i % 3 == 0:
            new.insert(k, piece)
        elif new and i % 3 == 1:
            new[k % len(new)] = piece
        elif new:
            del new[k % len(new)]
    text = SEP.join(new)
    kf = Keyframe(1, 0, old)
    assert kf.apply(kf.delta(text)[0]) == text
    assert kf.apply(kf.delta(old)[0]) == old


# -- appending and reading back, any text, any sources ----------------------------


def h64(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


_stores = itertools.count()
step = st.tuples(
    st.integers(0, 2),  # source
    st.sampled_from(["same", "edit", "grow", "other", "small"]),
    st.integers(0, 10_000),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step, min_size=1, max_size=30))
def test_any_sequence_of_bodies_reads_back_exactly(
    tmp_path: Path, steps: list[tuple[int, str, int]]
) -> None:
    store = SqliteStore(tmp_path / f"p{next(_stores)}.db")
    j = Journal(store)
    last = {s: SEP.join(f'"k{i}":{i}' for i in range(400)) for s in range(3)}
    written: list[str] = []
    try:
        with store.write():
            for n, (s, how, r) in enumerate(steps):
                parts = last[s].split(SEP)
                if how == "edit":
                    parts[r % len(parts)] = f'"v":{r}'
                elif how == "grow":
                    parts[r % len(parts) : r % len(parts)] = [f'"n{r}":{k}' for k in range(r % 50)]
                elif how == "other":
                    parts = [f"{r}-{k}" for k in range(300)]
                text = f"{n}~{r}" if how == "small" else SEP.join(parts)
                if how != "small":
                    last[s] = text
                src = store.source_id(f"s{s}")
                assert j.journal_add(src, "snapshot", n, n, h64(text), text)
                written.append(text)
        assert texts(store) == written
        assert [r.payload for r in sorted(j.journal_since(0), key=lambda r: r.seq)] == written
        with store.write():
            taken = j.journal_take_after(len(written) // 2)
        assert [p for p, _ in taken] == written[len(written) // 2 :]
        assert texts(store) == written[: len(written) // 2]
    finally:
        store.close()


# -- through the recorder -----------------------------------------------------------


def test_an_unchanged_snapshot_costs_a_small_fraction_of_its_text(store: SqliteStore) -> None:
    rec = Recorder(store)
    snaps = [snap("hv", 10 * i, *vms(40)) for i in range(50)]
    for o in snaps:
        rec.record([o])
    text = texts(store)
    assert len(text[0]) > SMALL and len(set(text)) == 50
    # One packed keyframe, then deltas of a few dozen bytes each.
    assert body_bytes(store) < sum(map(len, text)) / 40
    (deltas,) = store.conn.execute("SELECT count(*) FROM journal WHERE base IS NOT NULL").fetchone()
    assert deltas == 49


def test_rebuild_replays_packed_bodies_exactly(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    rec = Recorder(store, checkpoint_min=5)
    stream: list[Observation] = []
    for i in range(30):
        stream.append(snap("hv-a", 10 * i, *vms(30, **{f"state{i % 30}": "paused"})))
        stream.append(snap("hv-b", 10 * i + 1, *vms(20 + i % 3)))
        stream.append(event("hv-a", 10 * i + 5, ent("vm:late", name=f"x{i}")))
    stream.insert(40, stream.pop(70))  # a late arrival, put in place by replay
    for k in range(0, len(stream), 7):
        rec.record(stream[k : k + 7])
    before = texts(store)
    rebuild(store, tmp_path / "rebuilt.db")
    rebuilt = SqliteStore(tmp_path / "rebuilt.db")
    assert history(rebuilt) == history(store)
    assert texts(rebuilt) == before
    rebuilt.close()
    store.close()


def test_duplicates_are_known_also_once_their_body_is_dropped(store: SqliteStore) -> None:
    rec = Recorder(store)
    first = snap("hv", 0, *vms(30))
    assert rec.record([first]).observations == 1
    assert rec.record([first]).duplicates == 1
    rec.record([snap("hv", 3 * DAY, *vms(30, state0="paused"))])  # a delta from `first`
    # Another fabric altogether: a new keyframe, and a delta from it.
    other = [ent(f"vm:other-{i}", name=f"db-{i}", state="running") for i in range(40)]
    rec.record([snap("hv", 4 * DAY, *other)])
    rec.record([snap("hv", 5 * DAY, *other[1:])])
    done = Journal(store).compact(to_us(at(3.5 * DAY)))
    assert done.dropped == 2
    assert rec.record([first]).duplicates == 1
    assert store.conn.execute("SELECT count(*) FROM journal").fetchone() == (4,)


# -- retention ------------------------------------------------------------------------


def days(rec: Recorder, n: int) -> None:
    for d in range(n):
        for k in range(3):
            rec.record([snap("hv", d * DAY + k * 3600, *vms(25, **{f"state{d}": "paused"}))])
            rec.record([event("ev", d * DAY + k * 3600 + 1, ent("vm:e", name=f"e{d}{k}"))])


def test_compact_drops_old_bodies_keeps_history_and_says_the_horizon(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    rec = Recorder(store)
    days(rec, 5)
    past = history(store)
    rows = store.conn.execute("SELECT count(*) FROM journal").fetchone()
    assert stats(store).journal_kept_from is None

    done = Journal(store).compact(to_us(at(3 * DAY)))
    assert done.dropped > 0 and done.horizon == at(3 * DAY)
    assert done.bytes_after < done.bytes_before
    assert history(store) == past
    assert store.conn.execute("SELECT count(*) FROM journal").fetchone() == rows
    kept = store.conn.execute(
        "SELECT count(*) FROM journal WHERE observed_at < ? AND body != x''", (to_us(at(3 * DAY)),)
    ).fetchone()[0]
    assert kept <= 1  # at most the keyframe that later deltas are taken from
    assert stats(store).journal_kept_from == at(3 * DAY)
    assert {s.name: s.observations for s in stats(store).sources} == {"hv": 15, "ev": 15}

    with pytest.raises(BodiesDropped, match=r"^cannot rebuild .*v\.db: the journal bodies"):
        rebuild(store, tmp_path / "rebuilt.db")
    assert not (tmp_path / "rebuilt.db").exists()
    store.close()


def test_a_late_observation_that_would_replay_dropped_bodies_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    rec = Recorder(store)
    days(rec, 5)
    Journal(store).compact(to_us(at(3 * DAY)))
    past = history(store)
    count = store.conn.execute("SELECT count(*) FROM journal").fetchone()

    late = snap("hv", DAY + 60, *vms(25))
    with pytest.raises(BodiesDropped, match=r"^cannot put an observation of .* in its place") as e:
        rec.record([late])
    assert "\n" not in str(e.value)
    assert history(store) == past
    assert store.conn.execute("SELECT count(*) FROM journal").fetchone() == count

    # Late, but after the horizon: replayed as ever.
    assert rec.record([snap("hv", 3 * DAY + 60, *vms(25))]).replays == 1
    store.close()


# -- the migration ------------------------------------------------------------------

OLD_JOURNAL = """
CREATE TABLE journal (
    seq         INTEGER PRIMARY KEY,
    source      INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    hash        INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
CREATE UNIQUE INDEX journal_identity ON journal(observed_at, source, hash);
CREATE INDEX journal_source ON journal(source, observed_at);
"""


def as_before_0009(path: Path) -> None:
    """The store at `path` as vtrail wrote it before 0009_journal_bodies: every body the
    text itself, in `payload`."""
    store = SqliteStore(path)
    rows = store.conn.execute(
        "SELECT seq, source, kind, observed_at, recorded_at, hash FROM journal ORDER BY seq"
    ).fetchall()
    bodies = [p for p, _ in Journal(store).entries()]
    store.close()
    jnl = sqlite3.connect(journal_path(path), isolation_level=None)
    jnl.executescript("DROP TABLE journal; DROP TABLE journal_base; DROP TABLE journal_horizon;")
    jnl.executescript(OLD_JOURNAL)
    jnl.executemany(
        "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*r, b) for r, b in zip(rows, bodies, strict=True)],
    )
    jnl.close()
    main = sqlite3.connect(path, isolation_level=None)
    main.execute("DELETE FROM migration WHERE name = '0009_journal_bodies'")
    main.close()


def test_an_old_journal_is_migrated_exactly_and_packed_by_compact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    rec = Recorder(store)
    for i in range(20):
        rec.record([snap("hv", 10 * i, *vms(30)), event("hv", 10 * i + 5, ent("vm:x", n=i))])
    want, past = texts(store), history(store)
    store.close()
    as_before_0009(path)

    ro = SqliteStore(path, readonly=True)  # read as it is, not migrated
    assert texts(ro) == want
    ro.close()
    # A crash after the journal's file was converted and before the migration was
    # recorded: the conversion runs again.
    from vtrail.store.migrations import MIGRATIONS

    (m,) = [m for m in MIGRATIONS if m.name == "0009_journal_bodies"]
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("ATTACH DATABASE ? AS jnl", (str(journal_path(path)),))
    assert m.prepare_fn is not None
    c.execute("BEGIN IMMEDIATE")
    m.prepare_fn(c)
    c.execute("COMMIT")
    c.close()

    store = SqliteStore(path)
    assert "0009_journal_bodies" in [n for n, _ in store.migrations()]
    assert texts(store) == want and history(store) == past
    assert store.conn.execute(
        "SELECT count(*) FROM journal WHERE typeof(body) = 'blob'"
    ).fetchone() == (0,)

    size = body_bytes(store)
    done = Journal(store).compact(None)
    assert done.packed == 20 and done.dropped == 0 and done.horizon is None
    assert body_bytes(store) < size / 10
    assert texts(store) == want
    # Appends go on from the packed journal; a rebuild replays it whole.
    Recorder(store).record([snap("hv", 500, *vms(30))])
    rebuild(store, tmp_path / "rebuilt.db")
    rebuilt = SqliteStore(tmp_path / "rebuilt.db")
    assert history(rebuilt) == history(store) and texts(rebuilt) == texts(store)
    rebuilt.close()
    store.close()


# -- the command ----------------------------------------------------------------------


def test_vtrail_compact_and_stats(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from vtrail.cli.main import app

    path = tmp_path / "v.db"
    store = SqliteStore(path)
    now = datetime.now(UTC).replace(microsecond=0)
    rec = Recorder(store)
    for d in (9, 8, 2, 1):
        t = now - timedelta(days=d)
        rec.record([snap("hv", (t - at(0)).total_seconds(), *vms(20)[0::4])])
    store.close()
    cli = CliRunner()
    bad = cli.invoke(app, ["compact", "--keep-days", "-1", "--db", str(path)])
    assert bad.exit_code == 2 and "--keep-days must be 0 or more" in bad.output

    out = cli.invoke(app, ["compact", "--keep-days", "5", "--db", str(path)])
    assert out.exit_code == 0, out.output
    assert "dropped 1;" in out.output and "replayable from" in out.output
    js = json.loads(cli.invoke(app, ["stats", "-o", "json", "--db", str(path)]).output)
    kept = datetime.fromisoformat(js["journal_kept_from"])
    assert abs(kept - (now - timedelta(days=5))) < timedelta(minutes=5)
    text = cli.invoke(app, ["stats", "--db", str(path)]).output
    assert "replayable  from" in text

    refused = cli.invoke(app, ["rebuild", "--db", str(path)])
    assert refused.exit_code == 1
    assert "cannot rebuild" in refused.output and "dropped by vtrail compact" in refused.output


def test_every_option_of_compact_is_documented() -> None:
    import typer.main

    from vtrail.cli.main import app

    docs = (Path(__file__).parents[2] / "docs" / "record.md").read_text()
    command = typer.main.get_command(app).commands["compact"]  # type: ignore[attr-defined]
    flags = [opt for p in command.params for opt in p.opts if opt.startswith("--")]
    assert flags and all(f"`{flag}" in docs for flag in flags if flag != "--help"), flags


def test_the_api_refuses_such_a_late_observation_with_409_and_metrics_say_the_horizon(
    tmp_path: Path,
) -> None:
    import json

    from fastapi.testclient import TestClient

    from vtrail.api import Settings, create_app
    from vtrail.store import tokens
    from vtrail.wire import to_dict

    db = tmp_path / "v.db"
    store = SqliteStore(db)
    days(Recorder(store), 5)
    Journal(store).compact(to_us(at(3 * DAY)))
    _, writer = tokens.create(store, "writer", "ci")
    store.close()
    with TestClient(create_app(Settings(db=db))) as c:
        late = json.dumps(to_dict(snap("hv", DAY + 60, *vms(25))))
        r = c.post("/api/observations", content=late, headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"].startswith("cannot put an observation of ")
        metrics = c.get("/metrics").text
    (line,) = [x for x in metrics.splitlines() if x.startswith("vtrail_journal_replayable")]
    assert float(line.split()[1]) == to_us(at(3 * DAY)) / 1e6
