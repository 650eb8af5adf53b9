"""The psycopg connection that takes the store's SQL as sqlite3's does: SQLite's
dialect rewritten once per statement text (store/dialect.py), sqlite3's errors
and cursor names, and a pipeline for a server's round trips (`PgConn.pipelined`).
`PostgresStore` (store/postgres.py) is built on it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from vtrail.store.conn import NeedsWholeStore, PipelineConflict
from vtrail.store.dialect import POSTGRES, Dialect, to_postgres
from vtrail.store.interning import StoreError
from vtrail.store.pgbulk import as_set, columns_of

_PLAIN_INSERT = re.compile(
    r"^\s*INSERT INTO ([\w.]+)\s*(?:\(([^)]*)\))?\s*VALUES\s*\([?,\s]*\)\s*$", re.I
)
_VALUES_INSERT = re.compile(r"^\s*INSERT INTO \w+\s*(?:\([^)]*\))?\s*VALUES\s*\(", re.I)
_SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK TO)\s+(?:SAVEPOINT\s+)?(\w+)", re.I)


class PgCursor:
    """A psycopg cursor as the store's SQL reads one (sqlite3's names).

    In a pipeline (`PgConn.pipelined`) its result comes later: what reads it
    (`rowcount`, `lastrowid`, the rows) waits for it then, and only then."""

    def __init__(
        self,
        cur: psycopg.Cursor[Any] | None,
        returns_id: bool = False,
        pipe: psycopg.Pipeline | None = None,
    ) -> None:
        self._cur = cur
        self._returns_id = returns_id
        self._lastrowid: int | None = None
        self._pipe = pipe

    @property
    def lastrowid(self) -> int | None:
        if self._returns_id:
            self._returns_id = False
            cur = self._rows()
            row = cur.fetchone() if cur else None
            self._lastrowid = int(row[0]) if row else None
        return self._lastrowid

    @property
    def rowcount(self) -> int:
        if self._cur is None:
            return -1
        self._arrived()
        return int(self._cur.rowcount)

    def _arrived(self) -> None:
        if self._pipe is not None and self._cur is not None and self._cur.pgresult is None:
            try:
                self._pipe.sync()
            except psycopg.Error as e:
                raise _as_sqlite(e) from None

    def fetchone(self) -> Any:
        cur = self._rows()
        return cur.fetchone() if cur else None

    def fetchall(self) -> list[Any]:
        cur = self._rows()
        return list(cur.fetchall()) if cur else []

    def __iter__(self) -> Iterator[Any]:
        cur = self._rows()
        return iter(cur) if cur else iter(())

    def _rows(self) -> psycopg.Cursor[Any] | None:
        """The cursor when its statement returns rows (an UPDATE's has none to read)."""
        self._arrived()
        cur = self._cur
        return cur if cur is not None and cur.description is not None else None


class PgConn:
    """A psycopg connection that takes the store's SQL as sqlite3's does (`interfaces.Conn`)."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str) -> None:
        try:
            self._c: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise StoreError(f"cannot open store {safe_url(url)}: {_first_line(e)}") from None
        self._outer: str | None = None
        self._c.adapters.register_loader("numeric", _NumberLoader)
        # A statement run twice is prepared on the server: from then on it is bound and
        # run without being parsed and planned again (an as-of lookup is one such
        # statement). The store's texts are few; dynamic ones (an IN list of some
        # length) are what the larger cache makes room for.
        self._c.prepare_threshold = 1
        self._c.prepared_max = 512
        self._pipe: psycopg.Pipeline | None = None
        #: INSERTs sent in the pipeline, whose conflict is known only later: the
        #: cursor, the statement, how many rows it must have written.
        self._unchecked: list[tuple[psycopg.Cursor[Any], str, int]] = []
        #: Writes held back in a pipeline (`defer`), by statement, and the statement
        #: that last wrote each row they name.
        self._held: dict[str, list[Any]] = {}
        self._rows: dict[Hashable, str] = {}
        #: Each held statement as one over arrays of its rows (store/pgbulk.py), or None;
        #: and the tables' columns that takes.
        self._bulk: dict[str, tuple[str, str | None, bool]] = {}
        self._tables: dict[str, list[tuple[str, str]]] = {}

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """Send statements without waiting for each one's answer (psycopg's pipeline
        mode): a batch costs a round trip where something is read, not one per
        statement. A one-row INSERT that met its key (which sqlite3 would have
        raised at once, for the writer to act on) raises `PipelineConflict` at the
        end instead: the transaction is then to be rolled back and done again
        without the pipeline."""
        if self._pipe is not None:
            yield
            return
        try:
            with self._c.pipeline() as pipe:
                self._pipe = pipe
                try:
                    yield
                    self._release()
                finally:
                    self._pipe = None
                    self._held.clear()
                    self._rows.clear()
        except psycopg.Error as e:
            self._unchecked.clear()
            raise _as_sqlite(e) from None
        unchecked, self._unchecked = self._unchecked, []
        for cur, sql, n in unchecked:
            if cur.rowcount < n:
                raise PipelineConflict(_conflict(sql))

    def defer(self, sql: str, parameters: Any, row: Hashable | None = None, /) -> None:
        """A write whose writer reads no answer of it, to the row `row` names (None:
        a row no other write touches). In a pipeline it is held back, and the held
        writes go as one statement each over arrays of their rows (store/pgbulk.py),
        in the order each statement was first held, before the next statement of
        any other kind (which may read what they wrote). So no two writes to one
        row are held together: the second sends what is held first. Else run now."""
        if self._pipe is None:
            self.execute(sql, parameters)
            return
        if row is not None:
            if row in self._rows:
                self._release()
            self._rows[row] = sql
        self._held.setdefault(sql, []).append(parameters)

    def _release(self) -> None:
        held, self._held = self._held, {}
        self._rows.clear()
        for sql, rows in held.items():
            text, bulk, strict = self._bulk.get(sql) or self._as_bulk(sql)
            if bulk is not None and len(rows) > 1:
                cur: psycopg.Cursor[Any] | None = self._run(bulk, columns_of(rows))
            else:
                cur = self._many(text, rows)._cur
            if strict and cur is not None:
                self._unchecked.append((cur, sql, len(rows)))

    def _as_bulk(self, sql: str) -> tuple[str, str | None, bool]:
        """A held statement in PostgreSQL's form, as one over arrays of its rows (None:
        it is not of a shape store/pgbulk.py takes), and whether a conflict must be
        told (`_skipping_conflicts`)."""
        text, rowid = to_postgres(sql, True)
        if rowid is not None:
            text = text.rsplit(" RETURNING", 1)[0]
        text, strict = _skipping_conflicts(sql, text)
        found = self._bulk[sql] = (text, as_set(text, self._columns), strict)
        return found

    def _columns(self, table: str) -> list[tuple[str, str]]:
        known = self._tables.get(table)
        if known is None:
            rows = PgCursor(
                self._run(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
                    "ORDER BY attnum",
                    (table,),
                ),
                pipe=self._pipe,
            ).fetchall()
            known = self._tables[table] = [(str(n), str(t)) for n, t in rows]
        return known

    @property
    def in_transaction(self) -> bool:
        return self._c.info.transaction_status != TransactionStatus.IDLE

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection, for what only PostgreSQL says (COPY, VACUUM)."""
        return self._c

    def execute(self, sql: str, parameters: Any = (), /) -> PgCursor:
        if self._held:
            self._release()
        if sql.startswith("SELECT"):
            # The questions' path: nothing below applies to a read.
            cur = self._run(to_postgres(sql, bool(parameters))[0], parameters)
            return PgCursor(cur, pipe=self._pipe)
        if sql.lstrip().upper().startswith("PRAGMA"):
            return PgCursor(None)  # a SQLite tuning knob: PostgreSQL's are the server's
        saved = _SAVEPOINT.match(sql)
        if saved:
            return self._savepoint(saved.group(1).upper(), saved.group(2))
        text, rowid = to_postgres(sql, bool(parameters))
        # SQLite undoes only the statement that breaks a UNIQUE key and the transaction
        # goes on (the history writer counts on it); PostgreSQL would abort the whole
        # transaction. So a one-row INSERT skips the conflict and raises the same error.
        text, strict = _skipping_conflicts(sql, text)
        cur = self._run(text, parameters)
        if strict and self._pipe is not None:
            self._unchecked.append((cur, sql, 1))
        elif strict and cur.rowcount == 0:
            raise sqlite3.IntegrityError(_conflict(sql))
        return PgCursor(cur, rowid is not None, self._pipe)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> PgCursor:
        if self._held:
            self._release()
        plain = _PLAIN_INSERT.match(sql)
        if plain:
            return self._copy(plain.group(1), plain.group(2), parameters)
        text, rowid = to_postgres(sql, True)
        if rowid is not None:
            text = text.rsplit(" RETURNING", 1)[0]
        return self._many(text, parameters)

    def _many(self, text: str, parameters: Iterable[Any]) -> PgCursor:
        cur = self._c.cursor()
        try:
            cur.executemany(text, list(parameters))
        except psycopg.Error as e:
            raise _as_sqlite(e) from None
        return PgCursor(cur, pipe=self._pipe)

    def executescript(self, sql_script: str, /) -> PgCursor:
        if self._held:
            self._release()
        return PgCursor(self._run(to_postgres(sql_script, False)[0], ()))

    def close(self) -> None:
        self._c.close()

    def unprepared(self, text: str) -> None:
        """Run statements in PostgreSQL's own dialect, with no parameters, in one round
        trip; never prepared, since their text changes every time."""
        try:
            self._c.execute(text, prepare=False)
        except psycopg.Error as e:
            raise _as_sqlite(e) from None

    def _run(self, text: str, parameters: Any) -> psycopg.Cursor[Any]:
        try:
            return self._c.execute(text, parameters or None)
        except psycopg.Error as e:
            raise _as_sqlite(e) from None

    def _copy(self, table: str, cols: str | None, rows: Iterable[Sequence[Any]]) -> PgCursor:
        """A batch of plain INSERTs as one COPY: a stream instead of a statement per row."""
        target = to_postgres(f"{table}", False)[0].strip()
        columns = f" ({cols})" if cols else ""
        if self._pipe is not None:  # no COPY in a pipeline: its rows go as statements
            rows = list(rows)
            marks = ", ".join(["%s"] * len(rows[0])) if rows else ""
            return self._many(f"INSERT INTO {target}{columns} VALUES ({marks})", rows)
        n = 0
        cur = self._c.cursor()
        try:
            with cur.copy(f"COPY {target}{columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
        except psycopg.Error as e:
            raise _as_sqlite(e) from None
        return _Counted(n)

    def _savepoint(self, verb: str, name: str) -> PgCursor:
        """SQLite's SAVEPOINT outside a transaction begins one, and its RELEASE commits."""
        if verb == "SAVEPOINT" and not self.in_transaction:
            self._run("BEGIN", ())
            self._outer = name
            return PgCursor(None)
        if name == self._outer and verb == "RELEASE":
            self._outer = None
            self._run("COMMIT", ())
            return PgCursor(None)
        self._run(f"{verb} {name}" if verb != "RELEASE" else f"RELEASE SAVEPOINT {name}", ())
        return PgCursor(None)


def _skipping_conflicts(sql: str, text: str) -> tuple[str, bool]:
    """`text` (`sql` rewritten) made to skip a row that breaks a UNIQUE key, and whether
    it had to be: a one-row INSERT without its own ON CONFLICT, whose writer must be
    told of the conflict as sqlite3 would have raised it."""
    strict = _VALUES_INSERT.match(sql) is not None and "ON CONFLICT" not in text
    if strict:
        text = text.replace(" RETURNING", " ON CONFLICT DO NOTHING RETURNING", 1)
        if " ON CONFLICT" not in text:
            text += " ON CONFLICT DO NOTHING"
    return text, strict


def _conflict(sql: str) -> str:
    """sqlite3's message for the INSERT `sql` that met its key."""
    return f"UNIQUE constraint failed: {sql.split('(', maxsplit=1)[0]}"


class _Counted(PgCursor):
    def __init__(self, n: int) -> None:
        super().__init__(None)
        self._n = n

    @property
    def rowcount(self) -> int:
        return self._n


class _NumberLoader(Loader):
    """NUMERIC comes back as the int or float SQLite would give (counter values are
    exact integers up to 2^64 - 1; `sum` over BIGINT is NUMERIC too), never Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        if text.isdigit() or (text[:1] == b"-" and text[1:].isdigit()):
            return int(text)
        return float(text)


def _as_sqlite(e: Exception) -> sqlite3.Error:
    """psycopg's errors as the sqlite3 ones the store's code catches."""
    message = _first_line(e)
    if isinstance(e, psycopg.errors.DeadlockDetected | psycopg.errors.OutOfMemory):
        # Two writers of a few names each waited for the other, or their locks filled
        # the server's table: the whole store's lock avoids both.
        return NeedsWholeStore(message)
    if isinstance(e, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(e, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return sqlite3.OperationalError(message)
    if isinstance(e, psycopg.OperationalError):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def safe_url(url: str) -> str:
    """The URL without its password, to print."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
