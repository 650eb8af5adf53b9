"""Opening a store: a path opens SQLite, a `postgresql://` URL a PostgreSQL server.

This is the one place that picks a store; `cli.common.open_store`, the API's
dependencies and the recorder's tools all come here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vtrail.store.interfaces import Store
from vtrail.store.interning import StoreError
from vtrail.store.sqlite import SqliteStore, default_path

#: `--db` arrives as a `Path`, which folds `postgresql://` into `postgresql:/`.
_SERVER = re.compile(r"^(postgres(?:ql)?):/+", re.IGNORECASE)


def server_url(location: str | Path | None) -> str | None:
    """The PostgreSQL URL `location` names (`--db`, else `$VTRAIL_DB`), or None for a file."""
    text = str(location) if location is not None else os.environ.get("VTRAIL_DB", "")
    if not _SERVER.match(text):
        return None
    return _SERVER.sub(lambda m: f"{m.group(1).lower()}://", text, count=1)


def open_store(
    location: str | Path | None = None,
    *,
    readonly: bool = False,
    cache_mib: int = 128,
    durable: bool = False,
) -> Store:
    """The store at `location`: a file path (SQLite) or a `postgresql://` URL; None
    means `$VTRAIL_DB`, else the default file. `cache_mib` sizes SQLite's page cache;
    `durable` makes commits survive a power loss: SQLite syncs its WAL at each, and
    a PostgreSQL connection asks for `synchronous_commit` whatever the server's
    default."""
    url = server_url(location)
    if url is not None:
        try:
            from vtrail.store.postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "a PostgreSQL store needs psycopg: pip install 'vtrail[postgres]'"
            ) from None
        return PostgresStore(url, readonly=readonly, durable=durable)
    return SqliteStore(
        location or default_path(), readonly=readonly, cache_mib=cache_mib, durable=durable
    )
