"""The PostgreSQL store: the same history, questions and migrations on a server.

`PostgresStore` implements `interfaces.Store`. Its `conn` is `PgConn` (store/pgconn.py), which
takes the store's SQL in SQLite's dialect, rewrites it once per statement
text (store/dialect.py) and runs it on a psycopg 3 connection in autocommit,
so that a read outside a write sees what was committed, as SQLite's does.

Several recorders may write at once, from as many processes or machines.
Each write is one transaction that first takes transaction-level advisory
locks (`pg_advisory_xact_lock`): the recorder reads the latest interval of a
key, decides and writes, and only a serial order per key keeps that
read-decide-write true. A write that names what it will write (`write(names)`:
the recorder's batch, its sources and entities) holds the store's lock shared
and one lock per name, taken in one sorted order so that two writers never
wait for each other in a circle; batches of other hosts then write at once,
and two that name one entity run one after the other. Any other write holds
the store's lock alone (a migration, a checkpoint, a batch that names too much).
SERIALIZABLE would give the same histories but abort and retry nearly every
pair of batches that touch one host's rows; the locks make the wait short
instead, and reads never wait for them. An observation is in the journal once
(its identity `(observed_at, source, hash)` is unique), so one sent by two
recorders is recorded once, and the history equals that of a serial run.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import time
from collections.abc import Collection, Iterator
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

#: The store's advisory lock: a write holds it alone, or shared with one lock per name it
#: writes (any constant every writer agrees on; the names' locks are all above it).
WRITE_LOCK = 0x76747261696C
#: The store's lock shared, then each name's, in the order given (`unnest` keeps it).
_LOCK_NAMES = (
    "SELECT count(CASE WHEN i = 1 THEN pg_advisory_xact_lock_shared(k) "
    "ELSE pg_advisory_xact_lock(k) END) FROM unnest(CAST('{{{}}}' AS BIGINT[])) "
    "WITH ORDINALITY AS u(k, i)"
)
#: The tables whose statistics the recorder's plans depend on, and the rows added
#: to the history before the first time it analyzes them itself.
ANALYZED = ("entity", "claim", "version", "relation", "journal")
ANALYZE_AFTER = 20_000
#: Rows a writer adds between two looks at how many all writers added (`_grew`).
GROWTH_LOOK = 2_000
#: Monthly partitions kept ready ahead of the current month.
MONTHS_AHEAD = 2
#: Every id a write draws from a sequence, and the column it is drawn for.
_SEQUENCES = {
    "pg_get_serial_sequence('entity', 'id')": ("entity", "id"),
    "pg_get_serial_sequence('source', 'id')": ("source", "id"),
    "pg_get_serial_sequence('attr_keys', 'id')": ("attr_keys", "id"),
    "pg_get_serial_sequence('checkpoint', 'id')": ("checkpoint", "id"),
    "'journal_seq'": ("journal", "seq"),
    "'sample_rowid'": ("sample", "rowid"),
}
#: A rolled-back write keeps the ids it drew, where SQLite gives them again: the next
#: write that holds the whole store gives them back, so that a batch done again
#: interns what it interns under the ids a first try would have.
_REUSE_IDS = "; ".join(
    f"SELECT setval({seq}, coalesce((SELECT max({col}) FROM {table}), 0) + 1, false)"
    for seq, (table, col) in _SEQUENCES.items()
)


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
        #: A write was rolled back since ids were last given back (`_REUSE_IDS`).
        self._drawn = False
        #: Versions and relations this writer added since it last looked at how many
        #: there are (`_grew`).
        self._growth = 0
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
    def _locked(self, names: Collection[str] | None = None) -> Iterator[PgConn]:
        if names is None:
            lock = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            if self._drawn:
                # No other writer draws ids while this one holds the whole store.
                lock += "; " + _REUSE_IDS
                self._drawn = False
        else:
            lock = _LOCK_NAMES.format(",".join(map(str, [WRITE_LOCK, *lock_keys(names)])))
        try:
            # One round trip for all; integers only, so the text is safe as it is. A
            # write looks keys up: a table that grew faster than its statistics knew
            # (several writers filling it) is still not scanned whole for one.
            self.conn.unprepared(f"BEGIN; {lock}")
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            self._drawn = True
            self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self, names: Collection[str] | None = None) -> Iterator[PgConn]:
        """One transaction under the write lock: all of the block, or none of it.
        With `names` (vtrail.recording.names), only what they name may be written:
        the store's lock is held shared, beside other writers of other names."""
        if self.in_write:
            yield self.conn
            return
        self.in_write = True
        self._write_begun()
        try:
            with self._locked(names):
                yield self.conn
                self.write_labels()
                # In one order, so that two writers never wait for each other's rows.
                counted = [(table, n) for table, n in sorted(self.tally.items()) if n]
                if counted:
                    self.conn.executemany("SELECT tally_add(?, ?)", counted)
            self._grew(sum(n for _, n in counted if n > 0))
        except BaseException:
            self._write_undone()
            raise
        finally:
            self.in_write = False

    def _grew(self, rows: int) -> None:
        """Analyze the history's tables each time they have doubled since they were
        last analyzed (from `ANALYZE_AFTER` rows on), by whichever writer: each looks
        every `GROWTH_LOOK` rows of its own. Autovacuum does it too, but only a
        minute or so later: a store filling fast has statistics that say its tables
        are empty, and the planner then scans them where it should look a key up."""
        self._growth += rows
        if self._growth < GROWTH_LOOK:
            return
        self._growth = 0
        rows_now, analyzed = self.conn.execute(
            "SELECT (SELECT sum(n) FROM tally WHERE name IN ('version', 'relation')), "
            "(SELECT sum(greatest(reltuples, 0)) FROM pg_class "
            "WHERE oid IN (to_regclass('version'), to_regclass('relation')))"
        ).fetchone()
        if int(rows_now or 0) >= max(ANALYZE_AFTER, 2 * int(analyzed or 0)):
            self.conn.execute(f"ANALYZE {', '.join(ANALYZED)}")

    def pipeline(self) -> AbstractContextManager[None]:
        return self.conn.pipelined()

    def commits_elsewhere(self) -> None:
        return None

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


def lock_keys(names: Collection[str]) -> list[int]:
    """Each name's advisory lock, sorted: a 64-bit hash of it, above `WRITE_LOCK`
    (two names sharing one only run one after the other)."""
    top = 1 << 62
    return sorted(
        {
            top | int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest()) % top
            for n in names
        }
    )
