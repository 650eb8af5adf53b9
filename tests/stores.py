"""Both stores for the tests that run against each: SQLite, and a real PostgreSQL server
(the session's `pg_server`, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pg.pgserver import Server

#: The stores a test marked `both_stores` (or a fixture parametrised by these) runs on.
STORES = ["sqlite", "postgresql"]


def location(request: pytest.FixtureRequest, kind: str, path: Path) -> str:
    """What `--db` names for `kind`: the SQLite file `path`, or a new database on the
    session's server (skipped, with the reason, where PostgreSQL is not installed)."""
    if kind == "sqlite":
        return str(path)
    server: Server = request.getfixturevalue("pg_server")
    return server.database()
