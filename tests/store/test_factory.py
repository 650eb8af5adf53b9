"""`open_store` picks the store from what `--db` or `$VTRAIL_DB` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrail.store import SqliteStore, open_store, server_url


def test_a_path_opens_sqlite(tmp_path: Path) -> None:
    store = open_store(tmp_path / "v.db")
    try:
        assert isinstance(store, SqliteStore)
        assert (tmp_path / "v.db").exists()
    finally:
        store.close()


def test_a_url_folded_by_path_is_read_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # typer hands `--db` over as a Path, which folds the URL's `//` into `/`.
    assert server_url(Path("postgresql://vt@db.example:5432/vtrail")) == (
        "postgresql://vt@db.example:5432/vtrail"
    )
    assert server_url("POSTGRES://h/v") == "postgres://h/v"
    assert server_url(Path("/var/lib/vtrail/postgresql.db")) is None
    monkeypatch.setenv("VTRAIL_DB", "postgresql://h/v")
    assert server_url(None) == "postgresql://h/v"
    monkeypatch.setenv("VTRAIL_DB", "/tmp/v.db")
    assert server_url(None) is None
