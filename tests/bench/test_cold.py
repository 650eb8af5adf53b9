"""bench/cold.py at its quick size: every short read is timed warm and cold, and answers
alike both ways (the run stops on a read answered two ways or declined)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.slow


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import cold
    import peers

    return cold, peers


def test_the_quick_run_times_every_read_warm_and_cold(
    cold: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench, peers = cold
    times = bench.run(peers.QUICK, tmp_path, rounds=2)
    assert set(times) == {(k, s) for k in ("where", "host") for s in ("warm", "cold")}
    for (kind, _), us in times.items():
        assert len(us) == 2 * (peers.QUICK.where if kind == "where" else peers.QUICK.host)
        assert all(u > 0 for u in us)
    bench.report(times)
    out = capsys.readouterr().out
    assert "where                  cold" in out and "show of a host         warm" in out


def test_a_read_the_route_would_refuse_stops_the_run(
    cold: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, peers = cold
    monkeypatch.setattr(bench.ShortReads, "body", lambda *_: None)
    with pytest.raises(SystemExit, match="declined"):
        bench.run(peers.QUICK, tmp_path, rounds=1)


def test_a_run_names_the_python_it_ran_on(cold: Any) -> None:
    """Its build moves every figure: the bench says which one ran, from this process's
    own mappings (a pyenv build goes through libpython's shared library)."""
    import platform
    import sys

    import serve

    said = serve.interpreter()
    assert said.startswith(f"{sys.executable}: Python {platform.python_version()}, ")
    assert said.endswith(("shared library", "one executable"))
