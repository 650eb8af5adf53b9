"""The `provisioning:` section of a policy file: each rule kind and quota read, written back
and recorded whole; a bad section refused in one line naming its place, recording nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app as cli_app
from vtrail.policy.document import to_yaml
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.provisioning import ProvisionRule, Quota
from vtrail.policy.record import from_attrs, to_observation
from vtrail.store import open_store
from vtrail.triage.policy_at import policy_at

GOOD = """\
rules:
  - {name: web-apart, anti-affinity: web}
services:
  web: {members: {kind: vm, name: "web-*"}}
provisioning:
  rules:
    - {name: certified-only, certified: true}
    - {name: audited, owners: ["team-*"], certified: [audit-team, sec-team]}
    - {name: no-vulnerable, security: [ok, unknown]}
    - {name: batch-images, owners: team-batch, images: ["batch-*", "debian@12*"]}
    - {name: batch-on-c, owners: team-batch, hosts: [hv-c, "host:hv-d"]}
  quotas:
    team-web: {vms: 10, vcpus: 32, memory: 64GiB, addresses: 16}
    "*": {vms: 4, memory: 1536}
"""


def test_each_rule_kind_and_quota_is_read() -> None:
    p = parse_policy(GOOD).provisioning
    assert p.rules == {
        "certified-only": ProvisionRule("certified-only", "certified"),
        "audited": ProvisionRule("audited", "certified", ("team-*",), ("audit-team", "sec-team")),
        "no-vulnerable": ProvisionRule("no-vulnerable", "security", (), ("ok", "unknown")),
        "batch-images": ProvisionRule(
            "batch-images", "images", ("team-batch",), ("batch-*", "debian@12*")
        ),
        "batch-on-c": ProvisionRule("batch-on-c", "hosts", ("team-batch",), ("hv-c", "hv-d")),
    }
    assert p.quotas == {
        "team-web": Quota("team-web", 10, 32, 65536, 16),
        "*": Quota("*", 4, None, 1536, None),
    }
    assert p.quota_of("team-web") == p.quotas["team-web"]
    assert p.quota_of("anyone") == p.quotas["*"]


def test_the_section_is_written_back_and_recorded_as_it_was_read() -> None:
    p = parse_policy(GOOD)
    assert parse_policy(to_yaml(p)) == p
    o = to_observation(p, datetime.now(UTC))
    assert "provisioning:rules" in {e.id for e in o.entities}
    assert from_attrs((e.id, e.attrs) for e in o.entities) == p


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("{rules: [{name: x}]}", "provisioning.rules[0] (x): a provisioning rule has one kind"),
        ("{rules: [{name: x, certified: true, hosts: a}]}", "two (certified, hosts)"),
        ("{rules: [{name: x, certified: false}]}", "certified: false allows everything"),
        ("{rules: [{name: x, security: safe}]}", "unknown security status 'safe'"),
        ("{rules: [{name: x, images: 'web-[0'}]}", "bad glob 'web-[0'"),
        ("{rules: [{name: x, hosts: []}]}", "hosts names at least one"),
        ("{rules: [{name: x, owners: [], certified: true}]}", "owners names at least one"),
        ("{rules: [{name: web-apart, certified: true}]}", "is taken by a rule under rules:"),
        ("{rules: [{name: x, certified: true}, {name: x, security: ok}]}", "taken by rules[0]"),
        ("{quotas: {team-a: {vms: -1}}}", "provisioning.quotas.team-a: vms: -1 is out of range"),
        ("{quotas: {team-a: {memory: 3GB}}}", "'3GB' is not an amount of memory"),
        ("{quotas: {team-a: {cpus: 3}}}", "unknown key 'cpus' (did you mean 'vcpus'?"),
        ("{quotas: {team-a: {}}}", "a quota limits at least one"),
        ("{rulez: []}", "provisioning: rulez: unknown key 'rulez'"),
    ],
)
@pytest.mark.both_stores
def test_a_bad_section_is_one_line_and_records_nothing(
    tmp_path: Path, section: str, error: str, db_location: str
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    db = Path(db_location)
    run = CliRunner().invoke
    assert run(cli_app, ["policy", "apply", str(good), "--db", str(db)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.split("provisioning:", maxsplit=1)[0] + f"provisioning: {section}\n")
    with pytest.raises(PolicyError) as e:
        parse_policy(bad.read_text(), str(bad))
    assert error in str(e.value) and "\n" not in str(e.value)
    done = run(cli_app, ["policy", "apply", str(bad), "--db", str(db)])
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:")
    store = open_store(db, readonly=True)
    try:
        assert policy_at(store, datetime.now(UTC)) == parse_policy(GOOD)
    finally:
        store.close()


@pytest.mark.both_stores
def test_a_policy_of_provisioning_alone_is_a_policy_in_force(
    tmp_path: Path, db_location: str
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("provisioning: {rules: [{name: c, certified: true}]}\n")
    db = Path(db_location)
    done = CliRunner().invoke(cli_app, ["policy", "apply", str(f), "--db", str(db)])
    assert done.exit_code == 0 and "provisioning" in done.output
    assert "1 provisioning rules and quotas" in " ".join(done.output.split())
    done = CliRunner().invoke(cli_app, ["check", "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
