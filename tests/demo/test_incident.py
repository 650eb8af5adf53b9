"""The demo's incident: real probes from h1 to the `files` service, a replug that cuts
their path among decoys, the repair, and `vtrail triage` naming the replug first.

The story is played against real namespaces and the libvirt test driver (root), with
the demo's policy and its probe run as `vtrail record` runs a policy's probes; the
recorded probe rounds are then held against the story's instants.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.fidelity import rel_began
from vtrail.cli.common import console
from vtrail.cli.demo import fabric_policy, prepare_store
from vtrail.cli.demo_tour import PROBED, inside_the_loss, suspects_window, tour
from vtrail.cli.record import PolicyProbes
from vtrail.demo.churn import Change, Story
from vtrail.demo.fabric import Fabric, Names
from vtrail.demo.session import DemoSession
from vtrail.ids import ip_id, port_id, router_id, vm_id
from vtrail.policy.model import Vantage
from vtrail.store import SqliteStore
from vtrail.store.reads.samples import series
from vtrail.timeexpr import from_us, iso
from vtrail.triage.incident import triage

INTERVAL = 2.0
#: The demo's probe: a round every 2 s, three packets 200 ms apart, each given 500 ms.
EVERY = 2.0
ROUND = timedelta(seconds=0.2 * 2 + 0.5)


def test_the_probe_runs_from_this_runs_h1_and_only_with_namespaces(tmp_path: Path) -> None:
    names = Names("abcd")
    [probe] = fabric_policy(Fabric(names, tmp_path, {}, network=True)).probes.values()
    assert probe.vantage == Vantage("netns", "vtabcd-h1")
    assert probe.to.names == (PROBED,) and probe.every == timedelta(seconds=EVERY)
    # Without root there are no namespaces to probe from: no probes, the rest as shipped.
    bare = fabric_policy(Fabric(names, tmp_path, {}, network=False))
    assert not bare.probes and PROBED in bare.services and len(bare.rules) == 4


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Story, Names]]:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces")
    db = tmp_path_factory.mktemp("incident") / "incident.db"
    probes = PolicyProbes(db)
    try:
        with DemoSession(db, interval=INTERVAL, prepare=prepare_store, probes=probes) as session:
            assert session.fabric is not None and session.fabric.network
            assert session.names is not None and session.probe_count == 1
            names = session.names
            story = session.play(24.0, lambda _c: None)
            session.finish()
    finally:
        probes.close()
    assert not session.problems, session.problems
    yield db, story, names


def _replugs(story: Story) -> tuple[Change, Change]:
    """The replug that cut h1 → h2, and the one that repaired it."""
    broke, mended = [c for c in story.changes if c.action == "replug"]
    assert (broke.after, mended.after) == (mended.before, broke.before)
    return broke, mended


@pytest.mark.root
@pytest.mark.slow
def test_the_recorded_probe_rounds_lose_from_the_replug_to_the_repair(
    recorded: tuple[Path, Story, Names],
) -> None:
    db, story, names = recorded
    broke, mended = _replugs(story)
    port = port_id(names.sw, "vtp-h2")
    store = SqliteStore(db, readonly=True)
    try:
        # When the record says the port changed bridges, both ways.
        cut = rel_began(store, broke, port, "port_of", broke.after or "").recorded
        healed = rel_began(store, mended, port, "port_of", mended.after or "").recorded
        assert cut is not None and healed is not None
        member = ip_id("10.77.1.12", names.ns("h2"))
        rounds = [(from_us(t), v) for t, v in series(store, store.entity_id(member), "probe.loss")]
    finally:
        store.close()
    assert len(rounds) >= 24.0 / EVERY - 2, rounds
    lost = [t for t, v in rounds if v > 0.2]
    assert lost, rounds
    # Onset within one probe round of the replug: the first round that lost packets
    # is the one that ran when it happened, or the next.
    assert cut - ROUND <= lost[0] <= cut + timedelta(seconds=EVERY), (cut, lost)
    # Every round before the replug had all its answers, every one while h2 was on the
    # wrong bridge lost them all, and the loss ended within a round of the repair.
    assert all(v == 0 for t, v in rounds if t + ROUND < cut), rounds
    assert all(v == 1 for t, v in rounds if cut <= t and t + ROUND < healed), rounds
    assert lost[-1] < healed, (healed, lost)
    after = [t for t, v in rounds if t > lost[-1]]
    assert after and after[0] <= healed + timedelta(seconds=EVERY), (healed, after)
    assert all(v == 0 for t, v in rounds if t > lost[-1]), rounds


@pytest.mark.root
@pytest.mark.slow
def test_triage_inside_the_loss_ranks_the_replug_first_above_its_decoys(
    recorded: tuple[Path, Story, Names],
) -> None:
    db, story, names = recorded
    at = inside_the_loss(story)
    assert at is not None
    cut = _replugs(story)[0].at
    store = SqliteStore(db, readonly=True)
    try:
        found = triage(store, [PROBED], at, suspects_window(story), limit=1000)
    finally:
        store.close()
    assert found.onset_reason == "loss began"
    assert cut <= found.onset <= cut + timedelta(seconds=EVERY) + ROUND
    [a] = found.affected
    assert a.entity == ip_id("10.77.1.12", names.ns("h2"))
    assert a.vantage == f"netns:{names.ns('h1')}"
    [p] = found.paths
    assert p.differs_before == port_id(names.sw, "vtp-h2") and p.first_difference is not None
    first = found.suspects[0]
    assert first.entity == port_id(names.sw, "vtp-h2"), [s.reason for s in found.suspects[:5]]
    assert "vtbr" in first.reason and first.hops == 0
    # The decoys are there, below it: the route changed at the same instant, the VM
    # that migrated and the one that lived for an instant just before.
    ranked = [s.entity for s in found.suspects]
    db1 = vm_id(story.vms["db-1"].uuid)
    batch2 = vm_id(story.vms["batch-2"].uuid)
    rt = router_id(names.rt).removeprefix("router:")
    route = next(e for e in ranked if e.startswith(f"port:{rt}/"))
    for decoy in (route, db1, batch2):
        assert decoy in ranked[1:], decoy


@pytest.mark.root
@pytest.mark.slow
def test_the_tour_ends_with_triage_naming_the_replug(
    recorded: tuple[Path, Story, Names], capsys: pytest.CaptureFixture[str]
) -> None:
    db, story, names = recorded
    at = inside_the_loss(story)
    assert at is not None
    capsys.readouterr()
    tour(console, db, story, datetime.now(UTC), INTERVAL)
    out = capsys.readouterr().out
    # Words only: the console folds long lines where it likes.
    shown = " ".join(out.split()).split(f"The {PROBED} service lost its packets")[1]
    window = suspects_window(story).total_seconds()
    assert f"$ vtrail triage {PROBED} --at {iso(at)} --window {window:.0f}s" in shown
    assert "(loss began)" in shown and f"from netns:{names.ns('h1')}: loss 1" in shown
    assert "s after vtp-h2 was replugged from vtbr0 to vtbr1" in shown
    assert "The path differs from hop" in shown and "vtp-h2 before" in shown
    suspects = shown.split("best first")[1]
    # The replug's row comes before the decoys' rows, and the line under the table names it.
    replug = suspects.index("port vtp-h2 port_of bridge")
    assert replug < suspects.index("routes changed"), suspects
    assert replug < suspects.index("vm batch-2 lived"), suspects
    assert "First suspect: port vtp-h2 port_of bridge vtbr" in shown
