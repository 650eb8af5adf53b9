"""`where` of a VM by its id reads the entity in one statement (`StateReader.state_of`,
`state_at`); the answers equal the long way's, statement for statement, on both stores,
at every minute of the story and between them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.story import APP, DB, GHOST, MINUTES, WEB, WEB_NIC, at, record_story
from stores import STORES, recorded
from vtrail.query.jsonable import to_jsonable
from vtrail.query.state import where
from vtrail.query.where_json import where_jsonable
from vtrail.store import Store, open_store
from vtrail.store.reads.state import StateReader
from vtrail.timeexpr import to_us

ENTITIES = [WEB, DB, APP, WEB_NIC, GHOST, "host:hv-a", "bridge:hv-a/br-web"]
INSTANTS = [to_us(at(m / 2)) for m in range(-2, 2 * MINUTES + 4)]


@pytest.fixture(scope="module", params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    db: Path = recorded(request, tmp_path_factory, "where-reads", record_story)
    s = open_store(db, readonly=True)
    yield s
    s.close()


def test_state_at_and_of_are_version_at_and_relations_at(store: Store) -> None:
    r = StateReader(store)
    seen = set()
    for eid in ENTITIES:
        n = store.entity_id(eid)
        for t in INSTANTS:
            long_way = (r.version_at(n, t), r.relations_at(n, t))
            assert r.state_at(n, t) == long_way, (eid, t)
            by_id = r.state_of(eid, t)
            if by_id is None:
                # Nothing begun by t and no edge then: the long way finds nothing either.
                assert long_way == (None, []), (eid, t)
            else:
                assert by_id == long_way, (eid, t)
            seen.add((by_id is None, long_way[0] is None, bool(long_way[1])))
    # The instants cover each case: before birth, alive with edges, and after vanishing.
    assert {(True, True, False), (False, False, True), (False, True, False)} <= seen
    assert r.state_of("vm:never-recorded", INSTANTS[-1]) is None


def test_where_by_id_answers_as_where_by_name(store: Store) -> None:
    for vm, name in ((WEB, "web-1"), (DB, "db-1"), (APP, "app-2")):
        for m in range(1, MINUTES + 1, 3):
            by_id, by_name = where(store, vm, at(m)), where(store, name, at(m))
            assert by_id == dataclasses.replace(by_name, query=vm), (vm, m)
            assert by_id.alive and by_id.host and by_id.nics


def test_where_from_rows_is_the_where_answer(store: Store) -> None:
    """`where_jsonable` writes `to_jsonable(where(...))` from the rows, key for key and in
    the same order, whether the VM is alive, moving, gone or not yet born, and sends
    every other question the long way."""
    asked = [WEB, DB, APP, "web-1", WEB_NIC, "10.0.1.10", GHOST]
    kinds = set()
    for what in asked:
        for m in range(-1, MINUTES + 2):
            try:
                expected = to_jsonable(where(store, what, at(m)))
            except LookupError as e:
                with pytest.raises(type(e)):
                    where_jsonable(store, what, at(m))
                continue
            got = where_jsonable(store, what, at(m))
            assert json.dumps(got) == json.dumps(expected), (what, m)
            kinds.add((what.startswith("vm:"), got["alive"], bool(got["nics"])))
    assert {(True, True, True), (True, False, False), (False, True, True)} <= kinds
