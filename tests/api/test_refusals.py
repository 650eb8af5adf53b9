"""What the API refuses, and with which status: a broken store is not a bad token."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.store import SqliteStore, StoreError
from vtrail.store import tokens as token_store


def _break_the_token_table(db: Path) -> None:
    """Overwrite the token table's pages (and its index's) on disk, as a bad disk would."""
    c = sqlite3.connect(db)
    pages = [r[0] for r in c.execute("SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'token'")]
    size = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    with db.open("r+b") as f:
        for n in pages:
            f.seek((n - 1) * size)
            f.write(b"\xa5" * size)


def test_a_database_error_while_checking_a_token_is_a_503_not_a_401(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    _, secret = token_store.create(store, "writer", "ci")
    store.close()
    _break_the_token_table(db)
    with TestClient(create_app(Settings(db=db, read_token=True))) as c:
        for r in (
            c.get("/api/stats", headers={"Authorization": f"Bearer {secret}"}),
            c.post("/api/observations", content="", headers={"Authorization": f"Bearer {secret}"}),
        ):
            assert r.status_code == 503, r.text
            detail = r.json()["detail"]
            assert detail.startswith(f"cannot read the tokens in {db}: "), detail
            assert "malformed" in detail and "\n" not in detail


def test_the_token_list_says_the_store_is_broken(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    token_store.create(store, "reader", "grafana")
    store.close()
    _break_the_token_table(db)
    done = CliRunner().invoke(cli, ["token", "list", "--db", str(db), "-o", "json"])
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: cannot read the tokens in {db}: ")
    assert done.stdout == ""


def test_a_store_from_before_tokens_has_none(tmp_path: Path) -> None:
    db = tmp_path / "vtrail.db"
    SqliteStore(db).close()
    c = sqlite3.connect(db)
    c.execute("DROP TABLE token")
    c.close()
    store = SqliteStore(db, readonly=True)
    try:
        assert token_store.lookup(store, "vt_anything") is None
        assert token_store.listing(store) == []
    finally:
        store.close()


def test_an_operational_error_is_not_an_unknown_token(tmp_path: Path) -> None:
    # The error a busy or failing disk gives (OperationalError) used to read as "no such
    # token". Here SQLite itself interrupts every statement of the connection.
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    _, secret = token_store.create(store, "writer", "ci")
    store.conn.set_progress_handler(lambda: 1, 1)
    try:
        with pytest.raises(StoreError, match=r"cannot read the tokens in .*: interrupted"):
            token_store.lookup(store, secret)
        with pytest.raises(StoreError, match="interrupted"):
            token_store.listing(store)
    finally:
        store.conn.set_progress_handler(None, 1)
        store.close()
