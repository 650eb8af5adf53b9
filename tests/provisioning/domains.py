"""Domain XML as libvirt hands it to the qemu hook and as `virsh dumpxml` prints it."""

from __future__ import annotations

from provisioning.story import PATHS

UUID = "11111111-2222-3333-4444-555555555555"


def domain(
    name: str = "new-1",
    disks: tuple[str, ...] = (),
    owner: str | None = None,
    vcpus: int = 2,
    mib: int = 2048,
    nics: int = 1,
) -> str:
    """A domain with these disk sources, `nics` interfaces and vtrail metadata naming
    `owner` (none when None)."""
    meta = (
        '<metadata><vtrail:asset xmlns:vtrail="https://vtrail.dev/xmlns/asset/1">'
        f"<vtrail:owner>{owner}</vtrail:owner></vtrail:asset></metadata>"
        if owner
        else ""
    )
    devices = "".join(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{src}'/><target dev='vd{chr(97 + i)}' bus='virtio'/></disk>"
        for i, src in enumerate(disks)
    )
    devices += "".join(
        f"<interface type='network'><mac address='52:54:00:aa:bb:{i:02x}'/>"
        "<source network='default'/></interface>"
        for i in range(nics)
    )
    return (
        f"<domain type='kvm'><name>{name}</name><uuid>{UUID}</uuid>"
        f"<memory unit='MiB'>{mib}</memory><vcpu>{vcpus}</vcpu>{meta}"
        f"<devices>{devices}</devices></domain>"
    )


DEBIAN_DISK = PATHS["image:debian@12"]
SCRATCH_DISK = PATHS["image:scratch@0"]
BATCH_DISK = PATHS["image:batch@1"]
