"""`to_jsonable` works out each type's JSON once and keeps it: the answers must be
what the walk of every value gave, whatever order the types are first met in."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from vtrail.model import Relation, RelKey, Version
from vtrail.query.jsonable import fields_json, to_jsonable

T = datetime(2026, 12, 4, 12, 0, 0, 250_000, tzinfo=UTC)


class Colour(enum.StrEnum):
    RED = "red"


@dataclass
class Window:
    t_from: datetime
    t_to: datetime | None
    names: tuple[str, ...]


@dataclass
class Wider(Window):
    tags: frozenset[str]


@dataclass
class Answer:
    windows: list[Window]
    by_name: dict[Any, Any]
    version: Version
    edges: set[RelKey]
    colour: Colour
    kind: type


def answer() -> Answer:
    v = Version("vm:web-1", "vm", T, None, {"name": "web-1"}, "libvirt", None)
    rel = Relation(
        RelKey("vm:web-1", "runs_on", "host:h1"), T, T + timedelta(seconds=1), {}, "libvirt", None
    )
    return Answer(
        windows=[Window(T, None, ("a",)), Wider(T, T, (), frozenset({"x"}))],
        by_name=OrderedDict(
            [
                (1, MappingProxyType({"rel": rel})),
                ("at", T.astimezone(timezone(timedelta(hours=2)))),
            ]
        ),
        version=v,
        edges={RelKey("a:1", "peer", "b:2")},
        colour=Colour.RED,
        kind=Window,
    )


EXPECTED = {
    "windows": [
        {"from": "2026-12-04T12:00:00.250Z", "to": None, "names": ["a"]},
        {
            "from": "2026-12-04T12:00:00.250Z",
            "to": "2026-12-04T12:00:00.250Z",
            "names": [],
            "tags": ["x"],
        },
    ],
    "by_name": {
        "1": {
            "rel": {
                "src": "vm:web-1",
                "rel": "runs_on",
                "dst": "host:h1",
                "from": "2026-12-04T12:00:00.250Z",
                "to": "2026-12-04T12:00:01.250Z",
                "source": "libvirt",
            }
        },
        "at": "2026-12-04T12:00:00.250Z",
    },
    "version": {
        "entity": "vm:web-1",
        "kind": "vm",
        "from": "2026-12-04T12:00:00.250Z",
        "to": None,
        "attrs": {"name": "web-1"},
        "source": "libvirt",
    },
    "edges": [{"src": "a:1", "rel": "peer", "dst": "b:2"}],
    "colour": "red",
    "kind": Window,
}


def test_an_answer_of_every_kind_of_value_is_its_json() -> None:
    got = to_jsonable(answer())
    assert got == EXPECTED
    assert type(got["colour"]) is Colour and got["kind"] is Window  # left as they are
    assert to_jsonable(answer()) == EXPECTED  # the second time, from what was kept


def test_a_subclass_is_not_taken_for_its_base() -> None:
    # Window's JSON was worked out first; Wider has a field more, and keeps it.
    assert to_jsonable(Window(T, None, ())) == {
        "from": "2026-12-04T12:00:00.250Z",
        "to": None,
        "names": [],
    }
    assert "tags" in to_jsonable(Wider(T, None, (), frozenset()))
    assert fields_json(Wider(T, None, (), frozenset())) == to_jsonable(
        Wider(T, None, (), frozenset())
    )
