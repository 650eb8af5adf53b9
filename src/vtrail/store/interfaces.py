"""The store's seam: what the recorder and the questions depend on, as Protocols.

Two stores implement them: `SqliteStore` (store/sqlite.py, the embedded
default) and `PostgresStore` (store/postgres.py). Everything outside `store/`
names these types, never a concrete store, and opens one with
`store.open.open_store`.

The readers and writers under `store/` are one body of SQL for both: they
talk to `Conn`, the part of a DB-API connection they use (sqlite3's, or the
PostgreSQL adapter's, which rewrites SQLite's dialect through
store/dialect.py). So the seam is two layers deep: `Store` for the code
above the store, `Conn` for the SQL inside it.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from vtrail.store.attrs import AttrCodec
from vtrail.store.checkpoints import CheckpointCache
from vtrail.store.conn import Conn, Cursor
from vtrail.store.dialect import Dialect

__all__ = ["Conn", "Cursor", "Deriver", "HistoryWriting", "Interning", "Reading", "Store"]


class Interning(Protocol):
    """Long ids to the store's integers and back."""

    def entity_id(self, eid: str, *, create: bool = False) -> int:
        """The integer behind an entity id; `UnknownEntity` if never recorded."""
        ...

    def entity_ids(self, eids: set[str]) -> dict[str, int]:
        """The integers of those of `eids` the store has recorded, in one question."""
        ...

    def create_ids(self, eids: list[str]) -> None:
        """Intern ids the store has never recorded, many per statement."""
        ...

    def entity_name(self, n: int) -> str: ...

    def source_id(self, name: str) -> int: ...

    def source_name(self, n: int) -> str: ...


class Reading(Interning, Protocol):
    """What the questions need: the SQL connection, interning, checkpoints, attributes."""

    #: Where the store lives: its file, or for a server the folder its
    #: local locks go in (store/postgres.py).
    path: Path
    #: What its SQL cannot say alike on both (store/dialect.py).
    dialect: Dialect
    checkpoints: CheckpointCache
    attrs: AttrCodec

    @property
    def conn(self) -> Conn: ...

    @property
    def location(self) -> str:
        """Where the history is, to show: a file, or a server's URL without its password."""
        ...

    @property
    def journal_location(self) -> str:
        """Where the journal is, to show."""
        ...

    def close(self) -> None: ...


class HistoryWriting(Reading, Protocol):
    """What the recorder needs: one atomic transaction per batch, and its bookkeeping."""

    in_write: bool
    #: Write transactions begun on this store object (by any of its writers).
    writes_begun: int
    #: Rows added to (or taken from) `version` and `relation` in the open write.
    tally: dict[str, int]
    #: Labels known to be in `label`, or in `labels_due`.
    labelled: set[tuple[int, str, str]]
    #: Labels `(key, value, entity)` the open write will add as it commits.
    labels_due: list[tuple[str, str, int]]
    #: Set by whoever opens the store to record into it (the CLI, the API).
    derivers: list[Deriver]

    def write(self, names: Collection[str] | None = None) -> AbstractContextManager[Conn]:
        """One transaction: all of the block, or none of it; nested calls join it.
        `names` (vtrail.recording.names): the sources and entities the
        block writes, known before it begins, so that a server lets writers of
        other names write at once; None: anything."""
        ...

    def commits_elsewhere(self) -> int | None:
        """A count that changes whenever another connection commits to the store
        (SQLite's `data_version`); None where writers side by side are the rule (a
        server), so that nothing written may be taken as still standing."""
        ...

    def pipeline(self) -> AbstractContextManager[None]:
        """Inside a write: the block's statements may go without waiting for each
        one's answer (a server's round trips). A one-row INSERT that meets its key
        then raises `PipelineConflict` at the block's end, and the transaction is to
        be done again outside a pipeline. In process, a statement is not a round
        trip, and this does nothing."""
        ...


class Store(HistoryWriting, Protocol):
    """A whole store: history, questions, and its schema."""

    def migrate(self) -> list[str]: ...

    def migrations(self) -> list[tuple[str, int]]: ...

    def size_bytes(self) -> int: ...


class Deriver(Protocol):
    """What the recorder runs inside each batch's transaction to keep rows derived from
    the history (membership, in `vtrail.triage.derive`) true to it."""

    def __call__(self, store: Store, since: int) -> int:
        """Derive again from `since` (the batch's earliest instant); rows opened."""
        ...

    def forget(self) -> None:
        """The transaction was rolled back: drop whatever was kept of it."""
        ...

    def idle(self, store: Store) -> bool:
        """Whether a call now would derive nothing at all. A batch that holds only what
        it names (vtrail.recording.names) is written beside others only then: a
        deriver that walks the whole history needs the whole store."""
        ...
