"""What a batch will write, named before it begins, so that a server store lets the
recorders of other hosts write beside it (store/postgres.py, `PostgresStore.write`).

A batch names its sources and every entity its observations mention: all that an
event writes is theirs. What a snapshot may end (what its source reports now)
and the other ends of a gone entity's edges are asked of the store before the
batch begins (`ClaimTable.ends_named`). What a batch only finds as it goes is
not named: the keys a late observation's replay takes back, what a deriver
walks, and whatever changed between that question and the batch's locks. The
claim table refuses to write a key of an entity not named (`ClaimTable.scope`),
and the recorder then does the batch again holding the whole store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from vtrail.model import Observation
from vtrail.store.claims import ClaimTable

#: The most names a batch locks one by one. Each lock is an entry of the server's
#: lock table (`max_locks_per_transaction` times the connections: 6,400 by
#: default), so a batch naming more holds the whole store instead.
MAX_NAMES = 512


def batch_names(observations: Iterable[Observation]) -> set[str] | None:
    """The batch's sources and entities, told apart; None when there are more than
    `MAX_NAMES`."""
    names: set[str] = set()
    for o in observations:
        names.add("s" + o.source)
        names.update("e" + e.id for e in o.entities)
        names.update("e" + x for r in o.relations for x in (r.key.src, r.key.dst))
        names.update("e" + s.entity for s in o.samples)
        names.update("e" + x for x in o.gone)
        names.update("e" + x for k in o.gone_relations for x in (k.src, k.dst))
        if len(names) > MAX_NAMES:
            return None
    return names


def with_ends(
    observations: Collection[Observation], names: set[str], claims: ClaimTable
) -> set[str] | None:
    """`names` and the entities the batch may end without naming them, asked of the
    store at once; None when they are more than `MAX_NAMES`."""
    sources = sorted({o.source for o in observations if o.kind == "snapshot"})
    gone = sorted({(o.source, g) for o in observations for g in o.gone})
    if not sources and not gone:
        return names
    names = names | {"e" + e for e in claims.ends_named(sources, gone)}
    return names if len(names) <= MAX_NAMES else None


def entities_of(names: Collection[str]) -> set[str]:
    """The entity ids among `batch_names`."""
    return {n[1:] for n in names if n[0] == "e"}
