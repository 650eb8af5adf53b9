"""The atheris harness runs: a short coverage-guided run from the seeds finds nothing.

Skipped where atheris is not installed (it is in the dev extras; docs/fuzzing.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HERE = Path(__file__).parent


def test_a_short_fuzzing_run_finds_no_crash(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "fuzz_ingest.py"),
            "-atheris_runs=1500",
            "-max_len=4096",
            "-timeout=20",
            str(corpus),
            str(HERE / "seeds"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 1500 in" in done.stderr, done.stderr[-3000:]
