"""Several sources, one history: per-source statements merged into versions.

libvirt, netlink and Open vSwitch all report `port:<host>/<tap>`, each with
attributes of its own. The recorder keeps what each source says (its
*statement*, a row of `claim`), and the version of an entity or a relation at
T is the merge of the statements in force at T:

- every attribute any reporting source gives is in the merge;
- where sources disagree on an attribute, the source that has reported the
  thing the longest without a break wins; ties go to the source whose name
  sorts first. A null is no value: it never hides another source's value.
  The rank changes only when a source starts or stops reporting, so a source
  that repeats itself, or changes another attribute, never makes the merged
  value flip;
- a version begins only where the merge changes, and names as its `source` the
  source whose statement began or ended then (the first by name when several
  did at the same instant);
- the thing ends when the last source stops reporting it.

The merge is a function of the statements alone, so the history does not
depend on the order in which sources' observations arrived: a statement that
lands before a later version of the same key re-derives that key's versions
from its instant on (`resweep`), and nothing else.
"""

from __future__ import annotations

import json

from vtrail.model import JSONValue, canonical
from vtrail.store.claims import Claim, ClaimKey, ClaimTable
from vtrail.store.history import Current, HistoryWriter, Intervals
from vtrail.store.interfaces import Store


class Merger:
    """Applies one source's statements and keeps the merged versions in step."""

    def __init__(self, store: Store, h: HistoryWriter) -> None:
        self.store = store
        self.h = h
        self.claims: ClaimTable = h.claims
        #: Versions and relations begun; the recorder checkpoints on this count.
        self.opened = 0
        self.rows_written = 0
        #: While a source is being replayed, statements only change claims; the
        #: keys touched are re-derived from `_replay_from` when it ends.
        self._replay_from: int | None = None
        self._touched: set[ClaimKey] = set()
        self._checkpoint_ts = self._newest_checkpoint()

    # -- the two things a source can say ------------------------------------------

    def state(self, key: ClaimKey, src: int, t: int, text: str) -> bool:
        """`src` says from `t` on that `key` has the attributes encoded as `text`.

        False when that is what it said already (a repeat writes nothing).
        """
        table, vkey = self._table(key)
        rows, latest = self.claims.with_latest(key, t)
        mine = next((r for r in rows if r.source == src and r.until is None), None)
        cur = None if latest is None else Current(*latest)
        if mine is not None and self._said(mine, cur) == text:
            self._keep_alone(key, src, t, rows, mine, cur)
            return False
        if self._replay_from is not None or self._later(rows, cur, t):
            self.materialize(key, self._replay_from if self._replay_from is not None else t)
            first = self._withdraw(key, src, t)
            self.claims.open(key, src, t, t if first is None else first, text)
            self._after_slow(key, t)
            return True
        others = [r for r in rows if r.source != src and r.until is None]
        if not others:
            if mine is None:
                self.claims.open(key, src, t, t, None)
            elif mine.attrs is not None:
                self.claims.close(key, mine, t)
                self.claims.open(key, src, t, mine.first, None)
            self.rows_written += 1
            # Alone, it changed: it is the author, unless another stopped at `t` too.
            ended = [r.source for r in rows if r.source != src and r.until == t]
            author = min([src, *ended], key=self.store.source_name) if ended else src
            done = self._put(table, vkey, t, text, author, cur)
            self._keep_alone(key, src, t, rows, mine, done)
            return True
        for o in others:
            if o.attrs is None:  # it was alone until now: its statement is the version
                self._split(key, o, t, cur.attrs if cur is not None else "{}")
        self._restate(key, src, mine, t, text)
        self._settle(key, t, self.claims.of_key(key, t), cur)
        return True

    def end(self, key: ClaimKey, src: int, t: int, vanished_after: int | None = None) -> None:
        """`src` no longer reports `key` from `t` on."""
        table, vkey = self._table(key)
        rows = self.claims.of_key(key, t)
        mine = next((r for r in rows if r.source == src and r.until is None), None)
        if mine is None:
            return
        cur = table.latest(vkey)
        if self._replay_from is not None or self._later(rows, cur, t):
            self.materialize(key, self._replay_from if self._replay_from is not None else t)
            self._withdraw(key, src, t, vanished_after)
            self._after_slow(key, t)
            return
        self.claims.close(key, mine, t, vanished_after)
        self.rows_written += 1
        self._settle(key, t, self.claims.of_key(key, t), cur)

    # -- replaying one source ------------------------------------------------------

    def begin_replay(self, src: int, t: int) -> None:
        """Take back what `src` said from `t` on. Statements from here on change claims
        only, until `end_replay` re-derives the versions of every key touched."""
        keys = self.claims.keys_of_source_from(src, t)
        for k in keys:
            self.materialize(k, t)
        self.claims.rollback(t, source=src)
        for k in keys:
            # A row that ran on past `t` is open again; its statement from `t` on is
            # the version in force just before `t` (history before `t` stands). A lone
            # row keeps no attrs, its statement being the versions, which may have
            # changed between its start and `t`: it stays as it was up to `t`, and
            # what it still says from `t` on is a row of its own.
            row = self.claims.open_one(k, src)
            if row is not None and row.attrs is None:
                table, vkey = self._table(k)
                prev = table.before(vkey, t)
                if prev is not None and (prev.valid_to is None or prev.valid_to >= t):
                    self.claims.close(k, row, t)
                    self.claims.open(k, src, t, row.first, prev.attrs)
        self._replay_from = t
        self._touched = set(keys)

    def end_replay(self) -> None:
        t = self._replay_from
        self._replay_from = None
        assert t is not None
        for k in sorted(self._touched):
            self.resweep(k, t)
        self._touched = set()

    # -- deriving versions ---------------------------------------------------------

    def materialize(self, key: ClaimKey, t: int) -> None:
        """Give every statement that holds at or after `t` its own attrs.

        A lone source's row keeps no attrs (its statement is the version); before
        the versions from `t` on are re-derived, its statement is copied out of
        them, interval by interval.
        """
        table, vkey = self._table(key)
        for r in self.claims.of_key(key, t):
            if r.attrs is not None or (r.until is not None and r.until <= t):
                continue
            start = max(r.since, t)
            pieces = table.overlapping(vkey, start, r.until)
            self.claims.close(key, r, start)
            for v in pieces:
                since = max(v.valid_from, start)
                until = (
                    v.valid_to
                    if r.until is None or (v.valid_to is not None and v.valid_to < r.until)
                    else r.until
                )
                va = r.vanished_after if until == r.until else None
                self.claims.open(key, r.source, since, r.first, v.attrs, until, va)

    def resweep(self, key: ClaimKey, t: int) -> None:
        """Re-derive the key's versions from `t` on from the statements."""
        self.materialize(key, t)
        table, vkey = self._table(key)
        rows = self.claims.of_key(key, t)
        prev = table.before(vkey, t)
        table.delete_from(vkey, t)
        cur: Current | None = None
        if prev is not None:
            cur = prev
            if prev.valid_to is not None and prev.valid_to >= t:
                cur = Current(prev.valid_from, None, prev.attrs, prev.source)
                table.rewrite(vkey, cur)
        self._drop_checkpoints(t)
        points = {t}
        for r in rows:
            points.update(x for x in (r.since, r.until) if x is not None and x >= t)
        for x in sorted(points):
            cur = self._settle(key, x, rows, cur)

    def _settle(
        self, key: ClaimKey, x: int, rows: list[Claim], cur: Current | None
    ) -> Current | None:
        """Make the version at `x` the merge of the statements in force at `x`."""
        table, vkey = self._table(key)
        active = [r for r in rows if r.active_at(x)]
        text = self._merge(key, active, cur)
        va: int | None = None
        if text is None:
            ending = [r for r in rows if r.until == x]
            if ending and all(r.vanished_after is not None for r in ending):
                va = max(r.vanished_after for r in ending if r.vanished_after is not None)
        author = self._author(rows, x, self._before(table, vkey, x, cur))
        return self._put(table, vkey, x, text, author, cur, va)

    def _merge(self, key: ClaimKey, active: list[Claim], cur: Current | None) -> str | None:
        if not active:
            return None
        if len(active) == 1 and active[0].attrs is not None:
            return active[0].attrs
        lone = cur.attrs if cur is not None else "{}"
        if len(active) == 1:
            return lone
        name = self.store.source_name
        # Junior first, so that the senior's values are written last and win.
        ranked = sorted(active, key=lambda r: (r.first, name(r.source)), reverse=True)
        merged: dict[str, JSONValue] = {}
        for r in ranked:
            for k, v in self._decode(key, r.attrs if r.attrs is not None else lone).items():
                if v is not None or merged.get(k) is None:
                    merged[k] = v
        return self._encode(key, merged)

    def _author(self, rows: list[Claim], x: int, before: str | None) -> int:
        """The source whose statement changed at `x`: it began or stopped reporting
        the key, or said something else than `before` it. A row that only carries a
        statement on (a lone source's, split when another came) is no change. When
        several changed at once, the first by name; when none did, the one in force."""
        starting = {r.source: r for r in rows if r.since == x and r.active_at(x)}
        ending = {r.source: r for r in rows if r.until == x}
        acting = [s for s in ending if s not in starting]
        for s, r in starting.items():
            p = ending.get(s)
            if (
                p is None
                or r.first == x
                or r.attrs is None
                or (p.attrs if p.attrs is not None else before) != r.attrs
            ):
                acting.append(s)
        if not acting:
            acting = [r.source for r in rows if r.active_at(x)]
        if not acting:
            return 0
        return min(acting, key=self.store.source_name)

    def _before(
        self, table: Intervals, vkey: tuple[int | str, ...], x: int, cur: Current | None
    ) -> str | None:
        """The version's attrs just before `x`."""
        if cur is not None and cur.valid_from == x:
            cur = table.before(vkey, x)
        if cur is None or cur.valid_from >= x:
            return None
        return cur.attrs if cur.valid_to is None or cur.valid_to >= x else None

    def _put(
        self,
        table: Intervals,
        vkey: tuple[int | str, ...],
        x: int,
        text: str | None,
        author: int,
        cur: Current | None,
        va: int | None = None,
    ) -> Current | None:
        """Make `text` (None: nothing) the state of `vkey` from `x` on, where nothing of
        the key begins after `x`; returns the interval now latest."""
        self._drop_checkpoints(x)
        if cur is not None and cur.valid_from == x:
            # Another statement at this same instant: amend the interval it began.
            prev = table.before(vkey, x)
            joins = prev is not None and prev.valid_to == x
            if text is None or (joins and prev is not None and prev.attrs == text):
                table.delete_from(vkey, x)
                self.rows_written += 1
                if prev is None or not joins:
                    return prev
                if text is None:
                    done = Current(prev.valid_from, x, prev.attrs, prev.source, va)
                else:
                    done = Current(prev.valid_from, None, prev.attrs, prev.source)
                table.rewrite(vkey, done)
                return done
            if cur.attrs == text and cur.source == author and cur.valid_to is None:
                return cur
            done = Current(x, None, text, author)
            table.rewrite(vkey, done)
            self.rows_written += 1
            return done
        if cur is not None and cur.valid_to is None:
            if text == cur.attrs:
                return cur
            table.close(vkey, cur.valid_from, x, va if text is None else None)
            self.rows_written += 1
            if text is None:
                return Current(cur.valid_from, x, cur.attrs, cur.source, va)
        elif text is None:
            if cur is not None and cur.valid_to == x and cur.vanished_after != va:
                done = Current(cur.valid_from, x, cur.attrs, cur.source, va)
                table.rewrite(vkey, done)
                return done
            return cur
        elif cur is not None and cur.valid_to == x and cur.attrs == text:
            # Ended and began again at the same instant: it never ended.
            done = Current(cur.valid_from, None, cur.attrs, cur.source)
            table.rewrite(vkey, done)
            return done
        table.open(vkey, x, author, text)
        self.rows_written += 1
        self.opened += 1
        return Current(x, None, text, author)

    # -- small parts -------------------------------------------------------------

    def _table(self, key: ClaimKey) -> tuple[Intervals, tuple[int | str, ...]]:
        if key[1] == "":
            return self.h.versions, (key[0],)
        return self.h.relations, key

    def _decode(self, key: ClaimKey, text: str) -> dict[str, JSONValue]:
        if key[1] == "":
            return self.store.attrs.decode(text)
        value = json.loads(text)
        return value if isinstance(value, dict) else {}

    def _encode(self, key: ClaimKey, attrs: dict[str, JSONValue]) -> str:
        return self.store.attrs.encode(attrs) if key[1] == "" else canonical(attrs)

    def _keep_alone(
        self,
        key: ClaimKey,
        src: int,
        t: int,
        rows: list[Claim],
        mine: Claim | None,
        done: Current | None,
    ) -> None:
        """After a lone source's entity statement, written or repeated, what
        `with_latest` will answer for the next one, kept so that it is not asked
        (`ClaimTable.keep`): the rows are those asked, with the one just opened if
        any; the latest, `done`, the version now latest."""
        if key[1] != "" or (mine is not None and mine.attrs is not None):
            return
        if mine is None:
            if any(r.source == src and r.since == t for r in rows):
                return  # the row just opened took that one's place
            rows = [*rows, Claim(src, t, None, t, None)]
        # A plain tuple: the cyclic collector leaves those alone, not a NamedTuple.
        latest = None if done is None else (done[0], done[1], done[2], done[3], done[4])
        self.claims.keep(key, t, rows, latest)

    @staticmethod
    def _said(row: Claim, cur: Current | None) -> str | None:
        """What a source's open row says: its attrs, or (alone) the open version's."""
        if row.attrs is not None:
            return row.attrs
        return cur.attrs if cur is not None and cur.valid_to is None else None

    @staticmethod
    def _later(rows: list[Claim], cur: Current | None, t: int) -> bool:
        """Whether anything of the key begins or ends after `t` (a statement lands
        before later history, so the key's versions must be re-derived)."""
        if cur is not None and (
            cur.valid_from > t or (cur.valid_to is not None and cur.valid_to > t)
        ):
            return True
        return any(r.since > t or (r.until is not None and r.until > t) for r in rows)

    def _restate(self, key: ClaimKey, src: int, mine: Claim | None, t: int, text: str) -> None:
        if mine is None:
            self.claims.open(key, src, t, t, text)
        elif mine.since == t:
            self.claims.open(key, src, t, mine.first, text)
        else:
            self.claims.close(key, mine, t)
            self.claims.open(key, src, t, mine.first, text)
        self.rows_written += 1

    def _withdraw(
        self, key: ClaimKey, src: int, t: int, vanished_after: int | None = None
    ) -> int | None:
        """End what `src` says of `key` at `t`, rows after `t` included: a source is
        applied in its own order, so any later row of its is only a copy of its
        statement made when another source's statement was split. Returns when
        its unbroken reporting began, if it reported the key at `t`."""
        first: int | None = None
        for r in self.claims.of_key(key, t):
            if r.source != src:
                continue
            if r.active_at(t):
                first = r.first
            self.claims.close(key, r, t, vanished_after)
        return first

    def _split(self, key: ClaimKey, row: Claim, t: int, text: str) -> None:
        """A lone source's row gets company at `t`: from then on it states its attrs."""
        if row.since < t:
            self.claims.close(key, row, t)
        self.claims.open(key, row.source, t, row.first, text)
        self.rows_written += 1

    def _after_slow(self, key: ClaimKey, t: int) -> None:
        self.rows_written += 1
        if self._replay_from is not None:
            self._touched.add(key)
        else:
            self.resweep(key, t)

    def _newest_checkpoint(self) -> int | None:
        row = self.store.conn.execute("SELECT max(ts) FROM checkpoint").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _drop_checkpoints(self, t: int) -> None:
        """History before a checkpoint changed: it no longer holds the live set."""
        if self._checkpoint_ts is not None and t < self._checkpoint_ts:
            self.h.drop_checkpoints(t)
            self._checkpoint_ts = self._newest_checkpoint()

    def checkpoint_taken(self, ts: int) -> None:
        self._checkpoint_ts = max(ts, self._checkpoint_ts or ts)

    def forget(self) -> None:
        """After a rolled-back write, what this knew of the store may be gone."""
        self._checkpoint_ts = self._newest_checkpoint()
        self._replay_from = None
        self._touched = set()
