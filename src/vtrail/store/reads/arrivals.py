"""What arrived since a reader last looked: the journal's newest entry, and the earliest
instant of those after one (admission keeps the fleet between asks, provisioning/fleet.py)."""

from __future__ import annotations

from vtrail.store.interfaces import Store


class ArrivalsReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn

    def since(self, seq: int) -> tuple[int, int | None]:
        """`(newest seq, earliest instant observed after seq)`: the instant is None when
        nothing arrived after `seq`. Two seeks on the journal's key."""
        top, earliest = self.c.execute(
            "SELECT ifnull(max(seq), 0), min(observed_at) FROM journal WHERE seq > ?", (seq,)
        ).fetchone()
        return int(top) if top else seq, int(earliest) if earliest is not None else None
