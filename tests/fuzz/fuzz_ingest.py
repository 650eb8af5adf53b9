"""Coverage-guided fuzzing of `vtrail ingest`'s entry point with atheris (docs/fuzzing.md).

    .venv/bin/python tests/fuzz/fuzz_ingest.py -atheris_runs=200000 CORPUS_DIR tests/fuzz/seeds

Each input is a file's bytes, recorded as `vtrail ingest` records them
(`ingest_lines` over its lines, in one store for the whole run). It must be
recorded whole, or refused with one `ObservationError` line and nothing
written; anything else (another exception, a partial write) is a crash that
atheris reports with the input that caused it.
"""

from __future__ import annotations

import functools
import io
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from vtrail.recording.ingest import ingest_lines
    from vtrail.store import SqliteStore
    from vtrail.store.reads.stats import StatsReader
    from vtrail.wire import ObservationError


@functools.cache
def store() -> SqliteStore:
    """One store for the whole run: inputs also meet what earlier ones recorded."""
    return SqliteStore(Path(tempfile.mkdtemp(prefix="vtrail-fuzz-")) / "fuzz.db")


def journal(s: SqliteStore) -> int:
    return StatsReader(s).counts()["journal"]


def test_one_input(data: bytes) -> None:
    s = store()
    before = journal(s)
    try:
        # Lines as a file in binary mode gives them, the way `vtrail ingest` reads it.
        stats = ingest_lines(s, io.BytesIO(data))
    except ObservationError as e:
        message = str(e)
        if "\n" in message or not message.startswith("line "):
            raise AssertionError(f"not one line naming its line: {message!r}") from None
        if journal(s) != before:
            raise AssertionError("a refused file wrote something") from None
        return
    if journal(s) - before != stats.observations:
        raise AssertionError(
            f"recorded {stats.observations}, journal grew by {journal(s) - before}"
        )


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
