"""The observation format's limits on size, and JSON decoding that honours them.

A hostile or broken line must be refused in one line that names where, never
crash the parser (Python's `RecursionError`, its 4,300-digit limit on
integers) nor get as far as the store (a lone surrogate is no UTF-8). These
limits are part of the public format (docs/observations.md, "Limits"); the
parser (`vtrail.wire`) and `wire.check` apply the same ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Integers are exact in this range, in samples and attributes: any 64-bit counter.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
#: How many arrays and objects an attribute's value may nest.
MAX_DEPTH = 32
#: Characters in an entity id, or in an attribute's name.
NAME_MAX = 1_024
#: Characters in a string inside attributes.
STRING_MAX = 65_536
#: Where an attribute's value starts inside an observation (observation,
#: entities, entity, attrs): nesting beyond this plus `MAX_DEPTH` is refused
#: wherever it is.
_SKELETON_DEPTH = 4

_TOO_DEEP = f"nested more than {MAX_DEPTH} arrays or objects deep"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Strings skipped whole, so that a bracket inside one is not nesting.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)


class TooDeep(ValueError):
    """JSON nested so deep that decoding it would exhaust Python's stack."""


class TooManyDigits:
    """An integer whose digits Python would not even convert (4,300 and more)."""

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return number_text(self.digits)


def number_text(value: object) -> str:
    """A number as it reads in an error: a long one shortened, with its length."""
    text = value.digits if isinstance(value, TooManyDigits) else str(value)
    digits = len(text.lstrip("-"))
    if digits <= 40:
        return text
    return f"{text[:12]}…{text[-4:]} ({digits:,} digits)"


def surrogate_at(text: str) -> int | None:
    """Where the first lone surrogate in `text` is: no Unicode text holds one."""
    if text.isascii():
        return None
    m = _SURROGATE.search(text)
    return None if m is None else m.start()


def surrogate(text: str) -> str | None:
    """The first lone surrogate in `text`, as it is escaped in JSON (`\\ud800`)."""
    at = surrogate_at(text)
    return None if at is None else f"\\u{ord(text[at]):04x}"


def string_problem(text: str, limit: int = STRING_MAX) -> str | None:
    if len(text) > limit:
        return f"a string of {len(text):,} characters is longer than {limit:,}"
    bad = surrogate(text)
    if bad is not None:
        return f"a lone surrogate ({bad}) is not Unicode text"
    return None


def integer_problem(value: object) -> str | None:
    if isinstance(value, TooManyDigits) or (
        isinstance(value, int) and not INT_MIN <= value <= INT_MAX
    ):
        return f"integer {number_text(value)} is out of range: integers go from -2^63 to 2^64 - 1"
    return None


def float_problem(value: float) -> str | None:
    if math.isfinite(value):
        return None
    if math.isnan(value):
        return f"{value} is not a finite number"
    # JSON has no Infinity; a literal beyond the largest double reads as one.
    return f"{value} is not a finite number (they end at ±1.8e308)"


def value_problem(value: object, depth: int = 0) -> tuple[str, str] | None:
    """None when `value` is JSON within the limits; else where inside it and why not.

    `depth` counts the arrays and objects around `value`: an entity's `attrs` is
    at 0, so an attribute's value may nest `MAX_DEPTH` of them."""
    items: Iterable[tuple[object, Any]] | None = None
    mapping = type(value) is dict or isinstance(value, Mapping)
    if mapping:
        items = value.items()  # type: ignore[attr-defined]
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    if items is not None:
        if depth > MAX_DEPTH:
            return ("", _TOO_DEEP)
        for k, v in items:
            if type(k) is str:
                if len(k) > NAME_MAX or not k.isascii():
                    bad = string_problem(k, NAME_MAX)
                    if bad is not None:
                        return ("", f"the name {k[:40]!r}: {bad}")
            elif mapping:
                return ("", f"key {k!r} is not a string")
            # Plain scalars inline: they are nearly every attribute.
            vt = type(v)
            if vt is str:
                if len(v) <= STRING_MAX and v.isascii():
                    continue
            elif vt is int:
                if INT_MIN <= v <= INT_MAX:
                    continue
            elif vt is bool or v is None:
                continue
            if (inner := value_problem(v, depth + 1)) is not None:
                if inner[1] is _TOO_DEEP and depth > 0:
                    return inner  # named by its attribute, not by 32 indices
                return (f".{k}{inner[0]}", inner[1])
        return None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        bad = float_problem(value)
        return None if bad is None else ("", bad)
    if isinstance(value, str):
        bad = string_problem(value)
        return None if bad is None else ("", bad)
    if isinstance(value, int):  # a subclass; bool was taken above
        bad = integer_problem(value)
        return None if bad is None else ("", bad)
    if isinstance(value, TooManyDigits):
        return ("", integer_problem(value) or "")
    return ("", f"{type(value).__name__} is not a JSON value")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(digits: str) -> int | TooManyDigits:
    # Only on the second try, for a line Python's own limit refused: its number is
    # then named by the field that holds it, with the rest of the checks.
    try:
        return int(digits)
    except ValueError:
        return TooManyDigits(digits)


def loads(text: str) -> Any:
    """`json.loads` within the format's limits.

    Raises `json.JSONDecodeError` for what is not JSON, `ValueError` for NaN and
    Infinity, `TooDeep` (a ValueError) for nesting far beyond `MAX_DEPTH`, each
    in one line. An integer too long for Python comes back as a
    `TooManyDigits`, for the field's own check to refuse by name."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep(_too_deep(text)) from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:
        if "digits" not in str(e):
            raise
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_integer)
    except RecursionError:
        raise TooDeep(_too_deep(text)) from None


def _too_deep(text: str) -> str:
    """Where `text` first nests beyond any attribute's limit: `entities.0.attrs.x: ...`."""
    # (container, key or index, expecting a key) per open array or object
    stack: list[list[Any]] = []
    limit = _SKELETON_DEPTH + MAX_DEPTH
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            if len(stack) > limit:
                break
            stack.append([tok, 0 if tok == "[" else None, tok == "{"])
        elif tok in "]}":
            if stack:
                stack.pop()
        elif not stack:
            continue
        elif tok == ",":
            top = stack[-1]
            if top[0] == "[":
                top[1] += 1
            else:
                top[2] = True
        elif tok == ":":
            stack[-1][2] = False
        elif stack[-1][0] == "{" and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(tok)
            except ValueError:
                stack[-1][1] = tok
    # The path down to the attribute (entities.0.attrs.name) says enough.
    path = ".".join(str(entry[1]) for entry in stack[:_SKELETON_DEPTH])
    where = f"{path}: " if path else ""
    return f"{where}{_TOO_DEEP}"


def sample_value(value: Any) -> int | float:
    """An integer within `INT_MIN..INT_MAX`, kept exact, or a finite float; else ValueError."""
    # bool is an int to Python, not a number to JSON.
    if isinstance(value, TooManyDigits) or (
        isinstance(value, int) and not isinstance(value, bool) and integer_problem(value)
    ):
        raise ValueError(
            f"integer {number_text(value)} is out of range: counters go from -2^63 to 2^64 - 1"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a sample value is a number, not {type(value).__name__}")
    if isinstance(value, float) and (bad := float_problem(value)) is not None:
        raise ValueError(bad)
    return value
