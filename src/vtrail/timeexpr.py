"""Times in and out: human and ISO forms to UTC instants, instants to ISO 8601.

The store keeps integer microseconds since the epoch (`Micros`); everything a
person types or reads goes through this module.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from fractions import Fraction

Micros = int

_HOUR_US = 3_600_000_000
#: Every spelling of a unit, in microseconds. "m" is a minute; months and years
#: have no fixed length, so they are not offered.
_UNITS = {
    name: us
    for names, us in (
        (("us", "µs", "μs", "usec", "usecs", "microsecond", "microseconds"), 1),
        (("ms", "msec", "msecs", "millisecond", "milliseconds"), 1_000),
        (("s", "sec", "secs", "second", "seconds"), 1_000_000),
        (("m", "min", "mins", "minute", "minutes"), 60_000_000),
        (("h", "hr", "hrs", "hour", "hours"), _HOUR_US),
        (("d", "day", "days"), 24 * _HOUR_US),
        (("w", "week", "weeks"), 7 * 24 * _HOUR_US),
    )
    for name in names
}
# Longest spelling first, so that "ms" is never read as "m" followed by "s".
_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*("
    + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
    + r")(?=\d|\s|$)"
)
_ANY_PART = re.compile(r"\s*\d+(?:\.\d+)?\s*([^\d\s]+)")
_AGO = re.compile(r"^(.+?)\s+ago$")
_DAY_WORD = re.compile(r"^(today|yesterday|tomorrow)(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$")


class TimeParseError(ValueError):
    """A time or duration that cannot be understood."""


class _OutOfRange(TimeParseError):
    """A duration longer than Python's time arithmetic reaches."""


def parse_duration(text: str) -> timedelta:
    """`10s`, `5m`, `250ms`, `1h30m`, `2 hours`, `1.5d` → timedelta."""
    s = text.strip().lower()
    pos, total = 0, Fraction(0)
    for m in _PART.finditer(s):
        if s[pos : m.start()].strip():
            break
        # Exact arithmetic: 0.1s is 100000 µs, not what a float makes of it.
        total += Fraction(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        unknown = _ANY_PART.match(s, pos)
        if unknown and unknown.group(1) not in _UNITS:
            raise TimeParseError(
                f"unknown unit {unknown.group(1)!r} in duration {text!r} "
                "(us, ms, s, m, h, d, w, or their names: 5 minutes)"
            )
        raise TimeParseError(
            f"cannot read duration {text!r} (try 10s, 5m, 2h, 1d, 1h30m, 250ms, 10us)"
        )
    try:
        return timedelta(microseconds=round(total))
    except OverflowError:
        raise _OutOfRange(f"duration {text!r} is out of range") from None


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """Parse ISO 8601, epoch seconds, `now`, `-6h`, `6 hours ago`, `yesterday 03:00`.

    A time without a zone is read as UTC. The result is timezone-aware UTC.
    """
    if text[:4].isdigit() and text[4:5] == "-":
        # An ISO instant, the form every client of the API writes: it is not one of
        # the other forms, so it is read before them. When it fails, the same read
        # at the end of the chain gives the error.
        with suppress(ValueError):
            return _iso(text)
    now = now or datetime.now(UTC)
    s = text.strip().lower()
    if not s:
        raise TimeParseError("empty time")
    if s == "now":
        return now
    if _EPOCH.match(s):
        return datetime.fromtimestamp(float(s), UTC)
    if s.startswith(("-", "+")):
        return _shift(now, s[1:], -1 if s[0] == "-" else 1, text)
    ago = _AGO.match(s)
    if ago:
        return _shift(now, ago.group(1), -1, text)
    day = _DAY_WORD.match(s)
    if day:
        offset = {"today": 0, "yesterday": -1, "tomorrow": 1}[day.group(1)]
        base = (now + timedelta(days=offset)).replace(hour=0, minute=0, second=0, microsecond=0)
        if day.group(2) is None:
            return base
        h, mi, sec = int(day.group(2)), int(day.group(3)), int(day.group(4) or 0)
        if h > 23 or mi > 59 or sec > 59:
            raise TimeParseError(f"no such time of day in {text!r}")
        return base.replace(hour=h, minute=mi, second=sec)
    try:
        return _iso(text)
    except ValueError:
        raise TimeParseError(
            f"cannot read time {text!r} (try ISO 8601, epoch seconds, 'now', '-6h', "
            "'6 hours ago' or 'yesterday 03:00')"
        ) from None


def _iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _shift(now: datetime, duration: str, sign: int, text: str) -> datetime:
    try:
        return now + sign * parse_duration(duration)
    except (OverflowError, _OutOfRange):
        raise TimeParseError(f"{text.strip()!r} is out of range (years 1 to 9999)") from None


def to_us(dt: datetime) -> Micros:
    """A timezone-aware instant as integer microseconds since the epoch."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: vtrail times are timezone-aware UTC")
    delta = dt - _EPOCH_DT
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: Micros) -> datetime:
    # Snapshots call this twice per row. From a float, fromtimestamp is twice as
    # fast and still exact: within 2^33 s of the epoch (years 1698 to 2242) the
    # float is off by under half a microsecond, and it rounds to the nearest.
    if -_FLOAT_EXACT_US < us < _FLOAT_EXACT_US:
        return datetime.fromtimestamp(us / 1e6, UTC)
    return _EPOCH_DT + timedelta(microseconds=us)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 with the zone, millisecond precision unless finer is needed."""
    if dt is None:
        return None
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    spec = "milliseconds" if dt.microsecond % 1000 == 0 else "microseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def iso_us(us: Micros | None) -> str | None:
    return None if us is None else iso(from_us(us))


_EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT_EXACT_US = 2**33 * 1_000_000
