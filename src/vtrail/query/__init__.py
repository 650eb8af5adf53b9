"""Questions over the store, at an instant or over a window."""

from vtrail.query.jsonable import to_jsonable
from vtrail.query.state import (
    Ambiguous,
    BadWindow,
    UnknownKind,
    diff,
    ghosts,
    history,
    lifetime,
    resolve,
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
