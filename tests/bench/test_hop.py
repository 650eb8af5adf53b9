"""bench/hop.py at its quick size: every server answers every `where` in both orders, and
vtrail's three servers (the read in its thread, twice, and on the loop) answer with the
same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="Debian's prometheus package (prometheus, promtool) is not installed; "
        "scripts/install.sh installs it, so CI has it",
    ),
]


@pytest.fixture
def hop(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import hop
    import peers

    return hop, peers


def test_the_quick_run_times_every_server_with_both_clients(hop: Any, tmp_path: Path) -> None:
    bench, peers = hop
    orders = bench.run(peers.QUICK, tmp_path)
    assert list(orders) == [bench.IN_TURNS, bench.DRAWN]
    servers = ("vtrail serve", "vtrail, read on the loop", "vtrail serve, again", "Prometheus")
    for times in orders.values():
        assert set(times) == {(s, c) for s in servers for c in ("httpx2", "bare socket")}
        assert {len(ms) for ms in times.values()} == {peers.QUICK.where}
        assert all(m > 0 for ms in times.values() for m in ms)


def test_the_hop_alone_is_timed_three_ways(hop: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench, _ = hop
    bench.hops(20)
    out = capsys.readouterr().out
    for way in ("vtrail's read threads", "asyncio run_in_executor", "anyio to_thread.run_sync"):
        line = next(x for x in out.splitlines() if x.startswith(way))
        assert all(float(f) > 0 for f in line[len(way) :].split()), line


def test_the_control_can_serve_the_code_of_a_revision(hop: Any, tmp_path: Path) -> None:
    """`--code REV`: the control is `vtrail serve` run from the `src/` of that commit
    (extracted by git archive), and answers the same questions with the same bytes."""
    bench, peers = hop
    orders = bench.run(peers.QUICK, tmp_path, "HEAD")
    name = bench.control_name("HEAD")
    assert name == "vtrail serve at HEAD"
    for times in orders.values():
        assert {len(times[(name, c)]) for c in ("httpx2", "bare socket")} == {peers.QUICK.where}
        assert ("vtrail serve, again", "httpx2") not in times
