"""`vtrail record` as a command: options, --for, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from vtrail.cli.main import app
from vtrail.query import state
from vtrail.store import SqliteStore

T = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def write_obs(path: Path, *names: str) -> None:
    with path.open("a") as f:
        for i, name in enumerate(names):
            obs = {
                "source": "push:cli-test",
                "observed_at": (T + timedelta(seconds=i)).isoformat(),
                "kind": "event",
                "entities": [{"id": f"vm:{name}", "attrs": {"name": name}}],
            }
            f.write(json.dumps(obs) + "\n")


def test_for_stops_by_itself_after_recording(tmp_path: Path) -> None:
    src, db = tmp_path / "obs.jsonl", tmp_path / "r.db"
    write_obs(src, "alpha", "beta")
    args = ["record", "-s", f"file:{src}", "--for", "1s", "--interval", "1s", "--db", str(db)]
    started = time.monotonic()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert 1.0 <= time.monotonic() - started < 10
    assert "recorded 2 observations" in result.output
    store = SqliteStore(db, readonly=True)
    try:
        assert state.where(store, "beta", T + timedelta(minutes=1)).alive
    finally:
        store.close()


def test_bad_arguments_fail_before_anything_starts(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    for args, says in (
        (["-s", "gopher://x"], "unknown source"),
        (["-s", "netlink", "--interval", "soon"], "--interval"),
        (["-s", "netlink", "--interval", "0s"], "more than zero"),
        (["-s", "netlink", "--for", "ages"], "--for"),
    ):
        result = CliRunner().invoke(app, ["record", *args, "--db", str(db)])
        assert result.exit_code == 2, (args, result.output)
        assert says in result.output
    assert not db.exists()


def test_sigterm_flushes_and_exits_cleanly(tmp_path: Path) -> None:
    src, db = tmp_path / "obs.jsonl", tmp_path / "r.db"
    write_obs(src, "first")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "vtrail"),
            "record",
            "-s",
            f"file:{src}",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    # Not a terminal: one line per state change ("connecting", then "connected").
    seen = ""
    while not seen.endswith(": connected\n"):
        seen = proc.stdout.readline()
        assert seen, "vtrail record ended before connecting"
    write_obs(src, "just-before-the-stop")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "recorded 2 observations" in out
    store = SqliteStore(db, readonly=True)
    try:
        assert state.where(store, "just-before-the-stop", T + timedelta(minutes=1)).alive
    finally:
        store.close()


def test_every_option_is_documented() -> None:
    import typer.main

    docs = (Path(__file__).parents[2] / "docs" / "record.md").read_text()
    command = typer.main.get_command(app).commands["record"]  # type: ignore[attr-defined]
    flags = [opt for p in command.params for opt in p.opts if opt.startswith("--")]
    assert flags and all(f"`{flag}" in docs for flag in flags if flag != "--help"), flags
