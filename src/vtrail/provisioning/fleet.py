"""What every owner runs at an instant, kept from one admission to the next.

Admission needs the whole fleet at the instant it decides: the images and
their paths, each owner's running VMs with their sizes and addresses. Reading
it costs a walk over every VM; asking again later costs only the changes
since, so each store connection keeps the state of its last admission and goes
on from there. That is right only while nothing arrived that lands at or
before that instant (a late observation rewrites the past): the journal says
what arrived, and when anything did, the state is read again whole.
"""

from __future__ import annotations

import collections
import weakref
from dataclasses import dataclass

from vtrail.store import Store
from vtrail.store.reads.arrivals import ArrivalsReader
from vtrail.triage.provisioning import State, instants, read_changes, read_window


@dataclass(slots=True)
class _Kept:
    t: int
    seq: int
    state: State


_KEPT: weakref.WeakKeyDictionary[Store, _Kept] = weakref.WeakKeyDictionary()


def fleet_at(store: Store, t: int) -> State:
    """The VMs, images and owners in force at `t` (microseconds)."""
    kept = _KEPT.get(store)
    top, earliest = ArrivalsReader(store).since(kept.seq if kept else 0)
    if kept is not None and t >= kept.t and (earliest is None or earliest > kept.t):
        # Applying the changes since is the walk itself; its instants are not needed.
        collections.deque(instants(kept.state, read_changes(store, None, kept.t, t)), maxlen=0)
        kept.t, kept.seq = t, top
        return kept.state
    state = State()
    read_window(store, None, t, t, state)
    _KEPT[store] = _Kept(t, top, state)
    return state
