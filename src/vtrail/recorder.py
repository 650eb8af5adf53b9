"""Observations → history. The recorder is the only writer of the store.

Rules (DESIGN.md):
- every batch is one transaction; the raw observation goes to the journal first;
- the same observation twice changes nothing (the journal knows it by its
  instant, source and content hash);
- a snapshot closes what the same source reported before and omits now, opens
  a version for each entity whose attributes changed, and writes nothing for
  unchanged ones;
- an observation older than what is recorded is put in its place: everything
  derived from that instant on is rolled back and the journal replayed in
  order, so any order of arrival gives the history of sorted arrival;
- after a `disconnect`, what the reconnect snapshot lacks is closed with
  `vanished_after` = when the source last saw it, never at a false instant;
- the journal is a file of its own, so a crash can fall between its commit and
  the history's: `recover()` puts them back in step when a recorder starts.

Order of application is `(observed_at, source, content hash)`, which makes
ties between sources deterministic whatever the order they arrived in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vtrail.model import JSONValue, Observation, canonical
from vtrail.payload import decode, encode
from vtrail.store.history import ClaimKey, HistoryWriter, Intervals
from vtrail.store.samples import SampleWriter
from vtrail.store.sqlite import SqliteStore
from vtrail.timeexpr import to_us
from vtrail.wire import check

#: A checkpoint of the live set is taken after at least this many changes, or
#: half as many as the last checkpoint held, whichever is more: a snapshot then
#: reads at most one checkpoint and half its size again in changes.
CHECKPOINT_MIN = 20_000
#: Attributes `where` can find an entity by.
LABELS = ("name", "mac")


@dataclass(slots=True)
class RecordStats:
    observations: int = 0
    duplicates: int = 0
    replays: int = 0
    rows_written: int = 0
    samples: int = 0
    checkpoints: int = 0
    sources: set[str] = field(default_factory=set)

    def add(self, other: RecordStats) -> None:
        self.observations += other.observations
        self.duplicates += other.duplicates
        self.replays += other.replays
        self.rows_written += other.rows_written
        self.samples += other.samples
        self.checkpoints += other.checkpoints
        self.sources |= other.sources


def _payload(o: Observation) -> tuple[str, int]:
    # The wire form, value for value: a counter above 2^53 is journalled exact.
    return encode(o)


class Recorder:
    def __init__(self, store: SqliteStore, *, checkpoint_min: int = CHECKPOINT_MIN) -> None:
        self.store = store
        self.h = HistoryWriter(store)
        self.samples = SampleWriter(store)
        self.checkpoint_min = checkpoint_min
        self._last_checkpoint_size, self._since_checkpoint = self.h.since_checkpoint()
        self.recover()

    def recover(self) -> RecordStats:
        """Bring history and journal back in step after a crash between their commits.

        SQLite commits the history's file first. If the journal's commit was then
        lost, the history holds a batch the journal lacks: it is re-derived from
        that batch's earliest instant without it (its counter samples stay, as
        readings that were taken). Should the journal hold entries the history
        lacks, they are recorded again, in their order of arrival. Every batch
        checks first, so a recorder that kept running repairs another's crash.
        """
        stats = RecordStats()
        with self.store.write():
            if not self.h.in_step():
                self._repair(stats)
        return stats

    def _repair(self, stats: RecordStats) -> None:
        seq, since = self.h.applied()
        if self.h.journal_top() < seq:
            self._rederive(since, stats)
            self.h.mark_applied(since)
            self.h.recount_observations()
            return
        mark = self.h.watermark()
        again = [(decode(p), at) for p, at in self.h.journal_take_after(seq)]
        for o, at in again:
            mark = self._record_one(o, at, mark, stats)
        self.h.mark_applied(min(to_us(o.observed_at) for o, _ in again))
        self.h.recount_observations()

    def record(
        self,
        observations: Iterable[Observation | tuple[Observation, int]],
        *,
        validated: bool = False,
    ) -> RecordStats:
        """Record a batch in one transaction: all of it, or (on error) none of it.

        An item may carry its own `recorded_at` (microseconds), as a rebuild does.
        Observations are held to the format's rules first (`wire.check`): one that
        breaks them raises `ObservationError` before anything is written. Pass
        `validated=True` only for what `vtrail.wire`'s parsers or the journal gave.
        """
        if not validated:
            observations = [
                (check(x[0]), x[1]) if isinstance(x, tuple) else check(x) for x in observations
            ]
        stats = RecordStats()
        with self.store.write():
            if not self.h.in_step():
                self._repair(stats)
            mark = self.h.watermark()
            first: int | None = None
            per_source: dict[int, int] = {}
            for item in observations:
                o, at = item if isinstance(item, tuple) else (item, time.time_ns() // 1000)
                journaled = stats.observations
                mark = self._record_one(o, at, mark, stats)
                if stats.observations > journaled:
                    t = to_us(o.observed_at)
                    first = t if first is None else min(first, t)
                    src = self.store.source_id(o.source)
                    per_source[src] = per_source.get(src, 0) + 1
            if first is not None:
                self.h.mark_applied(first)
                self.h.count_observations(per_source)
            if self._since_checkpoint >= max(self.checkpoint_min, self._last_checkpoint_size // 2):
                self._checkpoint(stats)
        return stats

    def _record_one(
        self,
        o: Observation,
        recorded_at: int,
        mark: tuple[int, str, int] | None,
        stats: RecordStats,
    ) -> tuple[int, str, int] | None:
        payload, h = _payload(o)
        t = to_us(o.observed_at)
        src = self.store.source_id(o.source)
        seq = self.h.journal_add(src, o.kind, t, recorded_at, h, payload)
        if seq is None:
            stats.duplicates += 1
            return mark
        stats.observations += 1
        stats.sources.add(o.source)
        for s in o.samples:
            e = self.store.entity_id(s.entity, create=True)
            ts = to_us(s.ts) if s.ts else t
            stats.samples += self.samples.add(e, s.metric, ts, s.value)
        key = (t, o.source, h)
        if mark is None or key > mark:
            self._apply(o, t, src, stats)
            return key
        # A late arrival: re-derive everything from its instant on, in order.
        stats.replays += 1
        self._rederive(t, stats)
        return mark

    def _rederive(self, t: int, stats: RecordStats) -> None:
        """Roll history back to `t` and apply the journal from there, in order."""
        self.h.rollback(t)
        for row in self.h.journal_since(t):
            self._apply(
                decode(row.payload), row.observed_at, self.store.source_id(row.source), stats
            )

    # -- applying one observation in order ---------------------------------------

    def _apply(self, o: Observation, t: int, src: int, stats: RecordStats) -> None:
        if o.kind == "disconnect":
            return
        if o.kind == "snapshot":
            self._apply_snapshot(o, t, src, stats)
            return
        for e in o.entities:
            self._entity(e.id, e.attrs, t, src, None, stats)
        for r in o.relations:
            self._relation(r.key.src, r.key.rel, r.key.dst, r.attrs, t, src, None, stats)
        for rk in o.gone_relations:
            try:
                k = (self.store.entity_id(rk.src), rk.rel, self.store.entity_id(rk.dst))
            except LookupError:
                continue
            if self.h.has_claim(k, src):
                self._end(k, src, t, None, stats)
        for gid in o.gone:
            try:
                n = self.store.entity_id(gid)
            except LookupError:
                continue
            for k in self.h.relation_claims_of(n, src):
                self._end(k, src, t, None, stats)
            if self.h.has_claim((n, "", 0), src):
                self._end((n, "", 0), src, t, None, stats)

    def _apply_snapshot(self, o: Observation, t: int, src: int, stats: RecordStats) -> None:
        claims = self.h.open_claims(src)
        gap_after: int | None = None
        prev = self.h.previous_of_source(src, t)
        if prev is not None and prev[0] == "disconnect":
            gap_after = self.h.last_seen_before(src, prev[1]) or prev[1]
        seen: set[ClaimKey] = set()
        for e in o.entities:
            seen.add(self._entity(e.id, e.attrs, t, src, claims, stats))
        for r in o.relations:
            seen.add(
                self._relation(r.key.src, r.key.rel, r.key.dst, r.attrs, t, src, claims, stats)
            )
        # Relations first, so that an entity never ends before its edges.
        for k in sorted(set(claims) - seen, key=lambda k: k[1] == ""):
            after = None if gap_after is None else max(claims[k], gap_after)
            self._end(k, src, t, after, stats)

    def _entity(
        self,
        eid: str,
        attrs: Mapping[str, JSONValue],
        t: int,
        src: int,
        claims: dict[ClaimKey, int] | None,
        stats: RecordStats,
    ) -> ClaimKey:
        n = self.store.entity_id(eid, create=True)
        ck: ClaimKey = (n, "", 0)
        self._claim(ck, src, t, claims, stats)
        if self._set(self.h.versions, (n,), self.store.attrs.encode(attrs), t, src, stats):
            for label in LABELS:
                value = attrs.get(label)
                if isinstance(value, str):
                    self.h.label(n, label, value.lower() if label == "mac" else value)
        return ck

    def _relation(
        self,
        a: str,
        rel: str,
        b: str,
        attrs: Mapping[str, JSONValue],
        t: int,
        src: int,
        claims: dict[ClaimKey, int] | None,
        stats: RecordStats,
    ) -> ClaimKey:
        key = (self.store.entity_id(a, create=True), rel, self.store.entity_id(b, create=True))
        self._claim(key, src, t, claims, stats)
        self._set(self.h.relations, key, canonical(attrs), t, src, stats)
        return key

    def _set(
        self,
        table: Intervals,
        key: tuple[int | str, ...],
        text: str,
        t: int,
        src: int,
        stats: RecordStats,
    ) -> bool:
        """Make `text` the state of `key` from `t` on; False when it already was."""
        cur = table.latest(key)
        if cur is not None and cur.valid_to is None:
            if cur.attrs == text:
                return False
            table.close(key, cur.valid_from, t, None)
            stats.rows_written += 1
        table.open(key, t, src, text)
        stats.rows_written += 1
        self._since_checkpoint += 1
        return True

    def _claim(
        self,
        key: ClaimKey,
        src: int,
        t: int,
        claims: dict[ClaimKey, int] | None,
        stats: RecordStats,
    ) -> None:
        held = key in claims if claims is not None else self.h.has_claim(key, src)
        if not held:
            self.h.open_claim(key, src, t)
            stats.rows_written += 1

    def _end(
        self, key: ClaimKey, src: int, t: int, vanished_after: int | None, stats: RecordStats
    ) -> None:
        self.h.close_claim(key, src, t, vanished_after)
        stats.rows_written += 1
        if self.h.claimed_by_others(key, src):
            return
        a, rel, _ = key
        table, k = (self.h.versions, (a,)) if rel == "" else (self.h.relations, key)
        cur = table.latest(k)
        if cur is not None and cur.valid_to is None:
            table.close(k, cur.valid_from, t, vanished_after)
            stats.rows_written += 1
            self._since_checkpoint += 1

    # -- checkpoints ----------------------------------------------------------

    def _checkpoint(self, stats: RecordStats) -> None:
        mark = self.h.watermark()
        if mark is None:
            return
        size = self.h.checkpoint(mark[0])
        self._since_checkpoint = 0
        if size is not None:
            self._last_checkpoint_size = size
            stats.checkpoints += 1
