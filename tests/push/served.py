"""What the push tests share: a real `vtrail serve` (in a thread, or a process of its own),
a writer token, known observations, and the store's journal counted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from factory import ent, event, rel, sample, snap
from test_recorder_order import history
from vtrail.api import Settings, create_app
from vtrail.model import Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, open_store
from vtrail.store import tokens as token_store
from vtrail.wire import to_line

SRC = Path(__file__).resolve().parents[2] / "src"


def writer_token(db: Path | str) -> str:
    store = open_store(str(db))
    try:
        return token_store.create(store, "writer", "collector")[1]
    finally:
        store.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def served(db: Path, port: int = 0, max_body: int | None = None) -> Iterator[str]:
    """`vtrail serve`'s app on loopback in a thread of this process; its base URL."""
    settings = Settings(db=db) if max_body is None else Settings(db=db, max_body=max_body)
    app = create_app(settings)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def vtrail(*args: str) -> list[str]:
    """`vtrail ARGS` as a command line run by this Python (for processes of their own)."""
    return [sys.executable, "-c", "from vtrail.cli.main import main; main()", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}


@contextmanager
def serve_process(db: Path, host: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`vtrail serve` as a process of its own, bound to `host`."""
    proc = subprocess.Popen(
        vtrail("serve", "--db", str(db), "--host", host, "--port", str(port)),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _listening(host, port) or proc.poll() is not None, 60)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "serve exited"
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_until(ok: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return True
        time.sleep(every)
    return ok()


def observations(host: str, start: int, count: int) -> list[Observation]:
    """`count` known observations of one source, `push@HOST`, one second apart from
    second `start`: VMs coming and changing, a counter read each time, a snapshot every
    tenth, so that their history is more than one row per observation."""
    source = f"push@{host}"
    out = []
    for i in range(start, start + count):
        vm = f"vm:{host}-{i % 7}"
        if i % 10 == 9:
            vms = [ent(f"vm:{host}-{k}", step=i) for k in range(i % 7)]
            out.append(snap(source, i, ent(f"host:{host}"), *vms))
        else:
            out.append(
                event(
                    source,
                    i,
                    ent(vm, step=i, state="running" if i % 3 else "paused"),
                    rel(vm, "runs_on", f"host:{host}"),
                    sample(vm, "cpu_ns", 1000 * i),
                )
            )
    return out


def append(path: Path, obs: list[Observation]) -> None:
    with path.open("a") as f:
        f.writelines(f"{to_line(o)}\n" for o in obs)


def journaled(db: Path | str) -> dict[str, int]:
    """Observations in the store's journal, per source."""
    store = open_store(str(db), readonly=True)
    try:
        rows = store.conn.execute(
            "SELECT s.name, count(*) FROM jnl.journal j JOIN source s ON s.id = j.source "
            "GROUP BY s.name"
        ).fetchall()
        return {str(name): int(n) for name, n in rows}
    finally:
        store.close()


def duplicates_counted(url: str, token: str) -> float:
    """`vtrail_observations_duplicate_total` of the server at `url`."""
    import httpx2

    text = httpx2.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    for line in text.splitlines():
        if line.startswith("vtrail_observations_duplicate_total "):
            return float(line.split()[1])
    raise AssertionError("no duplicate counter in /metrics")


@dataclass
class Fed:
    """What a test wrote to a file source, to compare the store with."""

    path: Path
    written: list[Observation]


def serial_history(tmp_path: Path, obs: list[Observation]) -> tuple[list[object], ...]:
    """The history of `obs` recorded in one batch into a store of its own."""
    store = SqliteStore(tmp_path / "serial.db")
    try:
        Recorder(store).record(obs)
        return history(store)
    finally:
        store.close()


def store_history(db: Path) -> tuple[list[object], ...]:
    store = SqliteStore(db, readonly=True)
    try:
        return history(store)
    finally:
        store.close()
