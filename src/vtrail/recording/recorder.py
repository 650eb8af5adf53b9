"""Observations → history. The recorder is the only writer of the store.

Rules (DESIGN.md):
- every batch is one transaction; the raw observation goes to the journal first;
- the same observation twice changes nothing (the journal knows it by its
  instant, source and content hash);
- a snapshot closes what the same source reported before and omits now, opens
  a version for each entity whose attributes changed, and writes nothing for
  unchanged ones;
- several sources may report one entity or relation: each source's statement
  is kept, and the version is their merge (`vtrail.recording.merge`);
- each source is applied in its own order, `(observed_at, content hash)`: a
  source whose clock lags the others' lands in place without replaying them.
  An observation older than its own source's newest is late: that source's
  statements from its instant on are taken back and said again in order, and
  the keys they touch are re-derived, so any order of arrival gives the
  history of sorted arrival;
- after a `disconnect`, what the reconnect snapshot lacks is closed with
  `vanished_after` = when the source last saw it, never at a false instant;
- the journal is a file of its own, so a crash can fall between its commit and
  the history's: `recover()` puts them back in step when a recorder starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

from vtrail.model import JSONValue, Observation, canonical
from vtrail.payload import decode, encode
from vtrail.recording.merge import Merger
from vtrail.recording.names import batch_names, entities_of, with_ends
from vtrail.store.claims import ClaimKey, OpenClaims
from vtrail.store.conn import NeedsWholeStore, PipelineConflict
from vtrail.store.history import HistoryWriter
from vtrail.store.interfaces import Store
from vtrail.store.reads.rows import bulk
from vtrail.store.samples import SampleWriter
from vtrail.timeexpr import to_us
from vtrail.wire import check

#: A checkpoint of the live set is taken after at least this many changes, or
#: half as many as the last checkpoint held, whichever is more: a snapshot then
#: reads at most one checkpoint and half its size again in changes.
CHECKPOINT_MIN = 20_000
#: Checkpoints are taken this far behind the newest observation, so that a source
#: whose clock lags the others' by less does not land before one and void it.
CHECKPOINT_LAG_US = 60_000_000
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


def _named(o: Observation) -> Iterator[str]:
    """Every entity id an observation names."""
    for e in o.entities:
        yield e.id
    for r in o.relations:
        yield r.key.src
        yield r.key.dst
    for x in o.samples:
        yield x.entity


class Recorder:
    def __init__(self, store: Store, *, checkpoint_min: int = CHECKPOINT_MIN) -> None:
        self.store = store
        self.h = HistoryWriter(store)
        self.claims = self.h.claims
        self.merger = Merger(store, self.h)
        self.samples = SampleWriter(store)
        self.checkpoint_min = checkpoint_min
        #: The batch's entity ids the store did not know when it began, and the keys
        #: of theirs already told to the claim table (`_new_key`).
        self._unknown: set[str] = set()
        self._fresh: set[ClaimKey] = set()
        #: Whether a batch must hold the whole store: a deriver walks all of it.
        self._wide = False
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
            self._derive(since, stats)
            return
        marks: dict[int, tuple[int, int] | None] = {}
        again = [(decode(p), at) for p, at in self.h.journal_take_after(seq)]
        for o, at in again:
            self._record_one(o, at, marks, stats)
        self._count_rows(stats)
        first = min(to_us(o.observed_at) for o, _ in again)
        self.h.mark_applied(first)
        self.h.recount_observations()
        self._derive(first, stats)

    def record(
        self,
        observations: Iterable[Observation | tuple[Observation, int]],
        *,
        validated: bool = False,
        whole_write: bool = False,
    ) -> RecordStats:
        """Record a batch in one transaction: all of it, or (on error) none of it.

        An item may carry its own `recorded_at` (microseconds), as a rebuild does.
        Observations are held to the format's rules first (`wire.check`): one that
        breaks them raises `ObservationError` before anything is written. Pass
        `validated=True` only for what `vtrail.wire`'s parsers or the journal gave.
        `whole_write=True`: the write the caller holds writes nothing else of the
        history (the push endpoint's notes the batch's key), so the batch is
        recorded as in a write of its own, its checkpoint included."""
        # A batch's objects live until it is written: passes of the cyclic collector in
        # it promoted them and walked them, at 10M versions one of about 30 ms a batch of
        # 10,000 events. Nothing here makes a cycle that must go sooner.
        with bulk():
            if not validated:
                observations = [
                    (check(x[0]), x[1]) if isinstance(x, tuple) else check(x) for x in observations
                ]
            now = time.time_ns() // 1000
            items = [x if isinstance(x, tuple) else (x, now) for x in observations]
            pipelined = self.store.dialect.remote
            # On a server, first holding only what the batch names (vtrail.recording.names).
            narrow = pipelined and not self._wide and not self.store.in_write
            stats = RecordStats()
            try:
                while True:
                    try:
                        self._record(
                            items, stats, pipelined=pipelined, narrow=narrow, whole=whole_write
                        )
                        return stats
                    except NeedsWholeStore:
                        if not narrow:
                            raise
                        narrow = False
                    except PipelineConflict:
                        if not pipelined:
                            raise
                        # Rolled back: what the pipeline could not see at once, done one by one.
                        narrow = pipelined = False
                    self._forget()
                    stats = RecordStats()
            except BaseException:
                self._forget()
                raise

    def _forget(self) -> None:
        """After a rolled-back write: what was kept of it may be gone."""
        self.claims.scope = None
        self.claims.forget_all()
        self.h.expected()
        self._unknown, self._fresh = set(), set()
        self.merger.forget()
        for d in self.store.derivers:
            d.forget()

    def _record(
        self,
        items: list[tuple[Observation, int]],
        stats: RecordStats,
        *,
        pipelined: bool,
        narrow: bool = False,
        whole: bool = False,
    ) -> None:
        names = batch_names(o for o, _ in items) if narrow else None
        if names is not None:
            names = with_ends([o for o, _ in items], names, self.claims)
        # A write the caller holds is a short one others queue behind (an allocation, in
        # its turn: vtrail.ipam.queue); the live-set checkpoint that falls due in it,
        # 100,000 rows and most of a second, is taken by the next batch recorded alone.
        joined = self.store.in_write and not whole
        with self.store.write(names):
            self.claims.begin(own=not joined)
            if not self.h.in_step():
                self._repair(stats)
            with self.store.pipeline() if pipelined else nullcontext():
                self._record_items(
                    items, stats, ahead=pipelined, names=names, checkpoint=not joined
                )
        self.claims.scope = None
        if names is not None and self._checkpoint_due():
            # The live set is everyone's: taken holding the whole store.
            with self.store.write():
                self._checkpoint(stats)

    def _record_items(
        self,
        items: list[tuple[Observation, int]],
        stats: RecordStats,
        *,
        ahead: bool,
        names: set[str] | None = None,
        checkpoint: bool = True,
    ) -> None:
        marks: dict[int, tuple[int, int] | None] = {}
        first: int | None = None
        per_source: dict[int, int] = {}
        # The wire form, value for value: a counter above 2^53 is journalled exact.
        encoded = [encode(o) for o, _ in items]
        if ahead:
            self._fetch_ahead([o for o, _ in items], names)
            self.h.expect(
                [
                    (to_us(o.observed_at), self.store.source_id(o.source), h)
                    for (o, _), (_, h) in zip(items, encoded, strict=True)
                ]
            )
        elif len(items) > 1:
            # The ids this process has not met yet, asked in one statement rather than
            # one each as they come: a recorder started on a big store meets them all.
            self.store.entity_ids({i for o, _ in items for i in _named(o)})
        for (o, at), enc in zip(items, encoded, strict=True):
            journaled = stats.observations
            self._record_one(o, at, marks, stats, enc)
            if stats.observations > journaled:
                t = to_us(o.observed_at)
                first = t if first is None else min(first, t)
                src = self.store.source_id(o.source)
                per_source[src] = per_source.get(src, 0) + 1
        self.claims.batch_done()
        self.h.expected()
        self._unknown, self._fresh = set(), set()
        if first is not None:
            self.h.mark_applied(first)
            self.h.count_observations(per_source)
        self._count_rows(stats)
        if first is not None:
            self._derive(first, stats)
        if names is None and checkpoint and self._checkpoint_due():
            self._checkpoint(stats)

    def _checkpoint_due(self) -> bool:
        return self._since_checkpoint >= max(self.checkpoint_min, self._last_checkpoint_size // 2)

    def _fetch_ahead(self, batch: list[Observation], names: set[str] | None = None) -> None:
        """Ask a server at once what the batch will ask of it one observation at a time:
        one round trip instead of one each. The ids it names, and those it will
        intern; and for its events, each key's statements and latest interval.
        Snapshots' keys are left out: most of what a snapshot says repeats what its
        source said, which needs no question at all. With the batch's `names` locked
        alone, the claim table is told the entities it may write."""
        named: dict[str, None] = {}
        event_eids: set[str] = set()
        rels = []
        t: int | None = None
        for o in batch:
            if o.kind == "disconnect":
                continue
            # In the order `_record_one` interns them: samples, entities, relations' ends.
            ids = [e.id for e in o.entities]
            ids += [x for r in o.relations for x in (r.key.src, r.key.dst)]
            named.update(dict.fromkeys([s.entity for s in o.samples] + ids))
            if o.kind == "snapshot":
                continue
            event_eids.update(ids)
            rels += [r.key for r in o.relations]
            ts = to_us(o.observed_at)
            t = ts if t is None else min(t, ts)
        known = self.store.entity_ids(set(named))
        # An entity of an observation not in the journal yet is interned when it is
        # applied; one that is in it already was interned then. So the new ones are
        # interned now, all at once, in the order they would have been one by one.
        new = [e for e in named if e not in known]
        self._unknown = set(new)
        self.store.create_ids(new)
        if names is not None:
            self.claims.scope = set(self.store.entity_ids(entities_of(names)).values())
        if t is None:
            return
        keys: set[ClaimKey] = {(known[e], "", 0) for e in event_eids if e in known}
        keys.update(
            (known[k.src], k.rel, known[k.dst]) for k in rels if k.src in known and k.dst in known
        )
        self.claims.fetch_ahead(keys, t)

    def _new_key(self, key: ClaimKey, *eids: str) -> None:
        """A key of an entity the store did not know when the batch began has nothing
        recorded of it until the batch writes it; tell the claim table so, once."""
        if self._unknown and any(e in self._unknown for e in eids) and key not in self._fresh:
            self._fresh.add(key)
            self.claims.nothing_yet(key)

    def _record_one(
        self,
        o: Observation,
        recorded_at: int,
        marks: dict[int, tuple[int, int] | None],
        stats: RecordStats,
        encoded: tuple[str, int] | None = None,
    ) -> None:
        payload, h = encoded or encode(o)
        t = to_us(o.observed_at)
        src = self.store.source_id(o.source)
        if src not in marks:
            marks[src] = self.h.source_mark(src)
        if not self.h.journal_add(src, o.kind, t, recorded_at, h, payload):
            stats.duplicates += 1
            return
        stats.observations += 1
        stats.sources.add(o.source)
        for s in o.samples:
            e = self.store.entity_id(s.entity, create=True)
            ts = to_us(s.ts) if s.ts else t
            stats.samples += self.samples.add(e, s.metric, ts, s.value, src, s.type == "gauge")
        # Each source is in order by its own clock: one that lags behind the others
        # is not late, and its statements land in place without replaying anyone.
        mark = marks[src]
        if mark is None or (t, h) > mark:
            self._apply(o, t, src)
            marks[src] = (t, h)
            return
        # Late by its own source's order: re-derive that source from its instant on.
        stats.replays += 1
        self._rederive_source(src, t)

    def _rederive_source(self, src: int, t: int) -> None:
        """Take back what `src` said from `t` on and say it again in order; re-derive
        the versions of every key it touched, from `t` on."""
        self.merger.begin_replay(src, t)
        for row in self.h.journal_since(t, source=src):
            self._apply(decode(row.payload), row.observed_at, src)
        self.merger.end_replay()

    def _rederive(self, t: int, stats: RecordStats) -> None:
        """Roll all history back to `t` and apply the journal from there, in order."""
        self.h.rollback(t)
        self.merger.forget()
        for row in self.h.journal_since(t):
            self._apply(decode(row.payload), row.observed_at, self.store.source_id(row.source))
        self._count_rows(stats)

    def _derive(self, since: int, stats: RecordStats) -> None:
        """Bring what is derived from the history (`store.derivers`) up to date from
        `since`, in the batch's transaction, before a checkpoint may be taken."""
        for d in self.store.derivers:
            if self.claims.scope is not None:
                # Holding only the batch's names: a deriver that would walk the whole
                # history needs it all, for this batch and from now on.
                if d.idle(self.store):
                    continue
                self._wide = True
                raise NeedsWholeStore("a deriver walks the whole history")
            n = d(self.store, since)
            stats.rows_written += n
            self._since_checkpoint += n

    def _count_rows(self, stats: RecordStats) -> None:
        stats.rows_written += self.merger.rows_written
        self._since_checkpoint += self.merger.opened
        self.merger.rows_written = self.merger.opened = 0

    # -- applying one observation in its source's order ----------------------------

    def _apply(self, o: Observation, t: int, src: int) -> None:
        if o.kind == "disconnect":
            return
        if o.kind == "snapshot":
            self._apply_snapshot(o, t, src)
            return
        for e in o.entities:
            self._entity(e.id, e.attrs, t, src, None)
        for r in o.relations:
            self._relation(r.key.src, r.key.rel, r.key.dst, r.attrs, t, src, None)
        for rk in o.gone_relations:
            try:
                k = (self.store.entity_id(rk.src), rk.rel, self.store.entity_id(rk.dst))
            except LookupError:
                continue
            self.merger.end(k, src, t)
        for gid in o.gone:
            try:
                n = self.store.entity_id(gid)
            except LookupError:
                continue
            for k in self.claims.relation_keys_of(n, src):
                self.merger.end(k, src, t)
            self.merger.end((n, "", 0), src, t)

    def _apply_snapshot(self, o: Observation, t: int, src: int) -> None:
        claims = self.claims.open_of_source(src)
        gap_after: int | None = None
        prev = self.h.previous_of_source(src, t)
        if prev is not None and prev[0] == "disconnect":
            gap_after = self.h.last_seen_before(src, prev[1]) or prev[1]
        seen: set[ClaimKey] = set()
        for e in o.entities:
            seen.add(self._entity(e.id, e.attrs, t, src, claims))
        for r in o.relations:
            seen.add(self._relation(r.key.src, r.key.rel, r.key.dst, r.attrs, t, src, claims))
        # Relations first, so that an entity never ends before its edges.
        for k in sorted(set(claims) - seen, key=lambda k: k[1] == ""):
            after = None if gap_after is None else max(claims[k][0], gap_after)
            self.merger.end(k, src, t, after)

    def _entity(
        self,
        eid: str,
        attrs: Mapping[str, JSONValue],
        t: int,
        src: int,
        claims: OpenClaims | None,
    ) -> ClaimKey:
        n = self.store.entity_id(eid, create=True)
        key: ClaimKey = (n, "", 0)
        self._new_key(key, eid)
        text = self.store.attrs.encode(attrs)
        if self._repeats(key, text, claims) or not self.merger.state(key, src, t, text):
            return key
        for label in LABELS:
            value = attrs.get(label)
            if isinstance(value, str):
                self.h.label(n, label, value.lower() if label == "mac" else value)
        return key

    def _relation(
        self,
        a: str,
        rel: str,
        b: str,
        attrs: Mapping[str, JSONValue],
        t: int,
        src: int,
        claims: OpenClaims | None,
    ) -> ClaimKey:
        key = (self.store.entity_id(a, create=True), rel, self.store.entity_id(b, create=True))
        self._new_key(key, a, b)
        text = canonical(attrs)
        if not self._repeats(key, text, claims):
            self.merger.state(key, src, t, text)
        return key

    def _repeats(self, key: ClaimKey, text: str, claims: OpenClaims | None) -> bool:
        """Whether a snapshot says of `key` what its source said before: the common
        case, answered from the source's open claims (and, for a lone source, the
        version) without asking anything else."""
        mine = claims.get(key) if claims is not None else None
        if mine is None:
            return False
        if mine[1] is not None:
            return bool(mine[1] == text)
        table = self.h.versions if key[1] == "" else self.h.relations
        cur = table.latest((key[0],) if key[1] == "" else key)
        return cur is not None and cur.valid_to is None and cur.attrs == text

    # -- checkpoints ----------------------------------------------------------

    def _checkpoint(self, stats: RecordStats) -> None:
        mark = self.h.watermark()
        if mark is None:
            return
        ts = mark[0] - CHECKPOINT_LAG_US
        size = self.h.checkpoint(ts)
        self.merger.checkpoint_taken(ts)
        self._since_checkpoint = 0
        if size is not None:
            self._last_checkpoint_size = size
            stats.checkpoints += 1
