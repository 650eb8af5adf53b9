"""What a migration is: a name, its SQL, and what must run before it in another file."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vtrail.store.conn import Conn


class Migration(NamedTuple):
    name: str
    sql: str
    #: Committed on its own before `sql`: for work in another file, which a
    #: transaction across files would not make atomic. Must be safe to repeat.
    prepare: str = ""
    #: As `prepare`, in Python, for a change that must look before it leaps to be
    #: safe to repeat (SQLite's ALTER TABLE has no IF NOT EXISTS). Run after it.
    prepare_fn: Callable[[Conn], None] | None = None
