"""A SQLite store's WAL folded into its files from a thread of its own.

SQLite checkpoints in the writer: the commit that fills the WAL past
`wal_autocheckpoint` pages then waits while its frames are copied into the
database file and both files are synced. At 10M versions a batch of 10,000
changes dirties some 12,000 pages of the history, one per changed entity, so
every batch waited for a checkpoint of 48 MB, most of it the sync. Here a
thread with its own connection checkpoints after the writer's commits
(PASSIVE, which never blocks the writer), so that the copying and the syncing
overlap the writer's next batch.

The writer's own checkpoint stays, at `BOUND_PAGES`, as the bound on the WAL:
a checkpoint that runs while the next write has already begun cannot let the
WAL start over, so a writer that never pauses would otherwise grow it without
end. Its checkpoints sync as the writer's connection would (the store's
`synchronous`), so a commit is exactly as durable as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: The writer checkpoints itself past this many pages of WAL (256 MiB at SQLite's
#: 4 KiB pages): about five batches of 10,000 changes at 10M versions.
BOUND_PAGES = 65_536
#: At most one checkpoint a second: a trickle of small commits costs the disk
#: no more syncs than SQLite's own checkpoints every 1,000 pages would.
MIN_GAP_S = 1.0


class WalFolder:
    """Checkpoints the databases of the store at `path` (and its journal, attached
    as `jnl`) after each commit the writer reports, from a thread started at the
    first one."""

    def __init__(self, path: Path, journal: Path | None, synchronous: str) -> None:
        self.path = path
        self.journal = journal
        self.synchronous = synchronous
        #: Commits reported, and how many of them the last checkpoint finished folded.
        self.commits = 0
        self.folded = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """The writer committed: fold what it wrote, soon, off its thread."""
        self.commits += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vtrail-walfold", daemon=True)
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread, after any checkpoint under way ends."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        if self.journal is not None:
            conn.execute("ATTACH DATABASE ? AS jnl", (str(self.journal),))
            conn.execute(f"PRAGMA jnl.synchronous={self.synchronous}")
        return conn

    def _run(self) -> None:
        schemas = ["main"] if self.journal is None else ["main", "jnl"]
        try:
            conn = self._connect()
        except sqlite3.Error as e:
            log.warning("WAL checkpoints stay in the writer of %s: %s", self.path, e)
            return
        try:
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                began, upto = time.monotonic(), self.commits
                for schema in schemas:
                    try:
                        conn.execute(f"PRAGMA {schema}.wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error as e:
                        # The writer's own checkpoints still bound the WAL.
                        log.debug("checkpoint of %s (%s) skipped: %s", self.path, schema, e)
                self.folded = upto
                self._stop.wait(MIN_GAP_S - (time.monotonic() - began))
        finally:
            conn.close()
