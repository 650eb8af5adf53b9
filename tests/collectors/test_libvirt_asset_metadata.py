"""A domain's vtrail metadata (`https://vtrail.dev/xmlns/asset/1`), read from a real
libvirt test-driver domain, becomes `asset.*` attributes and a `uses_image` edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vtrail.assetattrs import NAMESPACE
from vtrail.collectors.libvirt import LibvirtCollector, get

pytest.importorskip("libvirt")

DATA = Path(__file__).parent.parent / "data" / "libvirt"
HV_A = f"test://{(DATA / 'hv-a.xml').resolve()}"
UUID = "a55e7000-0000-4000-8000-000000000001"
XML = f"""<domain type='test'><name>ledger</name><uuid>{UUID}</uuid>
<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
<metadata>
  <va:asset xmlns:va="{NAMESPACE}">
    <va:owner>team-payments</va:owner>
    <va:cost-centre>CC-4711</va:cost-centre>
    <va:purpose>ledger database</va:purpose>
    <va:support-end>2028-12-31</va:support-end>
    <va:cloned-from>ledger-template</va:cloned-from>
    <va:image>debian@12.5</va:image>
    <va:colour>blue</va:colour>
  </va:asset>
  <app:placement xmlns:app="https://example.com/app"><app:zone>z1</app:zone></app:placement>
</metadata>
<devices><disk type='file' device='disk'><source file='/images/ledger.qcow2'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>"""


def test_the_metadata_is_read_from_a_test_driver_domain() -> None:
    conns: list[Any] = []

    def opener(uri: str) -> Any:
        conns.append(get.open_connection(uri, read_only=False))
        return conns[-1]

    collector = LibvirtCollector.from_source(f"libvirt+{HV_A}@hv-a", open_conn=opener)
    collector.snapshot()
    conns[-1].defineXML(XML)
    obs = collector.snapshot()
    vm = next(e for e in obs.entities if e.id == f"vm:{UUID}")
    mine = {k: v for k, v in vm.attrs.items() if k.startswith(("asset.", "metadata."))}
    assert mine == {
        "asset.owner": "team-payments",
        "asset.cost_centre": "CC-4711",
        "asset.purpose": "ledger database",
        "asset.support_end": "2028-12-31",
        "asset.cloned_from": "ledger-template",
        "asset.image": "debian@12.5",
        # Another tool's namespace is recorded as before; vtrail's own element is not
        # repeated there, and an element vtrail does not define (colour) is left out.
        "metadata.placement.zone": "z1",
    }
    edges = {(r.key.src, r.key.rel, r.key.dst) for r in obs.relations}
    assert (f"vm:{UUID}", "uses_image", "image:debian@12.5") in edges
    collector.close()
