"""A few seconds of bench/soak.py: nothing lost, doubled or different (no times asserted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def soak(monkeypatch: pytest.MonkeyPatch) -> Any:
    # Its readers are spawned processes that import the bench by name: bench/ must be
    # on the path they inherit.
    monkeypatch.syspath_prepend(str(BENCH))
    import soak

    return soak


@pytest.mark.slow
def test_a_short_soak_records_every_line_once_and_the_history_of_a_serial_ingest(
    soak: Any, tmp_path: Path
) -> None:
    rates = {"where": 5.0, "snapshot": 1.0, "diff": 1.0}
    r = soak.soak(
        300, 2.0, interval=1.0, rates=rates, directory=tmp_path, baseline=False, quiet=True
    )
    assert r.written > 0 and r.drained
    assert (r.journal.missing, r.journal.doubled, r.journal.unknown) == (0, 0, 0)
    assert r.history.difference is None and r.history.rows[0] > 0
    assert r.reader_errors == [] and r.recorder_exit == 0
    # The readers asked, and their answers were counted in the run's intervals.
    assert all(any(q in iv.latency for iv in r.intervals) for q in rates)
