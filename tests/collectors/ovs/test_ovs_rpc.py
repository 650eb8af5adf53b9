"""The one-shot JSON-RPC client in `get`, against scripted fake servers.

ovsdb-server never splits its replies at awkward places on purpose, so these
servers do: the client must find message ends without any delimiter.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vtrail.collectors.base import SourceError
from vtrail.collectors.ovs import get

RESULT = [{"rows": [{"_uuid": ["uuid", "u"], "name": "a}b", "options": ["map", [["k", "}"]]]}]}]


def _read_message(conn: socket.socket) -> dict[str, object]:
    buf, decoder = "", json.JSONDecoder()
    while True:
        buf += conn.recv(65536).decode()
        try:
            msg, _ = decoder.raw_decode(buf)
        except json.JSONDecodeError:
            continue
        assert isinstance(msg, dict)
        return msg


@pytest.fixture
def fake_server(ovs_dir: Path) -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []
    errors: list[BaseException] = []

    def start(script: Callable[[socket.socket], None]) -> str:
        path = str(ovs_dir / "fake.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listeners.append(listener)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn:
                    script(conn)
            except BaseException as e:  # surfaced at teardown: a server-side assert
                errors.append(e)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        threads.append(t)
        return path

    yield start
    for t in threads:
        t.join(2)
    for listener in listeners:
        listener.close()
    if errors:
        raise errors[0]


def test_split_replies_and_echo_requests(fake_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        req = _read_message(conn)
        assert req["method"] == "transact"
        conn.sendall(b'{"method":"echo","params":["x"],"id":"echo"}')
        assert _read_message(conn) == {"result": ["x"], "error": None, "id": "echo"}
        reply = json.dumps({"id": req["id"], "result": RESULT, "error": None}).encode()
        # Cut right after every '}' so each piece looks like a possible end.
        cuts = [i + 1 for i, c in enumerate(reply) if c == ord("}")]
        for start, end in zip([0, *cuts], cuts, strict=False):
            conn.sendall(reply[start:end])
            time.sleep(0.005)

    assert get.call(fake_server(script), "transact", [], 2) == RESULT


def test_an_error_reply_is_a_source_error(fake_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        req = _read_message(conn)
        conn.sendall(json.dumps({"id": req["id"], "result": None, "error": "unknown db"}).encode())

    with pytest.raises(SourceError, match="refused get_schema: unknown db"):
        get.call(fake_server(script), "get_schema", ["x"], 2)


def test_a_silent_server_times_out(fake_server: Callable[..., str]) -> None:
    done = threading.Event()
    path = fake_server(lambda conn: done.wait(3))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"did not answer transact within 0\.3 s"):
        get.call(path, "transact", [], 0.3)
    assert time.monotonic() - started < 1
    done.set()


def test_a_server_that_hangs_up_midway(fake_server: Callable[..., str]) -> None:
    def script(conn: socket.socket) -> None:
        _read_message(conn)
        conn.sendall(b'{"id": 1, "result": [{"rows": [')

    with pytest.raises(SourceError, match="closed the connection during transact"):
        get.call(fake_server(script), "transact", [], 2)
