"""Fetched payloads → one snapshot observation, on recorded data (no hypervisor)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from factory import at
from vtrail import wire
from vtrail.collectors.libvirt.payload import Fetched, from_json, to_json
from vtrail.collectors.libvirt.transform import build_snapshot
from vtrail.model import Observation, RelKey
from vtrail.query.state import history
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

DATA = Path(__file__).parents[2] / "data" / "libvirt"
WEB = "6695eb01-f6a4-8304-79aa-97f2502e193f"
CACHE = "9b2c4a10-3c5e-4f6a-8b7c-1d2e3f405162"
DB = "3f0e2d1c-0b9a-4877-8665-544332211000"


def load(name: str) -> Fetched:
    """A recorded fetch; `xml_file` entries (hand-written fixtures) are read in place."""
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    data.pop("_comment", None)
    for item in data["domains"] + data["networks"]:
        if "xml_file" in item:
            item["xml"] = (DATA / item.pop("xml_file")).read_text()
    return from_json(data)


def qemu_snapshot() -> Observation:
    return build_snapshot("libvirt+qemu:///system@hv1", "hv1", load("qemu-hv1.json")).observation


def rels(obs: Observation) -> set[tuple[str, str, str]]:
    return {(r.key.src, r.key.rel, r.key.dst) for r in obs.relations}


def test_qemu_entities() -> None:
    obs = qemu_snapshot()
    assert obs.kind == "snapshot"
    assert obs.source == "libvirt+qemu:///system@hv1"
    assert obs.observed_at.isoformat() == "2026-11-21T03:12:00.125000+00:00"
    assert sorted(e.id for e in obs.entities) == sorted(
        [
            "host:hv1",
            "net:default@hv1",
            "net:isolated@hv1",
            "net:lab@hv1",
            f"vm:{WEB}",
            f"nic:{WEB}/52:54:00:6b:3c:01",
            f"nic:{WEB}/52:54:00:6b:3c:02",
            f"nic:{WEB}/52:54:00:6b:3c:03",
            f"nic:{WEB}/52:54:00:6b:3c:04",
            "port:hv1/vnet4",
            "port:hv1/vnet5",
            "port:hv1/macvtap0",
            f"vm:{CACHE}",
            f"nic:{CACHE}/52:54:00:c0:00:01",
            "port:hv1/vnet6",
            f"vm:{DB}",
            f"nic:{DB}/52:54:00:db:00:01",
            # Neither the files nor qemu-img are here: images by path, from the XML.
            "image:path:hv1:/var/lib/libvirt/images/web-1.qcow2",
            "image:path:hv1:/var/lib/libvirt/images/base/debian-12.qcow2",
            "image:path:hv1:/dev/vg0/web-1-data",
            "image:path:hv1:rbd:volumes/web-1-logs",
            "image:path:hv1:fast/cache-1.qcow2",
            "image:path:hv1:/var/lib/libvirt/images/db-1.qcow2",
        ]
    )
    assert all(e.kind == e.id.split(":")[0] for e in obs.entities)


def test_qemu_relations() -> None:
    web, cache, db = f"vm:{WEB}", f"vm:{CACHE}", f"vm:{DB}"
    n = f"nic:{WEB}/52:54:00:6b:3c:0"
    assert rels(qemu_snapshot()) == {
        (web, "runs_on", "host:hv1"),
        (cache, "runs_on", "host:hv1"),  # paused is still on the host
        (web, "has_nic", n + "1"),
        (web, "has_nic", n + "2"),
        (web, "has_nic", n + "3"),
        (web, "has_nic", n + "4"),
        (n + "1", "plugged_into", "port:hv1/vnet4"),
        ("port:hv1/vnet4", "port_of", "bridge:hv1/virbr0"),  # live source/@bridge
        (n + "2", "plugged_into", "port:hv1/vnet5"),
        ("port:hv1/vnet5", "port_of", "bridge:hv1/br-prod"),
        (n + "3", "plugged_into", "port:hv1/macvtap0"),  # macvtap: no bridge
        (cache, "has_nic", f"nic:{CACHE}/52:54:00:c0:00:01"),
        (f"nic:{CACHE}/52:54:00:c0:00:01", "plugged_into", "port:hv1/vnet6"),
        ("port:hv1/vnet6", "port_of", "bridge:hv1/virbr1"),  # from the network's XML
        # db-1 is shut off: its NIC exists in config but is plugged into nothing.
        (db, "has_nic", f"nic:{DB}/52:54:00:db:00:01"),
        # Every disk is an image, running or not; the live XML's <backingStore> a chain.
        (web, "uses_image", "image:path:hv1:/var/lib/libvirt/images/web-1.qcow2"),
        (
            "image:path:hv1:/var/lib/libvirt/images/web-1.qcow2",
            "backed_by",
            "image:path:hv1:/var/lib/libvirt/images/base/debian-12.qcow2",
        ),
        (web, "uses_image", "image:path:hv1:/dev/vg0/web-1-data"),
        (web, "uses_image", "image:path:hv1:rbd:volumes/web-1-logs"),
        (cache, "uses_image", "image:path:hv1:fast/cache-1.qcow2"),
        (db, "uses_image", "image:path:hv1:/var/lib/libvirt/images/db-1.qcow2"),
    }


def test_qemu_attrs() -> None:
    by_id = {e.id: dict(e.attrs) for e in qemu_snapshot().entities}
    assert by_id[f"vm:{WEB}"] == {
        "name": "web-1",
        "uuid": WEB,
        "state": "running",
        "state_reason": "booted",
        "persistent": True,
        "hypervisor": "kvm",
        "arch": "x86_64",
        "machine": "pc-q35-8.2",
        "vcpus": 2,
        "memory_kib": 3145728,
        "max_memory_kib": 4194304,
        "title": "public web frontend",
        "metadata.service": "web",  # <vtrail:service> under <metadata>
        "disks": [
            {
                "target": "vda",
                "source": "/var/lib/libvirt/images/web-1.qcow2",
                "device": "disk",
                "type": "file",
                "bus": "virtio",
                "format": "qcow2",
            },
            {
                "target": "vdb",
                "source": "/dev/vg0/web-1-data",
                "device": "disk",
                "type": "block",
                "bus": "virtio",
                "format": "raw",
            },
            {
                "target": "vdc",
                "source": "rbd:volumes/web-1-logs",
                "device": "disk",
                "type": "network",
                "bus": "virtio",
                "format": "raw",
            },
            {
                "target": "sda",
                "source": None,
                "device": "cdrom",
                "type": "file",
                "bus": "sata",
                "format": "raw",
            },
        ],
    }
    assert by_id[f"vm:{CACHE}"]["state"] == "paused"
    assert by_id[f"vm:{CACHE}"]["state_reason"] == "user"
    assert by_id[f"vm:{CACHE}"]["persistent"] is False
    assert (by_id[f"vm:{DB}"]["state"], by_id[f"vm:{DB}"]["state_reason"]) == (
        "shutoff",
        "shutdown",
    )
    assert by_id[f"nic:{WEB}/52:54:00:6b:3c:01"] == {
        "mac": "52:54:00:6b:3c:01",
        "model": "virtio",
        "type": "network",
        "bridge": "virbr0",
        "network": "default",
        "target": "vnet4",
    }
    assert by_id[f"nic:{WEB}/52:54:00:6b:3c:03"]["source_dev"] == "eno2"
    assert by_id[f"nic:{DB}/52:54:00:db:00:01"]["target"] is None
    assert by_id[f"nic:{DB}/52:54:00:db:00:01"]["bridge"] == "virbr0"
    assert by_id["port:hv1/vnet5"] == {"ifname": "vnet5", "mac": "52:54:00:6b:3c:02"}
    assert by_id["net:isolated@hv1"]["forward_mode"] == "isolated"
    assert by_id["net:lab@hv1"]["active"] is False
    assert by_id["host:hv1"] == {
        "hostname": "hv1.example.net",
        "uri": "qemu:///system",
        "hypervisor": "qemu",
        "hypervisor_version": "8.2.2",
        "libvirt_version": "10.0.0",
        "cpu_model": "x86_64",
        "cpus": 64,
        "cpu_mhz": 2900,
        "memory_mib": 257652,
        "numa_nodes": 2,
        "sockets": 1,
        "cores": 16,
        "threads": 2,
    }


def test_qemu_samples() -> None:
    got = {(s.entity, s.metric): s.value for s in qemu_snapshot().samples}
    n = f"nic:{WEB}/52:54:00:6b:3c:0"
    web, cache = f"vm:{WEB}", f"vm:{CACHE}"
    expected = {
        (web, "cpu_time_ns"): 8123456789012,
        (n + "1", "rx_bytes"): 9876543210,
        (n + "1", "tx_bytes"): 1234567890,
        (n + "1", "rx_packets"): 7654321,
        (n + "1", "tx_packets"): 2345678,
        (n + "2", "rx_bytes"): 1000,
        (n + "2", "tx_bytes"): 2000,
        (n + "2", "rx_packets"): 10,
        (n + "2", "tx_packets"): 20,
        (n + "3", "rx_bytes"): 300,
        (n + "3", "tx_bytes"): 400,
        (n + "3", "rx_packets"): 3,
        (n + "3", "tx_packets"): 4,
        (cache, "cpu_time_ns"): 5000000,
        (f"nic:{CACHE}/52:54:00:c0:00:01", "rx_bytes"): 11,
        (f"nic:{CACHE}/52:54:00:c0:00:01", "tx_bytes"): 22,
        (f"nic:{CACHE}/52:54:00:c0:00:01", "rx_packets"): 1,
        (f"nic:{CACHE}/52:54:00:c0:00:01", "tx_packets"): 2,
        (cache, "disk.vda.rd_bytes"): 12288,
        (cache, "disk.vda.wr_bytes"): 0,
        (cache, "disk.vda.rd_reqs"): 3,
        (cache, "disk.vda.wr_reqs"): 0,
    }
    for dev, rd, wr, rq, wq in [
        ("vda", 2147483648, 1073741824, 120034, 80012),
        ("vdb", 40960, 81920, 10, 20),
        ("vdc", 4096, 8192, 1, 2),
        ("sda", 0, 0, 0, 0),
    ]:
        expected |= {
            (web, f"disk.{dev}.rd_bytes"): rd,
            (web, f"disk.{dev}.wr_bytes"): wr,
            (web, f"disk.{dev}.rd_reqs"): rq,
            (web, f"disk.{dev}.wr_reqs"): wq,
        }
    assert got == expected  # nothing for shut-off db-1, nor the unnamed user-mode NIC
    assert len(qemu_snapshot().samples) == len(expected)  # no duplicates


def test_recorded_test_driver() -> None:
    snap = build_snapshot("libvirt+test:///default@hv-t", "hv-t", load("test-default.json"))
    obs = snap.observation
    vm = "vm:6695eb01-f6a4-8304-79aa-97f2502e193f"
    nic = "nic:6695eb01-f6a4-8304-79aa-97f2502e193f/aa:bb:cc:dd:ee:ff"
    assert {e.id for e in obs.entities} == {
        "host:hv-t",
        "net:default@hv-t",
        vm,
        nic,
        "port:hv-t/testnet0",
        "image:path:hv-t:/guest/diskimage1",
    }
    assert rels(obs) == {
        (vm, "runs_on", "host:hv-t"),
        (vm, "has_nic", nic),
        (nic, "plugged_into", "port:hv-t/testnet0"),
        ("port:hv-t/testnet0", "port_of", "bridge:hv-t/virbr0"),
        (vm, "uses_image", "image:path:hv-t:/guest/diskimage1"),
    }
    metrics = {(s.entity, s.metric) for s in obs.samples}
    assert (vm, "cpu_time_ns") in metrics
    assert {(nic, m) for m in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")} <= metrics
    assert (vm, "disk.vda.wr_bytes") in metrics
    assert set(snap.domains) == {"6695eb01-f6a4-8304-79aa-97f2502e193f"}
    assert snap.networks["default"].bridge == "virbr0"


def test_snapshots_speak_the_wire_contract() -> None:
    """The public observation format accepts what we produce, unchanged."""
    for name in ("qemu-hv1.json", "test-default.json"):
        obs = build_snapshot("libvirt+x:///y@h", "h", load(name)).observation
        assert wire.parse_observation(wire.to_dict(obs)) == obs
        assert all(len(s.metric) <= 64 for s in obs.samples)


def test_recording_round_trips() -> None:
    fetched = load("qemu-hv1.json")
    assert from_json(json.loads(json.dumps(to_json(fetched)))) == fetched


def test_duplicate_target_names_give_one_port() -> None:
    """The test driver names every domain's first tap testnet0."""
    fetched = load("test-default.json")
    twin = fetched.domains[0]
    twin = type(twin)(**{**{f: getattr(twin, f) for f in twin.__slots__}, "uuid": "1" * 32})
    both = Fetched(fetched.at, fetched.host, (*fetched.domains, twin), ())
    obs = build_snapshot("s", "h", both).observation
    assert [e.id for e in obs.entities].count("port:h/testnet0") == 1
    keys = [r.key for r in obs.relations]
    assert len(set(keys)) == len(keys)
    assert RelKey(f"vm:{'1' * 32}", "runs_on", "host:h") in keys


def test_each_host_has_its_own_networks(tmp_path: Path) -> None:
    # Every hypervisor has a `default` network, each with its own uuid. One id for
    # all of them made every snapshot of either host a new version of it.
    fetched = load("test-default.json")
    (net,) = fetched.networks
    uuid = re.search(r"<uuid>(.*?)</uuid>", net.xml)
    assert uuid is not None
    other = replace(
        fetched,
        networks=(
            replace(net, xml=net.xml.replace(uuid[1], "0f0f0f0f-1111-4222-8333-444455556666")),
        ),
    )
    store = SqliteStore(tmp_path / "two-hosts.db")
    rec = Recorder(store)
    for k in range(3):
        for host, f in (("hv-a", fetched), ("hv-b", other)):
            snap = build_snapshot(
                f"libvirt+test:///{host}.xml@{host}", host, replace(f, at=at(10 * k))
            )
            rec.record([snap.observation])
    for host in ("hv-a", "hv-b"):
        versions = history(store, f"net:default@{host}").versions
        assert len(versions) == 1, host
    store.close()
