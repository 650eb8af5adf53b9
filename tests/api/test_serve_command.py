"""`vtrail serve` runs uvicorn on its C parts, httptools and uvloop, which vtrail
installs: each answers a `where` tens of microseconds sooner (docs/api.md). uvicorn
itself is replaced here by a recorder of its arguments, so that no server starts."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from vtrail.api.app import App
from vtrail.cli.main import app


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # `serve` freezes what the process holds, for a server's lifetime


def test_serve_runs_uvicorn_with_httptools_and_uvloop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def run(served: Any, **options: Any) -> None:
        seen.update(options, app=served)

    monkeypatch.setattr(uvicorn, "run", run)
    done = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "v.db"), "--port", "8123"])
    assert done.exit_code == 0, done.output
    assert isinstance(seen["app"], App)
    assert (seen["http"], seen["loop"], seen["port"]) == ("httptools", "uvloop", 8123)
    # Both are vtrail's own dependencies, not uvicorn's optional ones.
    import httptools
    import uvloop

    assert httptools.__version__ and uvloop.__version__
