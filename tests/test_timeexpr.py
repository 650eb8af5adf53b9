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
        ("1763694720", datetime(2025, 11, 21, 3, 12, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "soon", "yesterday 25:00", "-6 parsecs", "6 hours from now"])
def test_bad_times_say_so(text: str) -> None:
    with pytest.raises(TimeParseError):
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
