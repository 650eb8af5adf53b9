"""The PostgreSQL store: the same history, questions and migrations on a server.

`PostgresStore` implements `interfaces.Store`. Its `conn` is `PgConn` (store/pgconn.py), which
takes the store's SQL in SQLite's dialect, rewrites it once per statement
text (store/dialect.py) and runs it on a psycopg 3 connection in autocommit,
so that a read outside a write sees what was committed, as SQLite's does.

Several recorders may write at once, from as many processes or machines.
Each write is one transaction that first takes a transaction-level advisory
lock (`pg_advisory_xact_lock`), so write transactions run one after another:
the recorder reads the latest interval of a key, decides and writes, across
every key of a batch, and only a serial order keeps that read-decide-write
true. SERIALIZABLE would give the same histories but abort and retry nearly
every pair of batches that touch one host's rows, which is most of them; the
lock makes the wait short instead (a batch holds it for milliseconds), and
reads never wait for it. An observation is in the journal once (its identity
`(observed_at, source, hash)` is unique), so one sent by two recorders is
recorded once, and the recorder's history does not depend on the order
batches arrive in, so the history equals that of a serial run.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from vtrail.store.attrs import AttrCodec
from vtrail.store.checkpoints import CheckpointCache
from vtrail.store.dialect import POSTGRES, Dialect
from vtrail.store.interfaces import Deriver
from vtrail.store.interning import Interned, StoreError
from vtrail.store.migrations import MIGRATIONS
from vtrail.store.migrations.postgres import PARTITIONED
from vtrail.store.migrations.postgres import POSTGRES as POSTGRES_SQL
from vtrail.store.pgconn import PgConn, safe_url

#: The advisory lock every write transaction holds (any constant both sides agree on).
WRITE_LOCK = 0x76747261696C
#: The tables whose statistics the recorder's plans depend on, and the rows added
#: to the history before the first time it analyzes them itself.
ANALYZED = ("entity", "claim", "version", "relation", "journal")
ANALYZE_AFTER = 20_000
#: Monthly partitions kept ready ahead of the current month.
MONTHS_AHEAD = 2


class PostgresStore(Interned):
    """A store on a PostgreSQL server (`postgresql://user@host/db`)."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, *, readonly: bool = False, durable: bool = False) -> None:
        Interned.__init__(self)
        self.url = url
        #: Where local lock files go (`ipam`'s): the temporary folder, one name per server.
        where = hashlib.sha256(safe_url(url).encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"vtrail-pg-{where}.db"
        self.conn: PgConn = PgConn(url)
        if durable:
            # A commit returns once its WAL is on the server's disk, whatever the
            # server's own default (a cluster may run with it off).
            self.conn.execute("SET synchronous_commit = on")
        self.in_write = False
        self.tally: dict[str, int] = {}
        #: Versions and relations added since the tables were last analyzed, and
        #: how many there were then (`_grew`).
        self._growth = 0
        self._size = 0
        self.labelled: set[tuple[int, str, str]] = set()
        self.derivers: list[Deriver] = []
        self.checkpoints = CheckpointCache(self.conn)
        self.attrs = AttrCodec(self.conn)
        if readonly:
            if not self._has("migration"):
                self.conn.close()
                raise StoreError(f"no store at {safe_url(url)} (record something first)")
        else:
            self.migrate()
            self.partitions()

    def _has(self, table: str) -> bool:
        row = self.conn.execute(f"SELECT to_regclass('{table}') IS NOT NULL").fetchone()
        return bool(row[0])

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations this store lacks, in PostgreSQL's form; return their names.
        Two processes opening a new store at once migrate it once: the second waits."""
        c = self.conn
        applied: list[str] = []
        with self._locked():
            c.execute(
                "CREATE TABLE IF NOT EXISTS migration (name TEXT PRIMARY KEY, applied_at BIGINT)"
            )
            done = {r[0] for r in c.execute("SELECT name FROM migration")}
            known = {m.name for m in MIGRATIONS}
            if done - known:
                raise StoreError(
                    f"store {safe_url(self.url)} has migrations this vtrail does not know: "
                    f"{', '.join(sorted(done - known))} (upgrade vtrail)"
                )
            for m in MIGRATIONS:
                if m.name in done:
                    continue
                c.executescript(POSTGRES_SQL[m.name])
                c.execute(
                    "INSERT INTO migration VALUES (?, ?)", (m.name, int(time.time() * 1_000_000))
                )
                applied.append(m.name)
        return applied

    def partitions(self, now: datetime | None = None) -> list[str]:
        """Make the monthly partitions of the journal and the samples from this month
        to `MONTHS_AHEAD` ahead; the ones it made. A month whose rows already went to
        the default partition stays there (PostgreSQL refuses to move them)."""
        start = (now or datetime.now(UTC)).replace(day=1, hour=0, minute=0, second=0)
        start = start.replace(microsecond=0)
        made = []
        for i in range(MONTHS_AHEAD + 1):
            y, m = divmod(start.month - 1 + i, 12)
            lo = start.replace(year=start.year + y, month=m + 1)
            y2, m2 = divmod(lo.month, 12)
            hi = lo.replace(year=lo.year + y2, month=m2 + 1)
            a, b = int(lo.timestamp() * 1e6), int(hi.timestamp() * 1e6)
            for table in PARTITIONED:
                name = f"{table}_{lo:%Y_%m}"
                if self._has(name):
                    continue
                try:
                    self.conn.execute(
                        f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({a}) TO ({b})"
                    )
                except sqlite3.DatabaseError:
                    continue
                made.append(name)
        return made

    def migrations(self) -> list[tuple[str, int]]:
        return list(self.conn.execute("SELECT name, applied_at FROM migration ORDER BY name"))

    # -- transactions ---------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[PgConn]:
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[PgConn]:
        """One transaction under the write lock: all of the block, or none of it."""
        if self.in_write:
            yield self.conn
            return
        self.in_write = True
        self.tally.clear()
        try:
            with self._locked():
                yield self.conn
                counted = [(n, table) for table, n in self.tally.items() if n]
                if counted:
                    self.conn.executemany("UPDATE tally SET n = n + ? WHERE name = ?", counted)
            self._grew(sum(n for n, _ in counted if n > 0))
        except BaseException:
            self.forget_ids()
            self.attrs.forget()
            self.labelled.clear()
            raise
        finally:
            self.in_write = False

    def _grew(self, rows: int) -> None:
        """Analyze the history's tables each time they have doubled (from
        `ANALYZE_AFTER` rows on). Autovacuum does it too, but only a minute or so
        later: a store filling fast has statistics that say its tables are empty,
        and the planner then scans them where it should look a key up."""
        self._growth += rows
        if self._growth < max(ANALYZE_AFTER, self._size):
            return
        self.conn.execute(f"ANALYZE {', '.join(ANALYZED)}")
        self._size = int(
            self.conn.execute(
                "SELECT sum(n) FROM tally WHERE name IN ('version', 'relation')"
            ).fetchone()[0]
        )
        self._growth = 0

    def pipeline(self) -> AbstractContextManager[None]:
        return self.conn.pipelined()

    def close(self) -> None:
        self.conn.close()

    @property
    def location(self) -> str:
        return safe_url(self.url)

    @property
    def journal_location(self) -> str:
        return f"{safe_url(self.url)} (table journal)"

    def size_bytes(self) -> int:
        """Bytes the server keeps for this database."""
        return int(self.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
