"""How the journal keeps an observation's text: as it is, whole and packed, or as a delta.

A source's snapshots repeat one another almost entirely: 1,000 unchanged
domains are 2 MB of text every 10 s, the same each time but for the instant.
A body is stored in one of three forms, told apart by the row itself:

- text (a `str` in the column): the observation as it was. Small ones (an
  event) are kept so, and so is every body written before `0009_journal_bodies`
  until `vtrail compact` packs it;
- a keyframe (`bytes`, `base` NULL): the whole text, zlib-packed;
- a delta (`bytes`, `base` = the seq of a keyframe of the same source): which
  of the keyframe's pieces the text repeats, named by position, and the other
  pieces literally, zlib-packed.

Text is cut into pieces at every `SEP`; joining them with `SEP` gives the very
same text back, whatever it is, so nothing here depends on the text's form
(key order, spacing, numbers as written): only how much is shared does. A
delta is always taken from a keyframe, never from another delta, so reading
any one entry unpacks at most two bodies, and a replay reading in order finds
the keyframe in the cache. A source keeps its keyframe until more than a
quarter of a new text would be literal in a delta from it; then that text
becomes its keyframe.
"""

from __future__ import annotations

import struct
import zlib
from collections import OrderedDict

from vtrail.store.conn import Conn

#: Where text is cut into pieces. In JSON it ends every value, so a changed
#: attribute or counter reading costs one piece, not its whole object.
SEP = ","
#: Texts shorter than this are kept as they are: packing one event saves little,
#: and its append then costs what it did before bodies were packed.
SMALL = 1024
#: A text of which more than 1/KEYFRAME_AFTER would be literal in a delta becomes its
#: source's new keyframe: the old one no longer describes what the source sees.
KEYFRAME_AFTER = 4
#: Characters of keyframe text kept unpacked in memory (as pieces with their index
#: they take about four times that): the keyframes of a few large sources.
CACHE_CHARS = 16 << 20

#: Pieces compared at once while a run of shared pieces goes on.
GALLOP = 32

_COUNT = struct.Struct("<I")


class Keyframe:
    """A keyframe's text cut into pieces, with where each piece first occurs."""

    __slots__ = ("_first", "chars", "hash", "pieces", "seq")

    def __init__(self, seq: int, h: int, text: str) -> None:
        self.seq, self.hash, self.chars = seq, h, len(text)
        self.pieces = text.split(SEP)
        self._first: dict[str, int] | None = None

    def first(self) -> dict[str, int]:
        if self._first is None:
            n = len(self.pieces)
            # Reversed, so that a repeated piece keeps its first position.
            self._first = dict(zip(reversed(self.pieces), range(n - 1, -1, -1), strict=True))
        return self._first

    def delta(self, text: str) -> tuple[bytes, int]:
        """`text` as `(skip, copy, literal)` triples over these pieces and the literals;
        and how many of its characters are literal."""
        old, n = self.pieces, len(self.pieces)
        first = self.first()
        ops: list[int] = []
        literals: list[str] = []
        new = text.split(SEP)
        m = len(new)
        skip = copy = lit = pos = i = 0  # pos: where the current copy run goes on in `old`
        block_from = 0  # no block is tried before this piece again: one just failed
        while i < m:
            p = new[i]
            i += 1
            if copy and not lit and pos < n and old[pos] == p:
                copy += 1
                pos += 1
                # A long run goes on by whole blocks, compared in C: an unchanged
                # snapshot is then a few thousand steps instead of one per piece.
                while copy >= GALLOP and i >= block_from and i + GALLOP <= m:
                    if old[pos : pos + GALLOP] != new[i : i + GALLOP]:
                        block_from = i + GALLOP
                        break
                    copy += GALLOP
                    pos += GALLOP
                    i += GALLOP
                continue
            # After a piece replaced in place the keyframe goes on one further; after
            # one inserted, where it was. Anything else is looked up.
            if pos + lit < n and old[pos + lit] == p:
                k = pos + lit
            elif lit and pos < n and old[pos] == p:
                k = pos
            else:
                k = first.get(p, -1)
            if k < 0:
                literals.append(p)
                lit += 1
                continue
            if copy or lit:
                ops += (skip, copy, lit)
            skip, copy, lit, pos = k - pos, 1, 0, k + 1
        if copy or lit:
            ops += (skip, copy, lit)
        head = _COUNT.pack(len(ops)) + struct.pack(f"<{len(ops)}i", *ops)
        rest = SEP.join(literals)
        return zlib.compress(head + rest.encode()), len(rest)

    def apply(self, blob: bytes) -> str:
        """The text a `delta` from this keyframe stands for."""
        raw = zlib.decompress(blob)
        (m,) = _COUNT.unpack_from(raw)
        ops = struct.unpack_from(f"<{m}i", raw, _COUNT.size)
        rest = raw[_COUNT.size + 4 * m :]
        literals = rest.decode().split(SEP) if any(ops[2::3]) else []
        old = self.pieces
        out: list[str] = []
        pos = used = 0
        for i in range(0, m, 3):
            pos += ops[i]
            copy, lit = ops[i + 1], ops[i + 2]
            out += old[pos : pos + copy]
            pos += copy
            if lit:
                out += literals[used : used + lit]
                used += lit
        return SEP.join(out)


def pack(text: str) -> bytes:
    return zlib.compress(text.encode())


class Bodies:
    """Encodes and decodes the bodies of one journal, with its keyframes cached.

    `journal_base` names each source's current keyframe, which appends take
    their deltas from. With `own_keyframes` they are kept here instead, for a
    pass that packs old bodies beside the appends. A cached keyframe is used only
    while its row is still there with the same hash, so a rolled-back
    transaction or another writer never leaves a stale one in use.
    """

    def __init__(self, conn: Conn, *, own_keyframes: bool = False, typed: bool = False) -> None:
        """`typed`: the body column holds bytes only (PostgreSQL's BYTEA), so a text
        goes in as its UTF-8 with `base` 0, which no keyframe's seq is."""
        self.c = conn
        self._typed = typed
        self._own: dict[int, int] | None = {} if own_keyframes else None
        self._cache: OrderedDict[int, Keyframe] = OrderedDict()
        self._chars = 0

    def encode(self, source: int, text: str) -> tuple[int | None, str | bytes]:
        """`(base, body)` to store `text` of `source` as; base None and bytes make a
        new keyframe, which `appended` must be told of once it has its seq."""
        if len(text) < SMALL:
            return (0, text.encode()) if self._typed else (None, text)
        kf = self._current(source)
        if kf is not None:
            d, new = kf.delta(text)
            if new * KEYFRAME_AFTER <= len(text):
                return kf.seq, d
        return None, pack(text)

    def appended(self, source: int, seq: int, h: int, text: str) -> None:
        """The new keyframe of `source` is the journal's entry `seq`."""
        if self._own is not None:
            self._own[source] = seq
        else:
            self.c.execute(
                "INSERT INTO journal_base VALUES (?, ?) "
                "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq",
                (source, seq),
            )
        self._remember(Keyframe(seq, h, text))

    def decode(self, base: int | None, body: str | bytes) -> str:
        if isinstance(body, str):
            return body
        if base == 0:
            return body.decode()
        if base is None:
            return zlib.decompress(body).decode()
        kf = self.keyframe(base)
        if kf is None:
            raise LookupError(f"its keyframe, entry {base}, is not in the journal")
        return kf.apply(body)

    def keyframe(self, seq: int) -> Keyframe | None:
        row = self.c.execute("SELECT hash, base FROM journal WHERE seq = ?", (seq,)).fetchone()
        if row is None or row[1] is not None:
            return None
        kf = self._cache.get(seq)
        if kf is not None and kf.hash == row[0]:
            self._cache.move_to_end(seq)
            return kf
        body = self.c.execute("SELECT body FROM journal WHERE seq = ?", (seq,)).fetchone()[0]
        if not isinstance(body, bytes) or not body:
            return None
        kf = Keyframe(seq, int(row[0]), zlib.decompress(body).decode())
        self._remember(kf)
        return kf

    def _current(self, source: int) -> Keyframe | None:
        if self._own is not None:
            seq = self._own.get(source)
            return self.keyframe(seq) if seq is not None else None
        row = self.c.execute("SELECT seq FROM journal_base WHERE source = ?", (source,)).fetchone()
        return self.keyframe(int(row[0])) if row else None

    def _remember(self, kf: Keyframe) -> None:
        old = self._cache.pop(kf.seq, None)
        if old is not None:
            self._chars -= old.chars
        self._cache[kf.seq] = kf
        self._chars += kf.chars
        while self._chars > CACHE_CHARS and len(self._cache) > 1:
            _, gone = self._cache.popitem(last=False)
            self._chars -= gone.chars
