"""`vtrail record --push` against a real server on loopback (uvicorn in a thread of the
test): the history it gives equals a local recording, a restart sends the spool first,
a malformed batch is set aside and not sent again, a lost reply is not recorded twice,
and a full spool makes the sources wait."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from push.served import (
    append,
    duplicates_counted,
    free_port,
    journaled,
    observations,
    serial_history,
    served,
    store_history,
    wait_until,
    writer_token,
)
from vtrail.cli.main import app
from vtrail.model import Observation
from vtrail.recording.push import PushWriter
from vtrail.recording.runner import Runner
from vtrail.recording.sources import parse_source
from vtrail.recording.spool import Spool
from vtrail.wire import to_line

FAST = {"backoff_initial": 0.05, "backoff_cap": 0.3, "timeout": 5.0}


def test_the_pushed_history_equals_a_serial_recording(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    token = writer_token(db)
    feed = tmp_path / "feed.jsonl"
    obs = observations("hv-a", 0, 300)
    append(feed, obs[:150])
    with served(db) as url:
        writer = PushWriter(url, token, Spool(tmp_path / "spool", 1 << 20), max_batch=40, **FAST)
        runner = Runner(writer, [parse_source(f"file:{feed}")], interval=0.2)
        runner.start()
        append(feed, obs[150:])
        assert wait_until(lambda: journaled(db).get("push@hv-a") == 300, 30)
        st = runner.stop()
    assert st.writer.recorded == 300 and st.writer.batches >= 300 // 40
    assert store_history(db) == serial_history(tmp_path, obs)


def test_a_restarted_collector_sends_its_spool_first(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    token = writer_token(db)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    append(first, observations("hv-a", 0, 50))
    append(second, observations("hv-b", 0, 20))
    spool = tmp_path / "spool"
    args = ["record", "--push", url, "--token", token, "--spool", str(spool), "-q"]
    # Nothing listens yet: the batches wait in the spool.
    down = CliRunner().invoke(app, [*args, "--source", f"file:{first}", "--for", "1s"])
    assert down.exit_code == 0, down.output
    assert "pushed 0 observations" in down.output and "50 left in the spool" in down.output
    assert list(spool.glob("*.jsonl"))
    with served(db, port=port):
        # Another file this time: what the first run read comes from its spool alone.
        up = CliRunner().invoke(app, [*args, "--source", f"file:{second}", "--for", "2s"])
    assert up.exit_code == 0, up.output
    assert "pushed 70 observations" in up.output, up.output
    assert journaled(db) == {"push@hv-a": 50, "push@hv-b": 20}
    assert not list(spool.glob("*.jsonl"))


@pytest.mark.parametrize(
    ("status", "reason"),
    [(422, "line 2: "), (413, "exceeds the 4,000-byte limit")],
)
def test_a_batch_the_server_refuses_as_malformed_is_set_aside_not_sent_again(
    tmp_path: Path, status: int, reason: str
) -> None:
    db = tmp_path / "central.db"
    token = writer_token(db)
    spool = Spool(tmp_path / "spool", 1 << 20)
    good = [to_line(o) for o in observations("hv-a", 0, 40)]
    if status == 422:
        refused = f"{good[0]}\n" + '{"source": "push@hv-a"}\n'
    else:
        refused = "".join(f"{line}\n" for line in good)  # more than the server takes
    spool.append(refused.encode(), 2 if status == 422 else 40)
    spool.append(f"{good[1]}\n".encode(), 1)
    with served(db, max_body=4000) as url:
        writer = PushWriter(url, token, spool, **FAST)
        writer.start()
        assert writer.flush(30)
        st = writer.stats()
        writer.close(5)
    assert st.quarantined == 1 and st.recorded == 1
    assert st.error is not None and "\n" not in st.error
    assert f"batch 1 ({2 if status == 422 else 40} observations) refused" in st.error
    assert str(status) in st.error and reason in st.error
    kept = spool.quarantined()
    assert [p.name for p in kept] == ["0000000000000001.jsonl"]
    assert kept[0].with_suffix(".why").read_text().startswith(f"{status} ")
    assert journaled(db) == {"push@hv-a": 1}


class DropFirstReply:
    """A TCP relay to the server that closes the first connection as the server's reply
    begins: the server has committed the batch, the collector never hears so."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            drop = self.dropped == 0
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, drop), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, drop: bool) -> None:
        try:
            while data := src.recv(65536):
                if drop:
                    self.dropped += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()


def test_a_batch_whose_reply_was_lost_is_sent_again_and_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    token = writer_token(db)
    obs = observations("hv-a", 0, 30)
    with served(db) as url:
        relay = DropFirstReply(int(url.rsplit(":", 1)[1]))
        writer = PushWriter(
            f"http://127.0.0.1:{relay.port}", token, Spool(tmp_path / "spool", 1 << 20), **FAST
        )
        writer.start()
        for o in obs:
            writer.put(o)
        assert writer.flush(30)
        st = writer.stats()
        writer.close(5)
        assert duplicates_counted(url, token) == 0
    assert relay.dropped == 1
    assert st.replayed == 1 and st.recorded == 30
    assert journaled(db) == {"push@hv-a": 30}


@contextmanager
def putting(writer: PushWriter, obs: list[Observation]) -> Iterator[threading.Thread]:
    t = threading.Thread(target=lambda: [writer.put(o) for o in obs], daemon=True)
    t.start()
    yield t
    t.join(30)


def test_a_full_spool_makes_the_sources_wait_and_drops_nothing(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    token = writer_token(db)
    port = free_port()
    obs = observations("hv-a", 0, 60)
    spool = Spool(tmp_path / "spool", 1)  # one batch fills it
    writer = PushWriter(f"http://127.0.0.1:{port}", token, spool, queue_size=5, max_batch=5, **FAST)
    writer.start()
    with putting(writer, obs) as sender:
        time.sleep(1.0)
        # The server is away: one batch spooled, the queue full, the source held.
        assert sender.is_alive()
        assert spool.counts()[0] == 1
        with served(db, port=port):
            assert writer.flush(30)
            writer.close(5)
    assert not sender.is_alive()
    assert writer.stats().dropped == 0
    assert journaled(db) == {"push@hv-a": 60}


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--push", "ftp://hub", "--token", "t"], 2, "is not an http:// or https:// URL"),
        (["--push", "http://"], 2, "is not an http:// or https:// URL"),
        (["--push", "http://hub:8421/?x=1", "--token", "t"], 2, "without a query"),
        (["--push", "http://hub:8421"], 2, "needs a writer token of that server"),
        (["--push", "http://hub:8421", "--token", "t", "-s", "probe"], 2, "cannot be pushed"),
    ],
)
def test_a_push_that_cannot_work_stops_before_it_starts_in_one_line(
    tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.touch()
    done = CliRunner().invoke(
        app,
        ["record", "-s", f"file:{feed}", "--spool", str(tmp_path / "spool"), *args],
        env={"VTRAIL_TOKEN": "", "COLUMNS": "200"},
    )
    assert done.exit_code == code, done.output
    assert says in done.output and len(done.output.strip().splitlines()) == 1, done.output
    assert not (tmp_path / "spool").exists()


def test_a_spool_in_use_by_another_collector_is_refused(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.touch()
    held = Spool(tmp_path / "spool", 1 << 20)
    try:
        done = CliRunner().invoke(
            app,
            ["record", "-s", f"file:{feed}", "--push", "http://127.0.0.1:9", "--token", "t",
             "--spool", str(tmp_path / "spool"), "--for", "1s"],
            env={"COLUMNS": "200"},
        )  # fmt: skip
    finally:
        held.close()
    assert done.exit_code == 1
    assert "is in use by another vtrail record" in done.output
