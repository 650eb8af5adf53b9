"""Intervals in microseconds, `[start, end)`, `end` None while still so: joined,
met by a window, intersected and taken from one another."""

from __future__ import annotations

from collections.abc import Iterable

#: `(start, end)`; `end` None: still so.
Span = tuple[int, int | None]

_OPEN = 2**62


def _end(e: int | None) -> int:
    return _OPEN if e is None else e


def _back(e: int) -> int | None:
    return None if e >= _OPEN else e


def join(spans: Iterable[Span]) -> list[Span]:
    """Touching and overlapping spans as one, in order (versions of one edge that only
    changed attributes are one holding)."""
    if not isinstance(spans, list):
        spans = list(spans)
    if len(spans) == 1:
        return spans
    out: list[tuple[int, int]] = []
    for s, e in sorted((s, _end(e)) for s, e in spans):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return [(s, _back(e)) for s, e in out]


def overlaps(span: Span, lo: int, hi: int) -> bool:
    """Whether `span` meets the window `[lo, hi)`."""
    return span[0] < hi and _end(span[1]) > lo


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """Where both hold (each list joined)."""
    out: list[Span] = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(_end(e1), _end(e2))
            if s < e:
                out.append((s, _back(e)))
    return join(out)


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """Where `a` holds and `b` does not (each list joined)."""
    if not b:
        return a
    if len(b) == 1:
        # The common case of a conflict scan: one allocation that covers the one use.
        lo, hi = b[0][0], _end(b[0][1])
        if len(a) == 1 and lo <= a[0][0] and _end(a[0][1]) <= hi:
            return []
    out: list[tuple[int, int]] = []
    for s, e in a:
        cur, end = s, _end(e)
        for s2, e2 in b:
            e2i = _end(e2)
            if e2i <= cur or s2 >= end:
                continue
            if s2 > cur:
                out.append((cur, s2))
            cur = max(cur, e2i)
            if cur >= end:
                break
        if cur < end:
            out.append((cur, end))
    return [(s, _back(e)) for s, e in out]


def covers(spans: Iterable[Span], t: int) -> bool:
    return any(s <= t < _end(e) for s, e in spans)
