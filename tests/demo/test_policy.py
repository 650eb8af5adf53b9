"""The demo's policy: shipped with the demo, recorded as it starts, broken twice by its story.

The story is played against real namespaces and the libvirt test driver (root),
recorded, and the recorded policy checked over it with `vtrail check`'s own
function: exactly two violations, each from the recorded instant of the change
that began it to that of the change that ended it, the short one between two
snapshots of its host. The tour then prints both.
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vtrail
from demo.fidelity import began, ended, rel_began, rel_ended
from vtrail.cli.columns import instant
from vtrail.cli.common import console
from vtrail.cli.demo import prepare_store
from vtrail.cli.demo_tour import tour
from vtrail.cli.main import app
from vtrail.demo import POLICY, fabric
from vtrail.demo.churn import STRAY_VM, VMS, Change
from vtrail.demo.session import DemoSession
from vtrail.ids import host_id, vm_id
from vtrail.policy.load import load_policy
from vtrail.query import state
from vtrail.store import SqliteStore
from vtrail.store.journal import Journal
from vtrail.timeexpr import to_us
from vtrail.triage import check
from vtrail.triage.members import Matcher
from vtrail.triage.policy_at import recorded_policy

INTERVAL = 2.0


def test_the_shipped_policy_loads_and_names_the_fabric(tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    assert len(policy.domains) >= 2
    kinds = {r.kind for r in policy.rules.values()}
    assert {"same-domain", "anti-affinity", "host-affinity", "host-anti-affinity"} <= kinds
    named = {h for d in policy.domains.values() for h in d.hosts}
    named |= {h for r in policy.rules.values() for h in r.hosts}
    assert named <= set(fabric.HOSTS), named - set(fabric.HOSTS)
    # Every VM of the story belongs to one service, by the name it has in the fabric.
    match = Matcher(policy)
    for v in VMS:
        assert len(match.services_of(vm_id(v.uuid), "vm", {"name": v.name})) == 1, v.name
    # It ships with the package, beside the demo's code.
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["vtrail"]
    here = POLICY.relative_to(Path(vtrail.__file__).parent).as_posix()
    assert any(fnmatch(here, glob) for glob in shipped), (here, shipped)
    # And `vtrail policy apply` takes it as it is.
    result = CliRunner().invoke(
        app, ["policy", "apply", str(POLICY), "--db", str(tmp_path / "p.db")]
    )
    assert result.exit_code == 0, result.output
    assert "6 services, 2 domains, 4 rules, 1 probe" in " ".join(result.output.split())


def _instants(store: SqliteStore, c: Change, host: str) -> set[datetime]:
    """What was recorded of `c` beginning or ending its VM's run on `host`."""
    h = host_id(host)
    if c.after == host:
        found = [rel_began(store, c, c.subject, "runs_on", h)]
        found += [began(store, c)] if c.action == "create" else []
    else:
        found = [rel_ended(store, c, c.subject, "runs_on", h)]
        found += [ended(store, c)] if c.action == "destroy" else []
    return {f.recorded for f in found if f.recorded is not None}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: builds network namespaces")
def test_the_story_breaks_db_apart_for_a_while_and_batch_off_front_between_two_snapshots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "policy.db"
    with DemoSession(db, interval=INTERVAL, prepare=prepare_store) as session:
        assert session.fabric is not None and session.fabric.network
        story = session.play(24.0, lambda _c: None)
        session.finish()
    assert not session.problems, session.problems

    store = SqliteStore(db, readonly=True)
    try:
        answer = check(
            store,
            recorded_policy(store, story.ended),
            "recorded",
            t_from=story.started,
            t_to=story.ended,
        )
        assert all(r.holds for r in answer.rules), [(r.name, r.reason) for r in answer.rules]
        broken = {r.name: r.violations for r in answer.rules if r.violations}
        assert set(broken) == {"db-apart", "batch-off-front"}, broken
        [apart] = broken["db-apart"]
        [stray] = broken["batch-off-front"]
        names = {vm_id(v.uuid): k for k, v in story.vms.items()}

        # db-1 beside db-2 on hv-c, from its move there to its move back.
        there, back = [c for c in story.changes if c.action == "migrate" and c.label == "db-1"]
        assert (there.after, back.after) == ("hv-c", "hv-b")
        assert [names[m] for m in apart.members] == ["db-1", "db-2"]
        assert apart.place == "host:hv-c" and not apart.in_force_at_start
        assert apart.t_from in _instants(store, there, "hv-b") | _instants(store, there, "hv-c")
        assert apart.t_to in _instants(store, back, "hv-c") | _instants(store, back, "hv-b")

        # batch-2 on hv-a, from its creation to its end, shorter than a poll interval.
        born, died = [c for c in story.changes if c.label == STRAY_VM.name]
        assert (born.action, died.action) == ("create", "destroy")
        assert [names[m] for m in stray.members] == ["batch-2"]
        assert stray.place == "host:hv-a"
        assert stray.t_from in _instants(store, born, "hv-a")
        assert stray.t_to in _instants(store, died, "hv-a")
        assert stray.t_to is not None and apart.t_to is not None
        lasted = (stray.t_to - stray.t_from).total_seconds()
        assert 0 < lasted < INTERVAL, lasted
        assert (apart.t_to - apart.t_from).total_seconds() > 2 * INTERVAL
        # hv-a's snapshots came before and after it, never while it lived.
        snaps = [
            r.observed_at
            for r in Journal(store).journal_since(to_us(story.started))
            if r.source.endswith("@hv-a") and r.kind == "snapshot"
        ]
        assert any(t < to_us(stray.t_from) for t in snaps)
        assert any(t > to_us(stray.t_to) for t in snaps)
        assert not [t for t in snaps if to_us(stray.t_from) <= t <= to_us(stray.t_to)]

        # Membership is in the record too: db-1 left `front` for `back` when it broke
        # db-apart and came back when it ended; batch-2 was a member while it lived.
        db1 = next(m for m in apart.members if names[m] == "db-1")
        domains = [
            (r.key.dst, r.valid_from, r.valid_to)
            for r in state.history(store, db1, story.started, story.ended).relations
            if r.key.rel == "in_domain" and r.valid_from >= story.started
        ]
        assert ("domain:back", apart.t_from, apart.t_to) in domains, domains
        assert ("domain:front", apart.t_to, None) in domains, domains
        [batch2] = stray.members
        lived = state.history(store, batch2)
        served = [
            (r.key.dst, r.valid_from, r.valid_to)
            for r in lived.relations
            if r.key.rel == "member_of"
        ]
        born_at, died_at = lived.versions[0].valid_from, lived.versions[-1].valid_to
        assert served == [("service:batch", born_at, died_at)], served
        assert died_at is not None and born_at <= stray.t_from < stray.t_to <= died_at
    finally:
        store.close()

    capsys.readouterr()
    tour(console, db, story, datetime.now(UTC), INTERVAL)
    out = capsys.readouterr().out
    # Words only: the console folds long lines where it likes.
    shown = " ".join(out.split()).split("Did the fabric keep its policy during the story?")[1]
    over, inside = shown.split("Inside db-apart's violation")
    assert f"check --from {story.started:%Y-%m-%dT%H:%M}" in over
    for v in (apart, stray):
        assert v.t_to is not None
        assert instant(v.t_from, date=False) in over and instant(v.t_to, date=False) in over
    assert "db-1 and db-2 both on hv-c" in over
    assert "batch-2 on hv-a, which the rule excludes" in over
    assert f"less than the {INTERVAL:g} s between two snapshots" in over
    assert "3 hold, 1 violated" in inside and "VIOLATED" in inside
    assert "db-1 and db-2 both on hv-c" in inside
