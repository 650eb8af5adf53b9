"""The schema, as named migrations applied in order and recorded in the store itself.

The four tables of DESIGN.md are the truth: `version`, `relation`, `sample`
(stored as delta-encoded blocks) and `journal`. The rest is bookkeeping that
can be rebuilt from the journal: `entity` and `source` intern the long ids,
`claim` keeps which source reported what over which interval (what a snapshot
closes), and `checkpoint` keeps the live set at instants so that a snapshot at
T costs the same whatever the length of the history.

The journal has lived in its own file, attached as `jnl`, since
`0005_journal_file` (store/sqlite.py says why); `applied` records how far the
history has taken it in, so that a crash between the two files' commits can be
repaired (`Recorder.recover`). Since `0009_journal_bodies` a body may be
packed, or a delta from its source's keyframe (store/bodies.py), and
`vtrail compact` may drop old ones (store/journal.py).

Never edit a migration that has shipped: add a new one, at the end of
`since_exact_samples.py` (or a module of its own when that one fills).
"""

from __future__ import annotations

from vtrail.store.migrations.founding import FOUNDING
from vtrail.store.migrations.migration import Migration
from vtrail.store.migrations.since_exact_samples import SINCE_EXACT_SAMPLES

#: Every migration, in the order they apply.
MIGRATIONS: list[Migration] = [*FOUNDING, *SINCE_EXACT_SAMPLES]

__all__ = ["MIGRATIONS", "Migration"]
