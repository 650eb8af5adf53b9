"""The maintenance tests' stores and the CLI and API asked the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from maintenance.story import record_drain_story, record_rolling_story
from stores import STORES, recorded
from vtrail.api import Settings, create_app
from vtrail.cli.main import app


@pytest.fixture(scope="module", params=STORES)
def drain_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "drain", record_drain_story)


@pytest.fixture(scope="module", params=STORES)
def rolling_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "rolling", record_rolling_story)


def plan_cli(db: Path, *argv: str, width: int = 200) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["plan", *argv, "--db", str(db)], env={"COLUMNS": str(width)})
    return done.exit_code, done.stdout, done.stderr


@pytest.fixture
def drain_client(drain_db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=drain_db, workers=1))) as c:
        yield c
