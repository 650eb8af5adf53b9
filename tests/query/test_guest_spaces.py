"""A guest's addresses live in its VM's space, over the bundled example day (`vtrail tour`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stores import STORES, location
from vtrail.demo.example_day import bundled_lines, example_day
from vtrail.ids import guest_space, ip_id
from vtrail.query.names import resolve
from vtrail.query.path import path
from vtrail.query.state import history, where
from vtrail.recording.ingest import ingest_lines
from vtrail.store import Store, UnknownEntity, open_store
from vtrail.timeexpr import parse_time
from vtrail.wire import to_line

WEB_1 = "6695eb01-f6a4-8304-79aa-000000000001"


@pytest.fixture(scope="module", params=STORES)
def day(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = open_store(location(request, request.param, tmp_path_factory.mktemp("tour") / "t.db"))
    ingest_lines(store, bundled_lines())
    yield store
    store.close()


def test_the_bundled_day_is_what_the_tour_generates() -> None:
    assert bundled_lines() == [to_line(o) for o in example_day()]


def test_an_address_keeps_its_id_when_its_vm_migrates(day: Store) -> None:
    before, after = parse_time("2026-11-20T03:00Z"), parse_time("2026-11-20T04:00Z")
    address = ip_id("10.0.1.11", guest_space(WEB_1))
    assert where(day, "web-1", before).host == "host:hv-a"
    assert where(day, "web-1", after).host == "host:hv-b"
    for t in (before, after):
        assert where(day, "web-1", t).addresses == [address]
        assert where(day, "10.0.1.11", t).name == "web-1"
    assert resolve(day, "10.0.1.11") == [address]
    # One entity all day, held by the one NIC, whichever host reported it.
    assert {x.key.src for x in history(day, address).relations} == {
        f"nic:{WEB_1}/52:54:00:00:00:01"
    }


def test_a_vm_name_names_its_guests_space(day: Store) -> None:
    t = parse_time("2026-11-20T04:00Z")
    assert where(day, "10.0.1.11@web-1", t).name == "web-1"
    assert where(day, "10.0.1.11", t, space=WEB_1).name == "web-1"
    with pytest.raises(UnknownEntity, match="never held"):
        where(day, "10.0.1.11@web-2", t)
    assert path(day, "web-2", "10.0.1.11@web-1", t).b == ip_id("10.0.1.11", WEB_1)
