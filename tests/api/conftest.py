"""What the API tests share: every SQL statement the server runs, with where it ran."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[bool, str]]]:
    """(on the event loop?, statement) for every statement of every connection opened
    meanwhile in this process."""
    ran: list[tuple[bool, str]] = []
    connect = sqlite3.connect

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(lambda sql: ran.append((on_loop(), sql)))
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracing)
    yield ran
