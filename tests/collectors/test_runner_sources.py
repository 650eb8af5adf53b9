"""`--source` parsing, and `file:PATH.jsonl` followed by the runner."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vtrail.query import state
from vtrail.recording.runner import Runner, SourceGroup, SourceSpec
from vtrail.recording.sources import BadSource, parse_source, parse_sources
from vtrail.store import SqliteStore

T = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def wait_for(pred: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("uri", "kind", "name"),
    [
        ("libvirt+test:///default", SourceSpec, "libvirt+test:///default"),
        ("libvirt+qemu:///system", SourceSpec, "libvirt+qemu:///system"),
        ("libvirt+test:///tmp/host.xml@hv-a", SourceSpec, "libvirt+test:///tmp/host.xml@hv-a"),
        ("netlink", SourceGroup, "netlink"),
        ("netlink:vtsw", SourceGroup, "netlink:vtsw"),
        ("ovs+unix:/run/openvswitch/db.sock", SourceSpec, "ovs+unix:/run/openvswitch/db.sock"),
        ("file:/var/tmp/obs.jsonl", SourceSpec, "file:/var/tmp/obs.jsonl"),
    ],
)
def test_each_documented_form_parses(uri: str, kind: type, name: str) -> None:
    spec = parse_source(uri)
    assert isinstance(spec, kind)
    assert spec.uri == name


def test_file_paths_are_made_absolute() -> None:
    spec = parse_source("file:obs.jsonl")
    assert spec.uri == f"file:{Path.cwd() / 'obs.jsonl'}"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("libvirt:qemu", "unknown source"),
        ("libvirt+qemu", "not a libvirt URI"),
        ("ovs+unix:relative.sock", "absolute"),
        ("netlink:a/b", "bad network namespace"),
        ("file:", "needs a path"),
        ("http://x", "expected one of"),
    ],
)
def test_bad_forms_say_what_is_expected(uri: str, says: str) -> None:
    with pytest.raises(BadSource, match=says):
        parse_source(uri)


def test_the_same_source_twice_is_recorded_once() -> None:
    specs = parse_sources(["netlink", "file:/a.jsonl", "netlink"])
    assert [s.uri for s in specs] == ["netlink", "file:/a.jsonl"]


def line(name: str, seconds: int, *, source: str = "push:test") -> str:
    obs = {
        "source": source,
        "observed_at": (T + timedelta(seconds=seconds)).isoformat(),
        "kind": "event",
        "entities": [{"id": f"vm:{name}", "attrs": {"name": name}}],
    }
    return json.dumps(obs) + "\n"


def test_a_file_is_read_then_followed_through_rotation_and_bad_lines(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "obs.jsonl"
    path.write_text(line("one", 1) + "not json\n")
    spec = parse_source(f"file:{path}")
    assert isinstance(spec, SourceSpec) and not spec.reconcile
    runner = Runner(store, [spec], interval=0.2, backoff_initial=0.05, backoff_cap=0.2)
    runner.start()
    try:
        wait_for(lambda: runner.stats().writer.recorded == 1, what="the first line")
        src = runner.stats().sources[0]
        assert src.last_error is not None and "line 2" in src.last_error
        with path.open("a") as f:
            f.write(line("two", 2)[:20])  # half a line: must wait for the rest
            f.flush()
            time.sleep(0.4)
            assert runner.stats().writer.recorded == 1
            f.write(line("two", 2)[20:])
        wait_for(lambda: runner.stats().writer.recorded == 2, what="the appended line")
        # Rotation: a new file under the same name is read from its start.
        rotated = tmp_path / "obs.jsonl.1"
        path.rename(rotated)
        path.write_text(line("three", 3))
        wait_for(lambda: runner.stats().writer.recorded == 3, what="the rotated file")
        # Truncation in place (noticed, as by tail -F, while the file is shorter than
        # what was read): read again from the start; the duplicate changes nothing.
        os.truncate(path, 0)
        time.sleep(0.5)
        path.write_text(line("three", 3) + line("four", 4))
        wait_for(lambda: runner.stats().writer.recorded == 5, what="after truncation")
    finally:
        st = runner.stop()
    assert st.writer.duplicates == 1
    assert st.sources[0].disconnects == 0 and st.sources[0].snapshots == 0
    for name in ("one", "two", "three", "four"):
        assert state.where(store, name, T + timedelta(seconds=10)).alive


def test_a_missing_file_is_waited_for(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    runner = Runner(store, [parse_source(f"file:{path}")], backoff_initial=0.05, backoff_cap=0.1)
    runner.start()
    try:
        wait_for(lambda: runner.stats().sources[0].last_error, what="the error")
        assert "no such file" in (runner.stats().sources[0].last_error or "")
        path.write_text(line("late", 1))
        wait_for(lambda: runner.stats().writer.recorded == 1, what="the late file")
    finally:
        runner.stop()


class _Counting:
    """`time` for the runner, counting how often it reads the clock."""

    def __init__(self) -> None:
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        return time.monotonic()

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def test_a_followed_file_waits_between_intervals_instead_of_spinning(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A source without snapshots once never re-armed its interval: after the first
    # one its supervisor looped without waiting, taking a core from the writer.
    path = tmp_path / "obs.jsonl"
    path.write_text(line("one", 1))
    clock = _Counting()
    monkeypatch.setattr("vtrail.recording.runner.time", clock)
    runner = Runner(store, [parse_source(f"file:{path}")], interval=0.05)
    runner.start()
    try:
        wait_for(lambda: runner.stats().writer.recorded == 1, what="the line")
        time.sleep(0.5)  # ten intervals
    finally:
        runner.stop()
    assert clock.reads < 1000


def test_a_files_parsed_lines_are_not_checked_twice(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vtrail.recording.writer as writer

    checked: list[object] = []
    real = writer.check
    monkeypatch.setattr(writer, "check", lambda o: checked.append(o) or real(o))
    path = tmp_path / "obs.jsonl"
    path.write_text(line("one", 1) + line("two", 2))
    runner = Runner(store, [parse_source(f"file:{path}")])
    runner.start()
    try:
        wait_for(lambda: runner.stats().writer.recorded == 2, what="the lines")
    finally:
        runner.stop()
    assert checked == []
    assert state.where(store, "two", T + timedelta(seconds=10)).alive
