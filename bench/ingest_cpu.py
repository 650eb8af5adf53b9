"""Recorder ingest in CPU time, so that a busy machine does not blur it.

The event stream of bench/record.py (one VM's state changing per event,
batches of 10,000) is recorded into a store that already holds 100,000
versions; the figure is events per CPU-second, best of three rounds. It is
given as recorded (every observation held to the format's rules first, as a
collector's are), as recorded with validation skipped (what an already parsed
file costs), and, with `--before SRC`, by another tree of vtrail (e.g. a
`git worktree` of an older commit) in a child process, in the same run.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import stream as stream_of  # the same event stream as bench/record.py

ROUNDS = 3
BATCH = 10_000
PER_ROUND = 5


def recorder_class() -> type:
    try:
        from vtrail.recording.recorder import Recorder
    except ImportError:  # a tree from before recording/ was a package
        from vtrail.recorder import Recorder  # type: ignore[no-redef]
    return Recorder


def measure(validated: bool) -> float:
    from vtrail.store import SqliteStore

    Recorder = recorder_class()

    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "cpu.db")
        rec = Recorder(store)
        rec.record(stream_of.stream(0, 100_000))
        kw = {"validated": True} if validated else {}
        best, start = 0.0, 100_000
        for _ in range(ROUNDS):
            t = time.process_time()
            for _ in range(PER_ROUND):
                rec.record(stream_of.stream(start, BATCH), **kw)
                start += BATCH
            best = max(best, BATCH * PER_ROUND / (time.process_time() - t))
        store.close()
        return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, help="the src/ of another vtrail tree to compare")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(f"{measure(False):.0f}")
        if "validated" in inspect.signature(recorder_class().record).parameters:
            print(f"{measure(True):.0f}")
        return
    print("ingest, events per CPU-second (best of 3 rounds of 50,000)")
    print(f"  this tree                      {measure(False):>8,.0f}")
    print(f"  this tree, validation skipped  {measure(True):>8,.0f}")
    if args.before:
        env = dict(os.environ, PYTHONPATH=str(args.before))
        out = subprocess.run(
            [sys.executable, __file__, "--one"], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        print(f"  {args.before!s:<30} {float(out[0]):>8,.0f}")


if __name__ == "__main__":
    main()
