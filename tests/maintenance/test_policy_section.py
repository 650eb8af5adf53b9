"""The policy's `maintenance:` section: read, refused in one line, recorded and read back
exactly, shown and compared like the other sections."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory import at
from vtrail.cli.main import app
from vtrail.policy.diff import changes
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.maintenance import Maintenance
from vtrail.policy.record import from_attrs, to_observation

BASE = "services: {db: {members: {kind: vm, name: 'db-*'}}}\n"


def test_the_section_is_read_and_recorded_exactly() -> None:
    p = parse_policy(BASE + "maintenance:\n  overcommit: {cpu: 4, memory: 1.5}\n")
    assert p.maintenance == Maintenance(4.0, 1.5)
    entities = to_observation(p, at(0)).entities
    assert [e.id for e in entities if e.kind == "maintenance"] == ["maintenance:capacity"]
    assert from_attrs((e.id, e.attrs) for e in entities) == p
    # The defaults record nothing: a policy without the section is as it was.
    plain = parse_policy(BASE)
    assert plain.maintenance == Maintenance(1.0, 1.0)
    assert not [e for e in to_observation(plain, at(0)).entities if e.kind == "maintenance"]
    [c] = changes(plain, p)
    assert (c.part, c.name, c.change) == ("maintenance", "capacity", "changed")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("maintenance: {overcommit: {cpu: 0}}",
         "policy:2: maintenance: overcommit.cpu: 0 is out of range: above 0, at most 64"),
        ("maintenance: {overcommit: {disk: 2}}",
         "policy:2: maintenance: overcommit.disk: unknown key 'disk' (allowed: cpu, memory)"),
        ("maintenance: {overcommit: {memory: lots}}",
         "policy:2: maintenance: overcommit.memory: expected a ratio (a number), got the text "
         "'lots'"),
        ("maintenance: {overcomit: {cpu: 2}}",
         "policy:2: maintenance: overcomit: unknown key 'overcomit' (did you mean 'overcommit'? "
         "allowed: overcommit)"),
    ],
)  # fmt: skip
def test_a_bad_section_is_one_line(text: str, said: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(BASE + text)
    assert str(e.value) == said


@pytest.mark.both_stores
def test_applied_and_shown(tmp_path: Path, db_location: str) -> None:
    policy, db = tmp_path / "policy.yaml", db_location
    policy.write_text(BASE + "maintenance: {overcommit: {cpu: 8}}\n")
    done = CliRunner().invoke(app, ["policy", "apply", str(policy), "--db", db])
    assert done.exit_code == 0, done.output
    shown = CliRunner().invoke(app, ["policy", "show", "--db", db, "-o", "yaml"])
    assert "maintenance:\n  overcommit:\n    cpu: 8.0\n    memory: 1.0\n" in shown.stdout
