"""Entities found by any part of their id, name, MAC or address."""

from __future__ import annotations

from dataclasses import dataclass

from vtrail.store import Store
from vtrail.store.reads.search import SearchReader

#: The most hits one answer gives (the CLI's and the API's bound on `limit`).
MAX_HITS = 200


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    kind: str
    name: str | None


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    query: str
    #: Names typed in full first, then the shortest ids.
    hits: list[SearchHit]


def search(store: Store, text: str, limit: int = 20) -> SearchAnswer:
    """Entities whose id, name, MAC or address contains `text`, shortest ids first."""
    text = text.strip()
    if not text:
        return SearchAnswer(text, [])
    hits = [SearchHit(e, k, n) for e, k, n in SearchReader(store).containing(text, limit)]
    return SearchAnswer(text, hits)
