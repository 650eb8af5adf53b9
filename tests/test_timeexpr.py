from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from vtrail.timeexpr import TimeParseError, from_us, iso, parse_duration, parse_time, to_us

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-6h", NOW - timedelta(hours=6)),
        ("6 hours ago", NOW - timedelta(hours=6)),
        ("90s ago", NOW - timedelta(seconds=90)),
        ("1h30m ago", NOW - timedelta(minutes=90)),
        ("yesterday 03:00", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),
        ("today", datetime(2026, 11, 21, tzinfo=UTC)),
        ("2026-11-21T03:12:00Z", datetime(2026, 11, 21, 3, 12, tzinfo=UTC)),
        ("2026-11-21T04:12:00+01:00", datetime(2026, 11, 21, 3, 12, tzinfo=UTC)),
        ("2026-11-21 03:12", datetime(2026, 11, 21, 3, 12, tzinfo=UTC)),
        (" 2026-11-21T03:12:00z ", datetime(2026, 11, 21, 3, 12, tzinfo=UTC)),
        ("1763694720", datetime(2025, 11, 21, 3, 12, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "soon", "yesterday 25:00", "-6 parsecs", "6 hours from now", "2026-11-21 ago"]
)
def test_bad_times_say_so(text: str) -> None:
    with pytest.raises(TimeParseError):
        parse_time(text, now=NOW)


@pytest.mark.parametrize("text", ["2026-13-01", "2026-11-21T25:00Z", "2026-x"])
def test_what_starts_like_a_date_and_is_not_one_says_so(text: str) -> None:
    """ISO is read before the other forms; what fails there gets the one message."""
    with pytest.raises(TimeParseError, match=f"cannot read time {text!r}"):
        parse_time(text, now=NOW)


def test_durations_and_round_trips() -> None:
    assert parse_duration("10s") == timedelta(seconds=10)
    assert parse_duration("2 hours") == timedelta(hours=2)
    assert from_us(to_us(NOW)) == NOW
    assert iso(NOW) == "2026-11-21T09:30:00.000Z"


def test_from_us_is_exact_to_the_microsecond() -> None:
    # Random instants in every power-of-two band of seconds up to 2^35, both
    # sides of the epoch: past 2^33 s a float can no longer hold the microsecond.
    rng = random.Random(1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for band in range(20, 36):
        for _ in range(2_000):
            us = rng.randrange(2 ** (band - 1) * 10**6, 2**band * 10**6) * rng.choice((1, -1))
            assert from_us(us) == epoch + timedelta(microseconds=us), us
            assert to_us(from_us(us)) == us


# Written out by hand rather than read from the parser, so that a spelling the
# parser drops or misreads fails here.
_SPELLINGS = [
    (("us", "µs", "μs", "usec", "usecs", "microsecond", "microseconds"), timedelta(microseconds=1)),
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), timedelta(milliseconds=1)),
    (("s", "sec", "secs", "second", "seconds"), timedelta(seconds=1)),
    (("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    (("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    (("d", "day", "days"), timedelta(days=1)),
    (("w", "week", "weeks"), timedelta(weeks=1)),
]


@pytest.mark.parametrize(
    ("unit", "one"), [pytest.param(u, one, id=u) for names, one in _SPELLINGS for u in names]
)
def test_every_unit_in_every_form(unit: str, one: timedelta) -> None:
    assert parse_duration(f"5{unit}") == 5 * one
    assert parse_duration(f"5 {unit}") == 5 * one
    assert parse_duration(f"5{unit.upper()}") == 5 * one
    assert parse_time(f"-5{unit}", now=NOW) == NOW - 5 * one
    assert parse_time(f"+5{unit}", now=NOW) == NOW + 5 * one
    assert parse_time(f"5 {unit} ago", now=NOW) == NOW - 5 * one
    assert parse_time(f"5{unit} ago", now=NOW) == NOW - 5 * one


def test_milliseconds_are_not_minutes() -> None:
    assert parse_time("-5ms", now=NOW) == NOW - timedelta(milliseconds=5)
    assert parse_time("10us ago", now=NOW) == NOW - timedelta(microseconds=10)
    assert parse_duration("5m30s") == timedelta(minutes=5, seconds=30)
    assert parse_duration("1h30m5s250ms") == timedelta(
        hours=1, minutes=30, seconds=5, milliseconds=250
    )
    assert parse_duration("1min5ms") == timedelta(minutes=1, milliseconds=5)
    assert parse_duration("0.1s") == timedelta(microseconds=100_000)
    assert parse_duration("1.5d") == timedelta(hours=36)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("6 parsecs", "unknown unit 'parsecs'"),
        ("5mss", "unknown unit 'mss'"),
        ("10", "cannot read duration"),
    ],
)
def test_bad_durations_say_why(text: str, says: str) -> None:
    with pytest.raises(TimeParseError, match=says):
        parse_duration(text)


@pytest.mark.parametrize("text", ["-99999999999h", "-3000000d", "3000000 days ago", "+9999999w"])
def test_relative_times_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(TimeParseError, match="out of range"):
        parse_time(text, now=NOW)
