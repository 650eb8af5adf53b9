"""Whether an entity was born while vtrail was recording, and when.

A counter of an entity born under vtrail's eyes counted from zero at its birth,
so its first reading is part of what it carried: a port created with its bridge
that sent 1.6 GB before its first poll carried 1.6 GB, not what it sent after.
An entity already there when recording began may have counted for days before;
its total stays the growth from its first reading.

Born while recording means: a source that reported the entity when it first
appeared had taken a complete look before (a snapshot) and had not lost sight
since (no `disconnect` after that snapshot), and the entity was not in that
look. So an entity in a source's first snapshot, or in the first snapshot
after a gap, or in an event between a gap and the snapshot that closes it, was
not born then: it may have been there all along, unwatched. When several
sources first reported it at the same instant, one that was watching is
enough.
"""

from __future__ import annotations

from vtrail.store.interfaces import Store


def birth(store: Store, entity: int) -> int | None:
    """The instant `entity` first appeared, if it was born while recording; else None."""
    # Every source's statement (claim) keeps when it began: the first ones are the
    # sources that saw the entity appear.
    first = store.conn.execute(
        "SELECT since, source FROM claim WHERE a = ? AND rel = '' AND b = 0 AND since = "
        "(SELECT min(since) FROM claim WHERE a = ? AND rel = '' AND b = 0)",
        (entity, entity),
    ).fetchall()
    for t, source in first:
        # The source's last complete look, or loss of sight, before the entity appeared.
        look = store.conn.execute(
            "SELECT kind FROM journal WHERE source = ? AND observed_at < ? AND kind != 'event' "
            "ORDER BY observed_at DESC, seq DESC LIMIT 1",
            (source, t),
        ).fetchone()
        if look is not None and look[0] == "snapshot":
            return int(t)
    return None
