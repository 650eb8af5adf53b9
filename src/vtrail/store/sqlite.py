"""The SQLite store: connection, schema migrations, id interning and transactions.

One connection per `SqliteStore`. Writes go through `write()`, which holds
`BEGIN IMMEDIATE` for the whole observation batch, as datasette's
`execute_write_fn` does, so that a batch lands whole or not at all and two
writer processes never interleave inside one.

The journal lives in a second file beside the store (`vtrail.db` keeps its
journal in `vtrail.journal.db`), attached to the same connection as `jnl`.
Raw observations are ten times the bytes of the history derived from them;
in one file their pages would interleave with the history's and push it out
of the memory map, which is what keeps as-of lookups and snapshots fast on a
long history. A batch still commits in one transaction; SQLite makes that
atomic per file, and the recorder puts the two back in step after a crash
that fell between them (see `Recorder.recover`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from urllib.request import pathname2url

from vtrail.store.attrs import AttrCodec
from vtrail.store.checkpoints import CheckpointCache
from vtrail.store.dialect import SQLITE, Dialect
from vtrail.store.interfaces import Deriver
from vtrail.store.interning import Interned, StoreError, UnknownEntity
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.walfold import BOUND_PAGES, WalFolder

# StoreError and UnknownEntity were defined here first: importers of this module keep them.
__all__ = ["SqliteStore", "StoreError", "UnknownEntity", "default_path", "journal_path"]


def journal_path(path: Path) -> Path:
    """Where the store at `path` keeps its journal: `vtrail.db` → `vtrail.journal.db`."""
    return path.with_name(f"{path.stem}.journal{path.suffix}")


def store_files(path: Path) -> list[Path]:
    """Every file a store at `path` may have on disk: both databases and their WAL files."""
    return [Path(f"{p}{s}") for p in (path, journal_path(path)) for s in ("", "-wal", "-shm")]


def move_store(src: Path, dst: Path) -> None:
    """Rename the store at `src` (both of its files) to `dst`."""
    for a, b in zip(store_files(src), store_files(dst), strict=True):
        if a.exists():
            a.replace(b)


def fold_wal(path: Path) -> None:
    """Fold the WAL of both of the store's files into them, so that the two files alone
    hold the store. It takes a writable connection: a read-only one cannot checkpoint."""
    for p in (path, journal_path(path)):
        if p.exists():
            c = sqlite3.connect(p, isolation_level=None)
            try:
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                c.close()


def _ro_uri(path: Path) -> str:
    """SQLite's read-only URI for `path`: no write, no checkpoint, no journal-mode change
    can go through a connection opened with it."""
    return f"file:{pathname2url(str(path.absolute()))}?mode=ro"


def default_path() -> Path:
    """`$VTRAIL_DB`, else `$XDG_DATA_HOME/vtrail/vtrail.db` (~/.local/share/vtrail/vtrail.db)."""
    env = os.environ.get("VTRAIL_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vtrail" / "vtrail.db"


class SqliteStore(Interned):
    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        cache_mib: int = 128,
        durable: bool = False,
    ) -> None:
        """`cache_mib` bounds SQLite's page cache: questions over long windows like it
        large; a long-running recorder keeps its memory flat with a small one.
        `durable=True` makes every commit survive a power loss too (synchronous=FULL:
        the WAL is synced at each commit), for a server that acknowledges batches to
        collectors that then forget them; NORMAL survives a crash of the process only."""
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise StoreError(f"no store at {self.path} (record something first, or pass --db)")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn: sqlite3.Connection = sqlite3.connect(
                _ro_uri(self.path) if readonly else self.path,
                uri=readonly,
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
            )
            if not readonly:
                # A reader leaves the mode as the writer set it; setting it is a write.
                self.conn.execute("PRAGMA journal_mode=WAL")
            self.synchronous = "FULL" if durable else "NORMAL"
            self.conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self.conn.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
            self.conn.execute("PRAGMA temp_store=MEMORY")
            # Freed space need not be zeroed: nothing here is secret, and zeroing
            # rewrites every page a rollback or a dropped table frees.
            self.conn.execute("PRAGMA secure_delete=OFF")
            # As much of the history as SQLite will map (it caps this at its
            # compile-time limit, 2 GiB in Debian's build): mapped pages are
            # read in place instead of copied into the page cache.
            self.conn.execute(f"PRAGMA mmap_size={1 << 40}")
            self._attach_journal(readonly)
            self.folder: WalFolder | None = None
            if not readonly:
                self.conn.execute(f"PRAGMA wal_autocheckpoint={BOUND_PAGES}")
                self.folder = WalFolder(self.path, journal_path(self.path), self.synchronous)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open store {self.path}: {e}") from None
        Interned.__init__(self)
        #: Set by whoever opens the store to record into it (the CLI, the API).
        self.derivers: list[Deriver] = []
        self.checkpoints = CheckpointCache(self.conn)
        self.attrs = AttrCodec(self.conn)
        if not readonly:
            self.migrate()

    def _attach_journal(self, readonly: bool) -> None:
        path = journal_path(self.path)
        if not path.exists():
            moved = self.conn.execute(
                "SELECT 1 FROM sqlite_schema WHERE name = 'applied'"
            ).fetchone()
            if moved:
                # A fresh journal here would pass for the real one and be replayed
                # from, losing all the history it lacks.
                self.conn.close()
                raise StoreError(
                    f"the journal of {self.path} is missing: it belongs at {path} "
                    "(copy and move the two files together)"
                )
            if readonly:
                return  # a store from before 0005_journal_file: its journal is in the main file
        self.conn.execute("ATTACH DATABASE ? AS jnl", (_ro_uri(path) if readonly else str(path),))
        if not readonly and self._stale_journal():
            # Its journal would be wiped or refused by the migrations; neither silently.
            self.conn.close()
            raise StoreError(
                f"{self.path} is a new store but {path} holds another store's journal "
                "(move it away, or put its store back beside it)"
            )
        if not readonly:
            self.conn.execute("PRAGMA jnl.journal_mode=WAL")
        self.conn.execute(f"PRAGMA jnl.synchronous={self.synchronous}")
        self.conn.execute("PRAGMA jnl.secure_delete=OFF")
        # Appends and replays read the journal in order; a small cache serves both.
        self.conn.execute("PRAGMA jnl.cache_size=-16384")
        self.conn.execute("PRAGMA jnl.mmap_size=0")

    def _stale_journal(self) -> bool:
        """A journal file beside a main file that has never been migrated."""
        new = not self.conn.execute(
            "SELECT 1 FROM main.sqlite_schema WHERE name = 'migration'"
        ).fetchone()
        return new and bool(
            self.conn.execute("SELECT 1 FROM jnl.sqlite_schema WHERE name = 'journal'").fetchone()
        )

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations this store lacks; return their names."""
        c = self.conn
        c.execute(
            "CREATE TABLE IF NOT EXISTS migration (name TEXT PRIMARY KEY, applied_at INTEGER)"
        )
        done = {r[0] for r in c.execute("SELECT name FROM migration")}
        known = {m.name for m in MIGRATIONS}
        if done - known:
            raise StoreError(
                f"store {self.path} has migrations this vtrail does not know: "
                f"{', '.join(sorted(done - known))} (upgrade vtrail)"
            )
        applied = []
        for m in MIGRATIONS:
            if m.name in done:
                continue
            stamp = int(time.time() * 1_000_000)
            try:
                if m.prepare:
                    c.executescript(f"BEGIN IMMEDIATE;\n{m.prepare}\n;COMMIT;")
                if m.prepare_fn:
                    c.execute("BEGIN IMMEDIATE")
                    m.prepare_fn(c)
                    c.execute("COMMIT")
                c.executescript(
                    f"BEGIN IMMEDIATE;\n{m.sql}\n;"
                    f"INSERT INTO migration VALUES ('{m.name}', {stamp});\nCOMMIT;"
                )
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            applied.append(m.name)
        return applied

    def migrations(self) -> list[tuple[str, int]]:
        return list(self.conn.execute("SELECT name, applied_at FROM migration ORDER BY name"))

    # -- transactions ---------------------------------------------------------

    def pipeline(self) -> AbstractContextManager[None]:
        return nullcontext()

    def commits_elsewhere(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def write(self, names: Collection[str] | None = None) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: all of the block, or none of it. SQLite
        has one writer at a time, whatever the block `names`."""
        if self.in_write:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self.in_write = True
        self._write_begun()
        try:
            yield self.conn
            self.write_labels()
            counted = [(n, table) for table, n in self.tally.items() if n]
            if counted:
                self.conn.executemany("UPDATE tally SET n = n + ? WHERE name = ?", counted)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._write_undone()
            raise
        else:
            if self.folder is not None:
                self.folder.committed()
        finally:
            self.in_write = False

    def close(self) -> None:
        if self.folder is not None:
            self.folder.close()
        self.conn.close()

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def journal_location(self) -> str:
        return str(journal_path(self.path))

    def size_bytes(self) -> int:
        """Bytes on disk, journal included."""
        return sum(p.stat().st_size for p in store_files(self.path) if p.exists())
