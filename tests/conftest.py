from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vtrail.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    """A real SQLite file, closed after the test."""
    s = SqliteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def recorder(store: SqliteStore) -> Recorder:
    return Recorder(store)
