"""Both stores for the tests that run against each: SQLite, and a real PostgreSQL server
(the session's `pg_server`, tests/conftest.py)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pg.pgserver import Server
from vtrail.store import server_url, store_files

#: The stores a test marked `both_stores` (or a fixture parametrised by these) runs on.
STORES = ["sqlite", "postgresql"]


def location(request: pytest.FixtureRequest, kind: str, path: Path) -> str:
    """What `--db` names for `kind`: the SQLite file `path`, or a new database on the
    session's server (skipped, with the reason, where PostgreSQL is not installed)."""
    if kind == "sqlite":
        return str(path)
    server: Server = request.getfixturevalue("pg_server")
    return server.database()


def module_location(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, name: str
) -> Path:
    """Where a module-scoped fixture parametrised by STORES keeps its store, as `--db`
    takes it: a file in a new folder `name`, or a new database on the session's server."""
    return Path(location(request, request.param, factory.mktemp(name) / "vtrail.db"))


def recorded(
    request: pytest.FixtureRequest,
    factory: pytest.TempPathFactory,
    name: str,
    record: Callable[[Path], Path],
) -> Path:
    """`record(where)` for a module-scoped fixture parametrised by STORES (directly, or
    by the tests that want the server, indirectly; SQLite otherwise): into a new
    file in a new folder `name`, or on the server into a database recorded once a
    session, of which each module gets a copy (`CREATE DATABASE … TEMPLATE`, tens of
    milliseconds where recording a story on the server takes seconds)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return record(factory.mktemp(name) / "vtrail.db")
    server: Server = request.getfixturevalue("pg_server")
    key = f"{record.__module__}.{record.__qualname__}"
    if key not in server.templates:
        server.templates[key] = str(record(Path(server.database("tpl"))))
    return Path(server.database(template=server_url(server.templates[key])))


def another(request: pytest.FixtureRequest, like: str | Path, path: Path) -> str:
    """A new store of the same kind as the one at `like`: the file `path`, or a new
    database on the session's server."""
    return location(request, "sqlite" if server_url(like) is None else "postgresql", path)


def copy(request: pytest.FixtureRequest, where: str | Path, path: Path) -> str:
    """A copy of the closed store at `where`: the file `path`, or a new database on the
    session's server made from it as a template."""
    url = server_url(where)
    if url is not None:
        server: Server = request.getfixturevalue("pg_server")
        return server.database(template=url)
    for a, b in zip(store_files(Path(where)), store_files(path), strict=True):
        if a.exists():
            shutil.copyfile(a, b)
    return str(path)


def contents(where: str | Path) -> object:
    """All a store holds, to compare before and after what must change nothing: the
    digest of the SQLite file's bytes, or every row of every table on the server."""
    url = server_url(where)
    if url is None:
        return hashlib.sha256(Path(where).read_bytes()).hexdigest()
    import psycopg

    with psycopg.connect(url) as c:
        tables = c.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        ).fetchall()
        return {t: sorted(map(repr, c.execute(f'SELECT * FROM "{t}"'))) for (t,) in tables}
