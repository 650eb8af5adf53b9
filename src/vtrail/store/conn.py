"""The part of a DB-API connection the store's SQL uses: sqlite3's has it, and so
does the PostgreSQL adapter (store/pgconn.py), which takes SQLite's dialect."""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Iterable, Iterator
from typing import Any, Protocol


class PipelineConflict(sqlite3.IntegrityError):
    """A one-row INSERT sent in a pipeline (`Store.pipeline`) met its key: do the
    transaction again without the pipeline, where the writer sees the conflict
    when it happens."""


class NeedsWholeStore(sqlite3.OperationalError):
    """A write that locked only the sources and entities its batch names touched
    something else, or met another writer where only the whole store's lock avoids
    it (a deadlock, a full lock table): roll it back and do it again holding the
    whole store (store/postgres.py, `PostgresStore.write`)."""


class Cursor(Protocol):
    """What the store's SQL reads back from a statement."""

    @property
    def lastrowid(self) -> int | None: ...

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The connection the store's SQL runs on, in SQLite's dialect (`?` marks)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def executescript(self, sql_script: str, /) -> Cursor: ...

    @property
    def in_transaction(self) -> bool: ...

    def close(self) -> None: ...


def send(conn: Conn, sql: str, parameters: Any, row: Hashable | None = None) -> None:
    """Run a write whose answer the writer does not read, to the row `row` names
    (None: a row no other write touches). A server's connection
    (store/pgconn.py) may hold it back and send it with others of its kind."""
    defer = getattr(conn, "defer", None)
    if defer is None:
        conn.execute(sql, parameters)
    else:
        defer(sql, parameters, row)
