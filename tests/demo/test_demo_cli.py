"""`vtrail demo` as a user runs it: without root, and interrupted with Ctrl-C as root."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app
from vtrail.demo import fabric

OURS = re.compile(r"^vt[0-9a-f]{4}-(sw|rt|h1|h2|h3)$")


def test_without_root_it_says_so_and_tours_the_libvirt_part(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fabric, "is_root", lambda: False)
    # A temporary folder of its own: another demo running at once makes its work
    # directory in the shared one, and must not be taken for this one's.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    dirs_before = _workdirs()
    db = tmp_path / "d.db"
    result = CliRunner().invoke(app, ["demo", "--minutes", "0.2", "--db", str(db)])
    out = result.output
    assert result.exit_code == 0, out
    assert "not root" in out
    assert "migrate  web-1" in out
    # The tour's answers come from the store: web-1 was on hv-a, then on hv-b.
    before, after = out.split("… and at the end of the story")
    assert "host     host:hv-a" in before.split("Where was web-1")[1]
    assert "host     host:hv-b" in after
    assert "What changed over the story" in out
    # The fabric's policy is recorded first, then checked over the story: both breaks.
    assert "the fabric's policy is in force: 6 services, 2 domains, 4 rules\n" in out
    checked = " ".join(out.split("Did the fabric keep its policy")[1].split())
    assert "db-apart for" in checked and "(db-1 and db-2 both on hv-c)" in checked
    assert "batch-off-front for" in checked and "no poller would have seen it" in checked
    assert "Inside db-apart's violation" in checked and "3 hold, 1 violated" in checked
    assert "ghost bridge" not in out  # no network part without root
    assert db.exists(), "a store named with --db is kept"
    assert _workdirs() == dirs_before, "the work directory is removed"


def test_an_existing_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    db.write_text("precious")
    result = CliRunner().invoke(app, ["demo", "--quick", "--db", str(db)])
    assert result.exit_code == 2 and db.read_text() == "precious"


def _workdirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{fabric.WORK_PREFIX}*"))


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: builds network namespaces")
def test_ctrl_c_removes_everything_it_made() -> None:
    ns_before = {n for n in fabric.list_netns() if OURS.match(n)}
    dirs_before = _workdirs()
    # As at a terminal: a suite started in the background of a script has SIGINT
    # ignored, and so would the demo, which then never sees a Ctrl-C. A signal this
    # process catches is back to its default in the child.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "vtrail"), "demo", "--quick"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        signal.signal(signal.SIGINT, ignored)
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 30
        while "the story begins" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "the story begins" in seen, seen
        made = {n for n in fabric.list_netns() if OURS.match(n)} - ns_before
        workdirs = _workdirs() - dirs_before
        assert len(made) == 5 and workdirs, (made, workdirs)  # the fabric's and the store's
        time.sleep(3)  # into the story
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:  # a failed assertion must not leave a demo running
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=40)
    assert proc.returncode == 130, seen + rest
    assert "interrupted" in rest
    assert made.isdisjoint(fabric.list_netns())
    assert not any(d.exists() for d in workdirs)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert not any(str(d) in ps.stdout for d in workdirs), "a daemon of the demo outlived it"


def test_every_option_is_documented() -> None:
    import typer.main

    docs = (Path(__file__).parents[2] / "docs" / "demo.md").read_text()
    command = typer.main.get_command(app).commands["demo"]  # type: ignore[attr-defined]
    flags = [opt for p in command.params for opt in p.opts if opt.startswith("--")]
    assert flags and all(f"`{flag}" in docs for flag in flags if flag != "--help"), flags
