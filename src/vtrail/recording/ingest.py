"""Observations from JSON Lines into the store: whole files atomically, and rebuilds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from vtrail.payload import decode
from vtrail.recording.recorder import Recorder, RecordStats
from vtrail.store import Store, move_store, open_store, store_files
from vtrail.store.interfaces import Deriver
from vtrail.store.journal import Journal
from vtrail.store.sqlite import fold_wal
from vtrail.wire import parse_lines

#: Told how many observations are done, every thousand and at the end of a rebuild.
Progress = Callable[[int], None]
T = TypeVar("T")


def _counted(items: Iterable[T], progress: Progress | None) -> Iterator[T]:
    for n, o in enumerate(items, 1):
        if progress and n % 1000 == 0:
            progress(n)
        yield o


def ingest_lines(
    store: Store,
    lines: Iterable[str | bytes],
    progress: Progress | None = None,
) -> RecordStats:
    """Record every line in one transaction: a bad line (`ObservationError`, with its
    line number) leaves the store exactly as it was. Lines read as bytes are
    decoded here, so that one that is not UTF-8 is refused with its number."""
    observations = (o for o, _ in parse_lines(lines))
    return Recorder(store).record(_counted(observations, progress), validated=True)


def rebuild(
    store: Store,
    target: Path,
    progress: Progress | None = None,
    derivers: Sequence[Deriver] = (),
) -> RecordStats:
    """Replay the journal of `store` into a fresh store at `target`.

    The journal holds only what was validated on its way in, so it is read back
    without validating again (`payload.decode`): a rebuild never refuses it."""
    if target.exists():
        raise FileExistsError(f"{target} exists; rebuild writes a fresh store")
    # Before the fresh store exists: a journal whose bodies were dropped is refused here.
    rows = _counted(((decode(p), at) for p, at in Journal(store).entries()), progress)
    fresh = open_store(target)
    fresh.derivers = list(derivers)
    try:
        stats = Recorder(fresh).record(rows, validated=True)
        if progress:
            progress(stats.observations)
    finally:
        fresh.close()
    return stats


def rebuild_in_place(
    path: Path, progress: Progress | None = None, derivers: Sequence[Deriver] = ()
) -> tuple[RecordStats, Path]:
    """Rebuild the store at `path`; the old one is kept beside it as `.before-rebuild`.
    What is derived from the history (`derivers`) is derived again as it replays."""
    store = open_store(path, readonly=True)
    tmp = path.with_name(path.stem + ".rebuild" + path.suffix)
    for stale in store_files(tmp):
        stale.unlink(missing_ok=True)
    try:
        stats = rebuild(store, tmp, progress, derivers)
    finally:
        store.close()
    fold_wal(path)
    backup = path.with_name(path.stem + ".before-rebuild" + path.suffix)
    move_store(path, backup)
    move_store(tmp, path)
    return stats, backup
