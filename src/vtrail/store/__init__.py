"""The temporal store. All SQL lives in this package."""

from vtrail.store.sqlite import (
    SqliteStore,
    StoreError,
    UnknownEntity,
    default_path,
    move_store,
    store_files,
)

__all__ = [
    "SqliteStore",
    "StoreError",
    "UnknownEntity",
    "default_path",
    "move_store",
    "store_files",
]
