"""libvirt events → event observations, without a hypervisor.

Each test feeds `events.domain_event` what the watcher would: the event as
fired, the domain as read afterwards (or None when it was already gone), and
the collector's last view of it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vtrail.collectors.libvirt import enums
from vtrail.collectors.libvirt.events import domain_event, network_event
from vtrail.collectors.libvirt.payload import (
    DomainEvent,
    DomainPayload,
    Fetched,
    NetworkEvent,
    NetworkPayload,
    from_json,
)
from vtrail.collectors.libvirt.transform import DomainView, domain_view
from vtrail.model import Observation, RelKey

DATA = Path(__file__).parents[2] / "data" / "libvirt"
T0 = datetime(2026, 11, 21, 3, 12, tzinfo=UTC)
SRC = "libvirt+qemu:///system@hv1"
WEB = "6695eb01-f6a4-8304-79aa-97f2502e193f"
CACHE = "9b2c4a10-3c5e-4f6a-8b7c-1d2e3f405162"
BRIDGES = {"default": "virbr0", "isolated": "virbr1"}
NIC = f"nic:{WEB}/52:54:00:6b:3c:0"


def load(name: str) -> Fetched:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    data.pop("_comment", None)
    for item in data["domains"] + data["networks"]:
        if "xml_file" in item:
            item["xml"] = (DATA / item.pop("xml_file")).read_text()
    return from_json(data)


def payload(name: str) -> DomainPayload:
    return next(d for d in load("qemu-hv1.json").domains if d.name == name)


def view(name: str) -> DomainView:
    return domain_view("hv1", payload(name), BRIDGES)


def lifecycle(uuid: str, event: int, detail: int = 0, seconds: int = 0) -> DomainEvent:
    return DomainEvent(T0 + timedelta(seconds=seconds), uuid, "x", "lifecycle", event, detail)


def fire(
    ev: DomainEvent,
    fetched: DomainPayload | None,
    known: DomainView | None,
    host: str = "hv1",
) -> tuple[Observation, DomainView | None]:
    obs, after = domain_event(SRC, host, ev, fetched, known, BRIDGES)
    assert obs is not None
    assert obs.kind == "event" and obs.source == SRC and obs.observed_at == ev.at
    return obs, after


def keys(obs: Observation) -> set[tuple[str, str, str]]:
    return {(r.key.src, r.key.rel, r.key.dst) for r in obs.relations}


def attrs(obs: Observation, entity: str) -> dict[str, Any]:
    return dict(next(e.attrs for e in obs.entities if e.id == entity))


def test_a_domain_never_read_is_recorded_from_its_events() -> None:
    """define → start → destroy → undefine, all over before the first read."""
    uuid, vm = "11111111-2222-3333-4444-555555555555", "vm:11111111-2222-3333-4444-555555555555"
    obs, v = fire(lifecycle(uuid, enums.DEFINED), None, None)
    assert [e.id for e in obs.entities] == [vm]
    assert attrs(obs, vm) == {"name": "x", "uuid": uuid, "state": "shutoff", "persistent": True}
    assert not obs.relations and not obs.gone

    obs, v = fire(lifecycle(uuid, enums.STARTED, 0, 1), None, v)
    assert attrs(obs, vm)["state"] == "running"
    assert attrs(obs, vm)["state_reason"] == "booted"
    assert keys(obs) == {(vm, "runs_on", "host:hv1")}

    obs, v = fire(lifecycle(uuid, enums.STOPPED, 1, 2), None, v)
    assert attrs(obs, vm)["state"] == "shutoff"
    assert attrs(obs, vm)["state_reason"] == "destroyed"
    assert obs.gone_relations == (RelKey(vm, "runs_on", "host:hv1"),)
    assert obs.gone == ()  # persistent: it still exists, shut off
    assert v is not None

    obs, v = fire(lifecycle(uuid, enums.UNDEFINED, 0, 3), None, v)
    assert obs.gone == (vm,) and not obs.entities
    assert v is None


def test_the_event_says_the_state_the_read_says_the_config() -> None:
    """Handled late, `started` still means running, even if the read shows it shut off."""
    later = replace(payload("web-1"), active=False, state=5, reason=2)
    obs, v = fire(lifecycle(WEB, enums.STARTED), later, None)
    vm = f"vm:{WEB}"
    assert attrs(obs, vm)["state"] == "running"
    assert (vm, "runs_on", "host:hv1") in keys(obs)
    assert (NIC + "1", "plugged_into", "port:hv1/vnet4") in keys(obs)
    assert v is not None and v.active


def test_stopped_closes_ports_and_edges_but_keeps_the_vm_and_nics() -> None:
    known = view("web-1")
    obs, v = fire(lifecycle(WEB, enums.STOPPED, 1), None, known)
    vm = f"vm:{WEB}"
    assert sorted(obs.gone) == ["port:hv1/macvtap0", "port:hv1/vnet4", "port:hv1/vnet5"]
    assert {(k.src, k.rel, k.dst) for k in obs.gone_relations} == {
        (vm, "runs_on", "host:hv1"),
        (NIC + "1", "plugged_into", "port:hv1/vnet4"),
        ("port:hv1/vnet4", "port_of", "bridge:hv1/virbr0"),
        (NIC + "2", "plugged_into", "port:hv1/vnet5"),
        ("port:hv1/vnet5", "port_of", "bridge:hv1/br-prod"),
        (NIC + "3", "plugged_into", "port:hv1/macvtap0"),
    }
    assert {k for k in keys(obs) if k[1] != "uses_image" and k[1] != "backed_by"} == {
        (vm, "has_nic", NIC + str(i)) for i in (1, 2, 3, 4)
    }
    assert (vm, "uses_image", "image:path:hv1:/dev/vg0/web-1-data") in keys(obs)
    assert attrs(obs, NIC + "1")["target"] is None
    assert attrs(obs, vm)["vcpus"] == 2  # the config survives from the last read
    assert v is not None and not v.active


def test_a_transient_domain_ends_when_it_stops() -> None:
    known = view("cache-1")
    obs, v = fire(lifecycle(CACHE, enums.STOPPED, 0), None, known)
    assert sorted(obs.gone) == sorted(
        [f"vm:{CACHE}", f"nic:{CACHE}/52:54:00:c0:00:01", "port:hv1/vnet6"]
    )
    assert set(obs.gone_relations) == {r.key for r in known.facts.relations}
    assert not obs.entities and v is None


def test_undefining_a_running_domain_makes_it_transient() -> None:
    running = replace(payload("web-1"), persistent=False)
    obs, v = fire(lifecycle(WEB, enums.UNDEFINED), running, view("web-1"))
    assert obs.gone == () and obs.gone_relations == ()
    assert attrs(obs, f"vm:{WEB}")["persistent"] is False
    assert v is not None
    obs, v = fire(lifecycle(WEB, enums.STOPPED, 0, 1), None, v)  # and now it ends
    assert f"vm:{WEB}" in obs.gone and v is None


def test_a_rename_keeps_the_vm() -> None:
    known = view("web-1")
    obs, v = fire(lifecycle(WEB, enums.UNDEFINED, enums.UNDEFINED_RENAMED), None, known)
    assert obs.gone == () and obs.gone_relations == ()
    renamed = replace(payload("web-1"), name="www-1")
    obs, v = fire(lifecycle(WEB, enums.DEFINED, 2, 1), renamed, v)
    assert attrs(obs, f"vm:{WEB}")["name"] == "www-1"
    assert attrs(obs, f"vm:{WEB}")["state"] == "running"
    assert obs.gone == () and obs.gone_relations == ()


def test_suspend_keeps_the_host() -> None:
    obs, _ = fire(lifecycle(WEB, enums.SUSPENDED, 0), payload("web-1"), view("web-1"))
    assert attrs(obs, f"vm:{WEB}")["state"] == "paused"
    assert attrs(obs, f"vm:{WEB}")["state_reason"] == "user"
    assert (f"vm:{WEB}", "runs_on", "host:hv1") in keys(obs)
    assert obs.gone == () and obs.gone_relations == ()


def _without_nic_2(xml: str) -> str:
    start = xml.index("<interface type='bridge'>")
    end = xml.index("</interface>", start) + len("</interface>")
    return xml[:start] + xml[end:]


def test_device_removed_ends_the_nic_and_its_edges() -> None:
    after = payload("web-1")
    after = replace(after, xml=_without_nic_2(after.xml))
    ev = DomainEvent(T0, WEB, "web-1", "device_removed", device="net1")
    obs, _ = fire(ev, after, view("web-1"))
    assert sorted(obs.gone) == [NIC + "2", "port:hv1/vnet5"]
    assert {(k.src, k.rel, k.dst) for k in obs.gone_relations} == {
        (f"vm:{WEB}", "has_nic", NIC + "2"),
        (NIC + "2", "plugged_into", "port:hv1/vnet5"),
        ("port:hv1/vnet5", "port_of", "bridge:hv1/br-prod"),
    }
    assert NIC + "1" in {e.id for e in obs.entities}
    assert attrs(obs, f"vm:{WEB}")["state"] == "running"  # from the view, not the event


def test_device_added_lists_the_new_nic() -> None:
    before = replace(payload("web-1"), xml=_without_nic_2(payload("web-1").xml))
    known = domain_view("hv1", before, BRIDGES)
    ev = DomainEvent(T0, WEB, "web-1", "device_added", device="net1")
    obs, _ = fire(ev, payload("web-1"), known)
    assert (NIC + "2", "plugged_into", "port:hv1/vnet5") in keys(obs)
    assert obs.gone == () and obs.gone_relations == ()


def test_device_event_on_a_vanished_domain_says_nothing() -> None:
    known = view("web-1")
    ev = DomainEvent(T0, WEB, "web-1", "device_removed", device="net1")
    assert domain_event(SRC, "hv1", ev, None, known, BRIDGES) == (None, known)


def test_migration_moves_runs_on_and_keeps_the_id() -> None:
    vm = f"vm:{WEB}"
    out, _ = fire(lifecycle(WEB, enums.STOPPED, 3), None, view("web-1"), host="hv1")
    assert RelKey(vm, "runs_on", "host:hv1") in out.gone_relations
    assert attrs(out, vm)["state_reason"] == "migrated"
    into, _ = fire(lifecycle(WEB, enums.STARTED, 1, 1), payload("web-1"), None, host="hv2")
    assert (vm, "runs_on", "host:hv2") in keys(into)
    assert attrs(into, vm)["state_reason"] == "migrated"
    assert ("port:hv2/vnet4", "port_of", "bridge:hv2/virbr0") in keys(into)


NET = NetworkPayload("lab", (DATA / "qemu-net-lab.xml").read_text(), active=True, persistent=True)


@pytest.mark.parametrize(
    ("event", "fetched", "known", "gone", "active"),
    [
        (enums.NET_STARTED, NET, True, False, True),
        (enums.NET_STOPPED, replace(NET, active=False), True, False, False),
        (enums.NET_STOPPED, None, False, True, None),  # transient: gone with the stop
        (enums.NET_UNDEFINED, None, True, True, None),
        (enums.NET_DEFINED, None, None, False, False),  # read too late: name only
    ],
)
def test_network_events(
    event: int, fetched: NetworkPayload | None, known: bool | None, gone: bool, active: bool | None
) -> None:
    obs, cfg, _ = network_event(SRC, "hv1", NetworkEvent(T0, "lab", event, 0), fetched, known)
    assert obs.kind == "event" and obs.observed_at == T0
    if gone:
        assert obs.gone == ("net:lab@hv1",) and not obs.entities and cfg is None
        return
    assert obs.gone == ()
    (entity,) = obs.entities
    assert entity.id == "net:lab@hv1" and entity.attrs["active"] is active
    if fetched is not None:
        assert entity.attrs["forward_mode"] == "route"
        assert cfg is not None and cfg.bridge == "virbr9"
