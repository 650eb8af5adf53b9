"""Entities found by any part of their id, name, MAC or address."""

from __future__ import annotations

from dataclasses import dataclass

from vtrail.store import SqliteStore
from vtrail.store.reads.search import SearchReader


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    kind: str
    name: str | None


def search(store: SqliteStore, text: str, limit: int = 20) -> list[SearchHit]:
    """Entities whose id, name, MAC or address contains `text`, shortest ids first."""
    text = text.strip()
    if not text:
        return []
    return [SearchHit(e, k, n) for e, k, n in SearchReader(store).containing(text, limit)]
