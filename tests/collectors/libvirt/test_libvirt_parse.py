"""Domain and network XML → typed configs, on recorded and hand-written XML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtrail.collectors.libvirt.parse import (
    Disk,
    Interface,
    MalformedXML,
    network_config,
    parse_domain_xml,
    parse_network_xml,
    try_parse_domain,
)
from vtrail.collectors.libvirt.payload import NetworkPayload

DATA = Path(__file__).parents[2] / "data" / "libvirt"


def xml(name: str) -> str:
    return (DATA / name).read_text()


def test_qemu_domain_devices_and_sizes() -> None:
    cfg = parse_domain_xml(xml("qemu-web-1.xml"))
    assert cfg.uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f"  # upper-case in the XML
    assert (cfg.name, cfg.hypervisor, cfg.arch, cfg.machine) == (
        "web-1",
        "kvm",
        "x86_64",
        "pc-q35-8.2",
    )
    assert cfg.title == "public web frontend"
    assert cfg.vcpus == 2  # current='2' of 4
    assert cfg.memory_kib == 3145728
    assert cfg.max_memory_kib == 4 * 1024 * 1024  # unit='GiB'
    assert cfg.interfaces == (
        Interface(
            type="network",
            mac="52:54:00:6b:3c:01",  # lower-cased
            model="virtio",
            target="vnet4",
            bridge="virbr0",
            network="default",
            alias="net0",
        ),
        Interface("bridge", "52:54:00:6b:3c:02", "virtio", "vnet5", "br-prod", alias="net1"),
        Interface(
            "direct",
            "52:54:00:6b:3c:03",
            "e1000e",
            "macvtap0",
            source_dev="eno2",
            source_mode="bridge",
            alias="net2",
        ),
        Interface("user", "52:54:00:6b:3c:04", "virtio", alias="net3"),
    )
    assert cfg.disks == (
        Disk(
            "vda",
            "/var/lib/libvirt/images/web-1.qcow2",
            "disk",
            "file",
            "virtio",
            "qcow2",
            backing=(("/var/lib/libvirt/images/base/debian-12.qcow2", "qcow2"),),
        ),
        Disk("vdb", "/dev/vg0/web-1-data", "disk", "block", "virtio", "raw"),
        Disk("vdc", "rbd:volumes/web-1-logs", "disk", "network", "virtio", "raw"),
        Disk("sda", None, "cdrom", "file", "sata", "raw", readonly=True),
    )


def test_volume_disk_and_mib_memory() -> None:
    cfg = parse_domain_xml(xml("qemu-cache-1.xml"))
    assert cfg.disks[0].source == "fast/cache-1.qcow2"
    assert cfg.memory_kib == cfg.max_memory_kib == 512 * 1024


def test_recorded_test_driver_domain() -> None:
    fetched = json.loads((DATA / "test-default.json").read_text())
    cfg = parse_domain_xml(fetched["domains"][0]["xml"])
    assert cfg.hypervisor == "test"
    assert [(i.type, i.mac, i.network, i.target) for i in cfg.interfaces] == [
        ("network", "aa:bb:cc:dd:ee:ff", "default", "testnet0")
    ]
    assert [(d.target, d.source) for d in cfg.disks] == [("vda", "/guest/diskimage1")]


def test_networks() -> None:
    nat = parse_network_xml(xml("qemu-net-default.xml"))
    assert (nat.name, nat.bridge, nat.forward_mode) == ("default", "virbr0", "nat")
    assert nat.ips == (
        {
            "family": "ipv4",
            "address": "192.168.122.1",
            "prefix": 24,  # from the netmask
            "dhcp_ranges": [{"start": "192.168.122.2", "end": "192.168.122.254"}],
        },
    )
    iso = parse_network_xml(xml("qemu-net-isolated.xml"))
    assert iso.forward_mode == "isolated"
    assert [(ip["family"], ip["prefix"]) for ip in iso.ips] == [("ipv4", 24), ("ipv6", 64)]
    assert parse_network_xml(xml("qemu-net-lab.xml")).forward_mode == "route"
    bare = "<network><name>n</name><forward/></network>"
    assert parse_network_xml(bare).forward_mode == "nat"  # libvirt's default mode


@pytest.mark.parametrize(
    "bad",
    ["<domain><name>x", "<domain><vcpu>two</vcpu></domain>", "not xml at all"],
)
def test_unreadable_domain_xml(bad: str) -> None:
    with pytest.raises(MalformedXML, match="domain x1"):
        parse_domain_xml(bad, "domain x1")
    config, error = try_parse_domain(bad, "x1")
    assert config is None
    assert error is not None and "domain x1" in error


def test_unreadable_network_degrades_to_its_name() -> None:
    bad = "<network><name>n</name><ip address='10.0.0.1' netmask='nonsense'/></network>"
    with pytest.raises(MalformedXML):
        parse_network_xml(bad)
    cfg = network_config(NetworkPayload("n", bad, active=True, persistent=True))
    assert (cfg.name, cfg.bridge, cfg.forward_mode) == ("n", None, "unknown")
