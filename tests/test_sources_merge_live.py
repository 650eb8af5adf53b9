"""The three real collectors on one real port (issue 8, item 1).

One network namespace plays a hypervisor, `vtt<hex>-hv`. Inside it is a real
tap device; a libvirt test-driver domain (`test:///<dir>/host.xml`) names that
tap as its interface's `<target dev=…/>`, and a private ovsdb-server holds a
bridge with a port and interface of the same name, wired the way libvirt
wires an OVS port (`external_ids:attached-mac`, `vm-id`). Every collector
names the host after the namespace (libvirt by the `@NAME` of its source,
netlink by the namespace's name, OVS by the `@NAME` of `ovs+unix:SOCK@NAME`),
so all three report the one id `port:<ns>/<tap>`, each with attributes of its
own.

Each collector's real `snapshot()` is recorded by the real `Recorder` into a
real SQLite file, ten rounds in a row. The history must then hold one version
per real change of the merge (a source joining), not one per snapshot; `show`
must tell each source's statement apart; a source that stops reporting the
port withdraws only its own attributes, and a disconnect vanishes nothing.

Needs root (a network namespace and a tap device) and Open vSwitch's
ovsdb-server and ovs-vsctl (no ovs-vswitchd: `ovs-vsctl --no-wait` writes the
database directly).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from collectors.netlink.netlink_lab import SKIP_REASON, Lab
from collectors.ovs.ovs_testbed import PrivateOvsdb, ovsdb_unavailable, start_ovsdb, stop
from vtrail.collectors.base import Collector
from vtrail.collectors.libvirt import LibvirtCollector
from vtrail.collectors.netlink import NetlinkCollector
from vtrail.collectors.ovs import OvsCollector
from vtrail.ids import bridge_id, nic_id, port_id
from vtrail.model import JSONValue, Observation
from vtrail.query import state
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

if TYPE_CHECKING:  # only a type: the test also runs against a recorder without it
    from vtrail.model import Statement

pytestmark = pytest.mark.root

VM_NAME = "merge-vm"
VM_UUID = "7a1e0000-0000-4000-8000-00000000c0de"
VM_MAC = "52:54:00:7a:c0:de"
BRIDGE = "br-merge"
ROUNDS = 10


@dataclass
class Rig:
    ns: str
    tap: str
    ovsdb: PrivateOvsdb
    libvirt: LibvirtCollector
    netlink: NetlinkCollector
    ovs: OvsCollector

    @property
    def port(self) -> str:
        return port_id(self.ns, self.tap)

    @property
    def collectors(self) -> tuple[LibvirtCollector, NetlinkCollector, OvsCollector]:
        return (self.libvirt, self.netlink, self.ovs)


def host_xml(tap: str) -> str:
    """A test-driver host with one running domain whose tap is `tap` on `BRIDGE`."""
    return (
        "<node>\n<domain type='test'>"
        f"<name>{VM_NAME}</name><uuid>{VM_UUID}</uuid>"
        "<memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
        f"<devices><interface type='bridge'><mac address='{VM_MAC}'/>"
        f"<source bridge='{BRIDGE}'/><target dev='{tap}'/><model type='virtio'/>"
        "</interface></devices></domain>\n</node>\n"
    )


def _skip_reason() -> str | None:
    return SKIP_REASON or ovsdb_unavailable()


@pytest.fixture
def rig() -> Iterator[Rig]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    lab = Lab()
    # mkdtemp under /tmp, not tmp_path: a unix socket path must stay under 108 bytes.
    work = Path(tempfile.mkdtemp(prefix="vtmerge-"))
    ovsdb: PrivateOvsdb | None = None
    made: list[LibvirtCollector | NetlinkCollector | OvsCollector] = []
    try:
        ns = lab.ns("hv")
        tap = f"{lab.tag}-tap"  # not vnet…: libvirt would throw that name away as its own
        lab.ip(ns, f"tuntap add dev {tap} mode tap")
        lab.ip(ns, f"link set {tap} up")

        ovsdb = start_ovsdb(work)
        ovsdb.vsctl(
            *("add-br", BRIDGE, "--", "add-port", BRIDGE, tap),
            *("--", "set", "Interface", tap, f"external_ids:attached-mac={VM_MAC}"),
            f"external_ids:vm-id={VM_UUID}",
        )

        xml = work / "host.xml"
        xml.write_text(host_xml(tap))
        lv = LibvirtCollector.from_source(f"libvirt+test://{xml}@{ns}")
        made.append(lv)
        nl = NetlinkCollector(ns)
        made.append(nl)
        ov = OvsCollector.from_uri(f"ovs+unix:{ovsdb.sock}@{ns}")
        made.append(ov)
        yield Rig(ns, tap, ovsdb, lv, nl, ov)
    finally:
        for c in made:
            c.close()
        if ovsdb is not None:
            stop(ovsdb.proc)
        lab.close()
        shutil.rmtree(work, ignore_errors=True)


# -- what the test expects, from the observations themselves ----------------------------


def port_attrs(o: Observation, port: str) -> Mapping[str, JSONValue] | None:
    """What observation `o` says of `port`, or None when it does not report it."""
    return next((e.attrs for e in o.entities if e.id == port), None)


def merge(said: Sequence[tuple[str, datetime, Mapping[str, JSONValue]]]) -> dict[str, JSONValue]:
    """The merge as vtrail.recording.merge documents it: every attribute any source gives; on a
    conflict, the source reporting the longest without a break wins, then by name."""
    out: dict[str, JSONValue] = {}
    for _, _, attrs in sorted(said, key=lambda s: (s[1], s[0]), reverse=True):
        out |= attrs
    return out


class Expected:
    """Follows the port through the observations in the order they were recorded."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.said: dict[str, tuple[datetime, Mapping[str, JSONValue]]] = {}
        self.merged: dict[str, JSONValue] | None = None
        #: Changes of the merge: the versions the port should have.
        self.changes = 0

    def see(self, o: Observation) -> None:
        if o.kind != "snapshot":
            return
        attrs = port_attrs(o, self.port)
        if attrs is None:
            self.said.pop(o.source, None)
        else:
            since = self.said[o.source][0] if o.source in self.said else o.observed_at
            self.said[o.source] = (since, attrs)
        merged = merge([(s, since, a) for s, (since, a) in self.said.items()]) or None
        if merged != self.merged:
            self.changes += 1
            self.merged = merged


def take_round(collectors: Sequence[Collector]) -> list[Observation]:
    """One real snapshot of each collector, in turn; each stamps its own clock."""
    out = [c.snapshot() for c in collectors]
    time.sleep(0.005)  # the next round is a little later
    return out


def live(store: SqliteStore, at: datetime) -> tuple[set[str], set[tuple[str, str, str]]]:
    snap = state.snapshot(store, at)
    return {v.entity for v in snap.entities}, {
        (r.key.src, r.key.rel, r.key.dst) for r in snap.relations
    }


def by_source(statements: list[Statement]) -> dict[str, Statement]:
    out = {s.source: s for s in statements}
    assert len(out) == len(statements), f"a source said two things at once: {statements}"
    return out


# -- the test ---------------------------------------------------------------------------


def test_three_real_collectors_on_one_real_port(rig: Rig, tmp_path: Path) -> None:
    port = rig.port
    sources = {c.source for c in rig.collectors}
    assert len(sources) == 3
    store = SqliteStore(tmp_path / "vtrail.db")
    try:
        rec = Recorder(store)
        expected = Expected(port)
        ends: list[datetime] = []  # the instant each round's last observation was taken
        last: dict[str, Observation] = {}
        for _ in range(ROUNDS):
            obs = take_round(rig.collectors)
            for o in obs:
                assert port_attrs(o, port) is not None, f"{o.source} does not report {port}"
                expected.see(o)
                last[o.source] = o
            rec.record(obs)
            ends.append(max(o.observed_at for o in obs))

        # One version per real change of the merge (a source joining), not one per snapshot.
        versions = state.history(store, port).versions
        assert expected.changes <= 3
        assert len(versions) == expected.changes, (
            f"{len(versions)} versions of {port} from {ROUNDS} rounds of 3 sources; the merge "
            f"changed {expected.changes} times:\n"
            + "\n".join(f"  {v.valid_from} {v.source}" for v in versions)
        )
        assert versions[-1].valid_to is None

        # Nothing about the port changed between round 4 and round 10.
        d = state.diff(store, ends[3], ends[9])
        assert port not in {v.entity for v in (*d.appeared, *d.vanished)}
        assert port not in {c.entity for c in d.changed}
        assert port not in {m.entity for m in d.moved}
        assert not [
            r for r in (*d.relations_added, *d.relations_removed) if port in (r.key.src, r.key.dst)
        ]

        # `show` keeps each source's statement apart; the version is their merge.
        at = ends[-1]
        shown = state.show(store, port, at)
        assert shown.version is not None and shown.version.valid_to is None
        said = by_source(shown.sources)
        assert set(said) == sources
        for src, statement in said.items():
            assert dict(statement.attrs) == dict(port_attrs(last[src], port) or {}), src
        merged = dict(shown.version.attrs)
        for statement in said.values():
            assert set(statement.attrs) <= set(merged), statement.source
        assert merged == merge([(s.source, s.reporting_since, s.attrs) for s in said.values()])
        assert merged == expected.merged
        # Each source brings attributes only it knows.
        assert merged["ovs"] is True and "ofport" in merged  # OVS
        assert "operstate" in merged and "link_kind" in merged  # netlink
        only_ovs = set(said[rig.ovs.source].attrs) - {
            k for s in (rig.libvirt.source, rig.netlink.source) for k in said[s].attrs
        }
        assert {"ovs", "ofport", "ovs_port"} <= only_ovs

        # The relations two sources report are one relation each.
        nic = nic_id(VM_UUID, VM_MAC)
        rels = {(r.key.src, r.key.rel, r.key.dst) for r in shown.relations}
        assert (nic, "plugged_into", port) in rels
        assert (port, "port_of", bridge_id(rig.ns, BRIDGE)) in rels

        # OVS stops reporting the port: only OVS's attributes go, the port stays.
        rig.ovsdb.vsctl("del-port", BRIDGE, rig.tap)
        obs = take_round(rig.collectors)
        assert port_attrs(obs[2], port) is None
        for o in obs:
            expected.see(o)
        rec.record(obs)
        after = max(o.observed_at for o in obs)
        shown = state.show(store, port, after)
        assert shown.version is not None and shown.version.valid_to is None, "the port vanished"
        said = by_source(shown.sources)
        assert set(said) == {rig.libvirt.source, rig.netlink.source}
        now = dict(shown.version.attrs)
        assert now == merge([(s.source, s.reporting_since, s.attrs) for s in said.values()])
        assert now == expected.merged
        assert now == {k: v for k, v in merged.items() if k not in only_ovs}
        assert len(state.history(store, port).versions) == len(versions) + 1
        assert shown.version.source == rig.ovs.source  # the source whose statement ended
        # libvirt still reports the port on the bridge and the NIC plugged into it.
        assert rels == {(r.key.src, r.key.rel, r.key.dst) for r in shown.relations}

        # A disconnect of one source vanishes nothing, nor do the others' next snapshots.
        before = live(store, after)
        version = shown.version
        time.sleep(0.005)
        rec.record([Observation(rig.netlink.source, datetime.now(UTC), "disconnect")])
        time.sleep(0.005)
        rec.record(take_round((rig.libvirt, rig.ovs)))
        later = datetime.now(UTC)
        assert live(store, later) == before
        shown = state.show(store, port, later)
        assert shown.version == version
        assert set(by_source(shown.sources)) == {rig.libvirt.source, rig.netlink.source}
    finally:
        store.close()
