"""`vtrail rebuild` and `vtrail compact` on a PostgreSQL store.

Rebuild. SQLite's replays the journal into a new file and keeps the old one
beside it as `NAME.before-rebuild.db`. On a server the file is a schema: the
journal is replayed into a fresh schema of the same database (`begin_rebuild`
names it; the recorder fills it through a URL whose `search_path` is it), and
`swap` then renames, in one transaction, the store's schema to
`SCHEMA_before_rebuild` (replacing an older one, as SQLite's rename does) and
the fresh one to the store's name. Tokens are credentials, not history, and
the push streams' sequence numbers keep a re-sent batch from counting as new:
both are carried over. A recorder that wrote while the journal was replayed
would lose its observations to the old schema, so the swap refuses when the
journal changed meanwhile, and the fresh schema is dropped (`abandon`).
Readers that hold prepared statements keep reading the renamed schema until
they reconnect: restart `vtrail serve` after a rebuild.

Compact. SQLite's drops the bodies of old observations (when told to), packs
bodies kept as text, and vacuums the journal's file. On a server bodies are
never kept as large text (store/bodies.py packs them as they come), so there
is nothing to pack; the same bodies are dropped, by the journal's own rule,
and `VACUUM (FULL, ANALYZE)` rewrites the journal's partitions to give their
space back to the disk, then `ANALYZE` refreshes the planner's statistics of
every table. Like SQLite's VACUUM, the rewrite holds the journal for its
duration: recorders wait.
"""

from __future__ import annotations

from urllib.parse import quote

from vtrail.store.interning import StoreError
from vtrail.store.journal import Compacted, Journal
from vtrail.store.postgres import PostgresStore
from vtrail.timeexpr import from_us

#: The fresh schema a rebuild replays into.
FRESH = "vtrail_rebuild"
#: Carried from the old schema to the rebuilt one.
CARRIED = ("token", "push_stream")


def schema_url(url: str, schema: str) -> str:
    """`url` with `schema` first on its search path: a store opened there lives in it."""
    option = "options=" + quote(f"-c search_path={schema}")
    return f"{url}{'&' if '?' in url else '?'}{option}"


def _journal_mark(store: PostgresStore) -> tuple[int, int]:
    row = store.conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM journal").fetchone()
    return int(row[0]), int(row[1])


class Rebuild:
    """A rebuild of `store` under way: the fresh schema and what the journal held."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.schema = str(store.conn.execute("SELECT current_schema()").fetchone()[0])
        self.backup = f"{self.schema}_before_rebuild"
        self.mark = _journal_mark(store)
        raw = store.conn.raw
        raw.execute(f"DROP SCHEMA IF EXISTS {FRESH} CASCADE")
        raw.execute(f"CREATE SCHEMA {FRESH}")
        self.url = schema_url(store.url, FRESH)

    def swap(self) -> str:
        """The rebuilt schema becomes the store, the old one its backup; the backup's name."""
        store = self.store
        with store.write():
            if _journal_mark(store) != self.mark:
                raise StoreError(
                    "the journal changed while it was replayed (a recorder is writing): "
                    "stop the recorders and rebuild again; nothing was changed"
                )
            raw = store.conn.raw
            for table in CARRIED:
                raw.execute(f"INSERT INTO {FRESH}.{table} SELECT * FROM {self.schema}.{table}")
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{FRESH}.token', 'id'), "
                f"coalesce((SELECT max(id) FROM {FRESH}.token), 0) + 1, false)"
            )
            raw.execute(f"DROP SCHEMA IF EXISTS {self.backup} CASCADE")
            raw.execute(f"ALTER SCHEMA {self.schema} RENAME TO {self.backup}")
            raw.execute(f"ALTER SCHEMA {FRESH} RENAME TO {self.schema}")
        return self.backup

    def abandon(self) -> None:
        """Drop the fresh schema: the store stays as it was."""
        self.store.conn.raw.execute(f"DROP SCHEMA IF EXISTS {FRESH} CASCADE")


def _journal_bytes(store: PostgresStore) -> int:
    row = store.conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
        "WHERE i.inhparent = to_regclass('journal')"
    ).fetchone()
    return int(row[0])


def compact(store: PostgresStore, keep_from: int | None) -> Compacted:
    """Drop the bodies of observations before `keep_from` (None: none) by the journal's
    rule, then give the journal's space back and refresh the statistics."""
    before = _journal_bytes(store)
    # The journal's own rule of which bodies may go (keyframes that kept bodies are
    # deltas of stay); its `compact` goes on to SQLite's packing and VACUUM.
    dropped = Journal(store).drop_bodies(keep_from) if keep_from is not None else 0
    raw = store.conn.raw
    raw.execute("VACUUM (FULL, ANALYZE) journal")
    raw.execute("ANALYZE")
    horizon = Journal(store).horizon()
    return Compacted(
        0,
        dropped,
        from_us(horizon) if horizon is not None else None,
        before,
        _journal_bytes(store),
    )
