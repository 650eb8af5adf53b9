"""What the API's parameters accept, as JSON Schema patterns the server itself applies.

The OpenAPI document publishes these patterns and the routes refuse (422)
whatever does not match them, so that the two cannot disagree: every value a
pattern admits is read, and nothing else is. Patterns are written in the
common subset of ECMA-262 and Python regular expressions ([0-9], not \\d,
which is wider in Python; whitespace spelled out; no lookaround), and are
applied as JSON Schema applies them: a search, anchored by ^ and $ in the
pattern itself, $ being the very end.

Times take the forms of the CLI that can be stated exactly: ISO 8601 (years
1000 to 8999, real days of real months), epoch seconds, `now`, a signed
offset (`-6h`, `-1h30m`, `+2d`), a count of one unit `ago` (`6 hours ago`)
and `today`/`yesterday`/`tomorrow` with an optional time of day. Offsets are
bounded so that none reaches past the years a datetime can hold.
"""

from __future__ import annotations

import re

_YEAR = "[1-8][0-9]{3}"
# Leap years between 1000 and 8999: divisible by 4, centuries only by 400.
_LEAP = "[1-8][0-9](0[48]|[2468][048]|[13579][26])|(1[26]|[2468][048]|[357][26])00"
_MONTH_DAY = (
    "(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-8])"
)
_DATE = f"({_YEAR}-({_MONTH_DAY})|({_LEAP})-02-29)"
_HM = "([01][0-9]|2[0-3]):[0-5][0-9]"
_CLOCK = f"{_HM}(:[0-5][0-9](\\.[0-9]{{1,6}})?)?"
_ZONE = f"(Z|[+-]{_HM})"
_ISO = f"{_DATE}([T ]{_CLOCK}{_ZONE}?)?"
_EPOCH = "[0-9]{9,10}(\\.[0-9]{1,6})?"
# At most one part per unit, largest first; the bounds keep the sum under 700 years.
_PARTS = ["[0-9]{1,4}w", "[0-9]{1,5}d", "[0-9]{1,6}h", "[0-9]{1,7}m", "[0-9]{1,9}s",
          "[0-9]{1,12}ms", "[0-9]{1,15}us"]  # fmt: skip
# One alternative per first part, so that there is at least one.
_OFFSET = (
    "[-+]("
    + "|".join(p + "".join(f"({q})?" for q in _PARTS[i + 1 :]) for i, p in enumerate(_PARTS))
    + ")"
)
_AGO = (
    "([0-9]{1,4} ?(w|weeks?)|[0-9]{1,5} ?(d|days?)|[0-9]{1,6} ?(h|hours?)"
    "|[0-9]{1,7} ?(m|min|minutes?)|[0-9]{1,9} ?(s|seconds?)) ago"
)
_DAY = f"(today|yesterday|tomorrow)( {_HM}(:[0-5][0-9])?)?"

TIME = f"^({_ISO}|{_EPOCH}|now|{_OFFSET}|{_AGO}|{_DAY})$"
TIME_HELP = (
    "ISO 8601 (2026-11-20T03:12:00Z; without a zone, UTC), epoch seconds, `now`, an "
    "offset from now (`-6h`, `-1h30m`), `6 hours ago`, or `yesterday 03:00`."
)

#: Characters in a name, id, MAC or address a question is asked about.
TEXT_MAX = 1024
#: Whitespace to Python (`str.isspace`, which `strip` removes) or to ECMA-262 (`\\s`,
#: which JSON Schema validators apply), spelled out: the two disagree at the edges.
_PY_SPACE = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_SPACE = _PY_SPACE + "\\ufeff"
#: Something to look up: not blank, no NUL.
TEXT = f"^[^\\x00]*[^\\x00{_SPACE}][^\\x00]*$"
#: An entity id in an observation (`vtrail.model.split_id`): a lowercase kind, a colon,
#: and a key of up to 511 characters on one line, without space at either end.
ENTITY_ID = (
    f"^[a-z][a-z0-9_-]{{0,31}}:([^{_PY_SPACE}]|[^{_PY_SPACE}][^\\n]{{0,509}}[^{_PY_SPACE}])$"
)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` read as a JSON Schema validator reads it: its closing `$` is the end of
    the string, never before a final newline as in Python."""
    assert pattern.endswith("$")
    return re.compile(pattern[:-1] + "\\Z")


_TIME_RE = compile_pattern(TIME)
_TEXT_RE = compile_pattern(TEXT)


def is_time(value: str) -> bool:
    return _TIME_RE.search(value) is not None


def is_text(value: str) -> bool:
    return len(value) <= TEXT_MAX and _TEXT_RE.search(value) is not None
