"""Where in a policy file: YAML read with the line of every part, and the one-line
refusal that names the line and the place (`rules[2] (web-near-db): max-hops.to`).

The readers of plain values (a mapping with known keys, a list, a count, a text)
live here too: every part of the format is read through them, so that each
refusal says where it is.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from vtrail.ids import IPAddr
from vtrail.limits import value_problem
from vtrail.model import InvalidId, split_id

T = TypeVar("T")

#: A service, domain or rule name: it is the key of its entity id and is typed in commands.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PolicyError(ValueError):
    """A policy that cannot be applied, said in one line: file, line, place, reason."""


class _Map(dict[Any, Any]):
    """A mapping that remembers the line of each key and the keys given twice."""

    line: int
    lines: dict[Any, int]
    twice: list[tuple[Any, int, int]]


class _Seq(list[Any]):
    line: int
    lines: list[int]


class Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, with mappings and lists that keep their lines (below)."""


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _map(loader: Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines, out.twice = _line(node), {}, []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise Bad("", f"a key is a name, not {described(key)}", _line(key_node))
        if key in out.lines:
            out.twice.append((key, out.lines[key], _line(key_node)))
            continue
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = _line(key_node)
    return out


def _seq(loader: Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = _line(node), [_line(child) for child in node.value]
    return out


Loader.add_constructor("tag:yaml.org,2002:map", _map)
Loader.add_constructor("tag:yaml.org,2002:seq", _seq)


class Bad(Exception):
    def __init__(self, place: str, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.place, self.reason, self.line = place, reason, line


@dataclass(frozen=True, slots=True)
class At:
    """Where a value is: `head` names the service, domain or rule (`rules[2] (web-near-db)`),
    `tail` the key inside it (`max-hops.to`)."""

    head: str
    tail: str = ""
    line: int | None = None

    def key(self, m: Mapping[Any, Any], k: str) -> At:
        line = m.lines.get(k, self.line) if isinstance(m, _Map) else self.line
        if not self.head:
            return At(k, "", line)
        return At(self.head, f"{self.tail}.{k}" if self.tail else k, line)

    def item(self, s: list[Any], i: int) -> At:
        line = s.lines[i] if isinstance(s, _Seq) else self.line
        if self.tail:
            return At(self.head, f"{self.tail}[{i}]", line)
        return At(f"{self.head}[{i}]", "", line)

    def named(self, name: object) -> At:
        return At(f"{self.head} ({name})", self.tail, self.line) if is_name(name) else self

    def bad(self, reason: str) -> Bad:
        place = f"{self.head}: {self.tail}" if self.tail else self.head
        return Bad(place, reason, self.line)


def described(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {quoted(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def quoted(value: object, limit: int = 60) -> str:
    """`value` as Python writes it, shortened: an error line quotes, it does not reprint."""
    if not isinstance(value, str):
        return repr(value)
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def known_names(found: str, known: Iterable[str], what: str) -> str:
    """`(allowed: a, b)`, led by the closest when one is close: a typo is the usual cause."""
    names = sorted(known)
    close = difflib.get_close_matches(found, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"({hint}{what}: {', '.join(names)})" if names else f"(no {what} are defined)"


def is_name(value: object) -> bool:
    return isinstance(value, str) and NAME.match(value) is not None


def read_mapping(
    value: object, at: At, allowed: Collection[str] | None, what: str
) -> Mapping[Any, Any]:
    """`value` as a mapping, each key given once and (unless `allowed` is None) known."""
    if not isinstance(value, dict):
        raise at.bad(f"expected {what}, got {described(value)}")
    if isinstance(value, _Map) and value.twice:
        key, first, again = value.twice[0]
        raise At(at.head, at.tail, again).bad(
            f"{quoted(key)} is given twice (first on line {first})"
        )
    for k in value:
        if allowed is None:
            if not isinstance(k, str) or not k:
                raise at.key(value, str(k)).bad(f"{quoted(k)} is not a name")
        elif not isinstance(k, str) or k not in allowed:
            known = known_names(str(k), allowed, "allowed")
            raise at.key(value, str(k)).bad(f"unknown key {quoted(k)} {known}")
    return value


def read_text(value: object, at: At) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.bad(f"expected text, got {described(value)}")
    if (bad := value_problem({"": value})) is not None:
        raise at.bad(bad[1])
    return value


def read_entity_id(value: object, at: At) -> str:
    """An entity id of the `kind:key` form, as the policy's `ids` lists write them."""
    if not isinstance(value, str):
        raise at.bad(f"expected an entity id, got {described(value)}")
    text = read_text(value, at)
    try:
        split_id(text)
    except InvalidId as e:
        raise at.bad(str(e)) from None
    return text


def read_address(value: object, at: At) -> IPAddr:
    text = read_text(value, at)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise at.bad(f"{quoted(text)} is not an IP address") from None


def read_optional_text(m: Mapping[str, Any], key: str, at: At) -> str | None:
    return read_text(m[key], at.key(m, key)) if key in m else None


def read_list(value: object, at: At, what: str, read: Callable[[object, At], T]) -> tuple[T, ...]:
    """A list, each item read by `read` and listed once; one text alone is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise at.bad(f"expected a list of {what}, got {described(value)}")
    out: list[T] = []
    for i, item in enumerate(value):
        got = read(item, at.item(value, i))
        if got in out:
            raise at.item(value, i).bad(f"{quoted(got)} is listed twice")
        out.append(got)
    return tuple(out)


def read_count(value: object, at: At, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise at.bad(f"expected a whole number, got {described(value)}")
    if not lo <= value <= hi:
        raise at.bad(f"{value} is out of range: from {lo} to {hi}")
    return value


def read_glob(value: object, at: At) -> str:
    """An fnmatch glob: `*`, `?`, `[set]`. An unclosed `[` matches only itself, which is
    never what was meant, so it is refused."""
    pattern = read_text(value, at)
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 1
            if j >= len(pattern):
                raise at.bad(
                    f"bad glob {quoted(pattern)}: the '[' at character {i + 1} is not closed"
                )
            i = j
        i += 1
    return pattern
