"""The temporal store. All SQL lives in this package."""

from vtrail.store.factory import open_store, server_url
from vtrail.store.interfaces import Deriver, HistoryWriting, Interning, Reading, Store
from vtrail.store.interning import StoreError, UnknownEntity
from vtrail.store.sqlite import SqliteStore, default_path, move_store, store_files

__all__ = [
    "Deriver",
    "HistoryWriting",
    "Interning",
    "Reading",
    "SqliteStore",
    "Store",
    "StoreError",
    "UnknownEntity",
    "default_path",
    "move_store",
    "open_store",
    "server_url",
    "store_files",
]
