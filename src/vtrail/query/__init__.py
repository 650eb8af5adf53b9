"""Questions over the store, at an instant or over a window."""

from vtrail.query.jsonable import to_jsonable
from vtrail.query.names import Ambiguous, resolve
from vtrail.query.state import (
    BadWindow,
    UnknownKind,
    diff,
    ghosts,
    history,
    lifetime,
    show,
    snapshot,
    stats,
    where,
)

__all__ = [
    "Ambiguous",
    "BadWindow",
    "UnknownKind",
    "diff",
    "ghosts",
    "history",
    "lifetime",
    "resolve",
    "show",
    "snapshot",
    "stats",
    "to_jsonable",
    "where",
]
