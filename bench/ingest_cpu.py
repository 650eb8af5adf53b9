"""Recorder ingest in CPU time, so that a busy machine does not blur it.

The event stream of bench/record.py (one VM's state changing per event,
batches of 10,000, or `--batch N`) is recorded into a store that already
holds 100,000 versions (or `--versions N`, populated without validation); the figure is events per CPU-second, best of three rounds. It is
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


def measure(validated: bool, versions: int, batch: int) -> float:
    from vtrail.store import SqliteStore

    Recorder = recorder_class()
    # Older trees have no `validated`: they validated nothing.
    trusted = "validated" in inspect.signature(Recorder.record).parameters
    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "cpu.db")
        rec = Recorder(store)
        for start in range(0, versions, BATCH):
            n = min(BATCH, versions - start)
            rec.record(stream_of.stream(start, n), **({"validated": True} if trusted else {}))
        kw = {"validated": True} if validated else {}
        best, start = 0.0, versions
        per_round = max(1, BATCH * PER_ROUND // batch)
        for _ in range(ROUNDS):
            t = time.process_time()
            for _ in range(per_round):
                rec.record(stream_of.stream(start, batch), **kw)
                start += batch
            best = max(best, batch * per_round / (time.process_time() - t))
        store.close()
        return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, help="the src/ of another vtrail tree to compare")
    ap.add_argument("--versions", type=int, default=100_000, help="versions in the store first")
    ap.add_argument("--batch", type=int, default=BATCH, help="events per transaction")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    size = (args.versions, args.batch)
    if args.one:
        print(f"{measure(False, *size):.0f}")
        return
    print(
        f"ingest, events per CPU-second (best of 3 rounds of 50,000) into {args.versions:,} "
        f"versions, batches of {args.batch:,}"
    )
    print(f"  this tree                      {measure(False, *size):>8,.0f}")
    print(f"  this tree, validation skipped  {measure(True, *size):>8,.0f}")
    if args.before:
        env = dict(os.environ, PYTHONPATH=str(args.before))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--versions",
                str(args.versions),
                "--batch",
                str(args.batch),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(f"  {args.before!s:<30} {float(out[0]):>8,.0f}")


if __name__ == "__main__":
    main()
