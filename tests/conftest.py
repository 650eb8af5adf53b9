from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pg.pgserver import SKIP_REASON, Server
from stores import STORES, location
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore, Store, open_store


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_stores` runs once per store: its `store`, `recorder` and
    `db_location` fixtures open SQLite, then a real PostgreSQL server."""
    if metafunc.definition.get_closest_marker("both_stores") and "store_kind" in (
        metafunc.fixturenames
    ):
        metafunc.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """One PostgreSQL server for the whole session, in a temporary folder."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vtrail.db"


@pytest.fixture
def db_location(request: pytest.FixtureRequest, store_kind: str, db_path: Path) -> str:
    """What `--db` names: the SQLite file, or a new database on the test server."""
    return location(request, store_kind, db_path)


@pytest.fixture
def store(db_location: str, store_kind: str) -> Iterator[Store]:
    """A real SQLite file (or, marked `both_stores`, PostgreSQL too), closed after the test."""
    s = SqliteStore(db_location) if store_kind == "sqlite" else open_store(db_location)
    yield s
    s.close()


@pytest.fixture
def recorder(store: Store) -> Recorder:
    return Recorder(store)
