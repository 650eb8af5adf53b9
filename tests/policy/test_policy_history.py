"""The policy's own history, through the real CLI on a real store: apply, show at T,
apply a changed file, diff; a rule taken out ends; a bad file records nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policy.files import CHANGED, ISSUE
from vtrail.cli.main import app
from vtrail.policy.load import parse_policy
from vtrail.store import open_store
from vtrail.timeexpr import iso, parse_time
from vtrail.triage.policy_at import policy_at


def run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--db", str(db)])


def apply(db: Path, tmp_path: Path, text: str, name: str = "policy.yaml") -> dict[str, Any]:
    file = tmp_path / name
    file.write_text(text)
    done = run(db, "policy", "apply", str(file), "-o", "json")
    assert done.exit_code == 0, done.output
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def shown(db: Path, at: str) -> dict[str, Any]:
    done = run(db, "policy", "show", "--at", at, "-o", "json")
    assert done.exit_code == 0, done.output
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def journal_size(db: Path) -> int:
    store = open_store(db, readonly=True)
    try:
        return int(store.conn.execute("SELECT count(*) FROM jnl.journal").fetchone()[0])
    finally:
        store.close()


pytestmark = pytest.mark.both_stores


@pytest.fixture
def db(db_location: str) -> Path:
    return Path(db_location)


def test_apply_show_apply_again_diff(db: Path, tmp_path: Path) -> None:
    first = apply(db, tmp_path, ISSUE)
    assert (first["services"], first["domains"], first["rules"]) == (3, 2, 5)
    assert {(c["part"], c["name"], c["change"]) for c in first["changes"]} == {
        *(("service", n, "added") for n in ("web", "db", "cache")),
        *(("domain", n, "added") for n in ("rack-1", "rack-2")),
        *(
            ("rule", n, "added")
            for n in ("web-together", "db-apart", "web-near-db", "db-off-hv-c", "cache-with-web")
        ),
    }
    t1 = first["at"]
    second = apply(db, tmp_path, CHANGED)
    t2 = second["at"]
    assert parse_time(t2) > parse_time(t1)
    changes = {(c["part"], c["name"]): c for c in second["changes"]}
    assert {k: c["change"] for k, c in changes.items()} == {
        ("domain", "rack-2"): "changed",
        ("rule", "db-apart"): "removed",
        ("rule", "db-on-rack-1"): "added",
        ("rule", "web-near-db"): "changed",
    }
    hops = changes[("rule", "web-near-db")]
    assert (hops["before"]["max-hops"]["hops"], hops["after"]["max-hops"]["hops"]) == (2, 3)
    assert changes[("rule", "db-apart")]["after"] is None

    # Each instant shows the policy then in force; before any apply, none.
    at_first = shown(db, t1)
    assert at_first["at"] == t1
    assert parse_policy(json.dumps(at_first["policy"])) == parse_policy(ISSUE)
    between = iso(parse_time(t2) - timedelta(microseconds=1))
    assert shown(db, between)["policy"] == at_first["policy"]
    assert parse_policy(json.dumps(shown(db, t2)["policy"])) == parse_policy(CHANGED)
    before = iso(parse_time(t1) - timedelta(microseconds=1))
    assert shown(db, before)["policy"] == {"services": {}, "domains": {}, "rules": []}

    # The diff between the two instants is what the second apply said it changed.
    done = run(db, "policy", "diff", "--from", t1, "--to", t2, "-o", "json")
    assert done.exit_code == 0, done.output
    diff = json.loads(done.stdout)
    assert (diff["from"], diff["to"]) == (t1, t2)
    assert diff["changes"] == second["changes"]
    table = run(db, "policy", "diff", "--from", t1, "--to", t2)
    assert table.exit_code == 0
    assert "db-apart" in table.stdout and "removed" in table.stdout
    assert "max-hops.hops: 2 → 3" in table.stdout


def test_a_rule_taken_out_of_the_file_ends_at_the_next_apply(db: Path, tmp_path: Path) -> None:
    t1 = apply(db, tmp_path, ISSUE)["at"]
    t2 = apply(db, tmp_path, CHANGED)["at"]
    done = run(db, "history", "rule:db-apart", "-o", "json")
    assert done.exit_code == 0, done.output
    versions = json.loads(done.stdout)["versions"]
    assert [(v["from"], v["to"], v["source"]) for v in versions] == [(t1, t2, "policy")]
    assert versions[0]["attrs"] == {"name": "db-apart", "kind": "anti-affinity", "services": ["db"]}
    gone = json.loads(run(db, "show", "rule:db-apart", "--at", t2, "-o", "json").stdout)
    assert gone["version"] is None
    # Its services and rules are entities like any other, at any instant.
    web = json.loads(run(db, "show", "service:web", "--at", t2, "-o", "json").stdout)
    assert web["version"]["attrs"]["owner"] == "team-web"


def test_the_yaml_shown_applies_again_unchanged(db: Path, tmp_path: Path) -> None:
    apply(db, tmp_path, CHANGED)
    done = run(db, "policy", "show")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("# the policy in force at ")
    assert yaml.safe_load(done.stdout)["rules"][0] == {"name": "cache-with-web",
                                                        "affinity": ["cache", "web"]}  # fmt: skip
    again = apply(db, tmp_path, done.stdout, "shown.yaml")
    assert again["changes"] == []
    table = run(db, "policy", "apply", str(tmp_path / "shown.yaml"))
    assert "nothing changed" in table.stdout


def test_show_says_when_no_policy_was_in_force(db: Path, tmp_path: Path) -> None:
    apply(db, tmp_path, ISSUE)
    done = run(db, "policy", "show", "--at", "2026-01-01")
    assert done.exit_code == 0
    assert "no policy was in force at 2026-01-01T00:00:00Z" in done.output


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("to: db,", "to: dbx,", "max-hops.to: unknown service 'dbx'"),
        ('"web-*"', '"web-[0-9"', "members.name: bad glob 'web-[0-9'"),
        ("rules:", "rulez:", "unknown key 'rulez'"),
        ("{hosts: [hv-a, hv-b]}", "{hosts: [hv-a, hv-b]", "not YAML"),
    ],
)
def test_a_bad_file_is_one_line_and_records_nothing(
    db: Path, tmp_path: Path, old: str, new: str, error: str
) -> None:
    apply(db, tmp_path, ISSUE)
    before = journal_size(db)
    bad = tmp_path / "bad.yaml"
    assert old in CHANGED
    bad.write_text(CHANGED.replace(old, new, 1))
    done = run(db, "policy", "apply", str(bad))
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:") and error in lines[0]
    assert journal_size(db) == before
    store = open_store(db, readonly=True)
    try:
        assert policy_at(store, parse_time("now")) == parse_policy(ISSUE)
    finally:
        store.close()


def test_a_missing_file_and_a_window_backwards_are_refused(db: Path, tmp_path: Path) -> None:
    done = run(db, "policy", "apply", str(tmp_path / "nope.yaml"))
    assert done.exit_code == 2 and "no such file" in done.output
    assert not db.exists()
    apply(db, tmp_path, ISSUE)
    done = run(db, "policy", "diff", "--from", "-1h", "--to", "-2h")
    assert done.exit_code == 1 and "before it starts" in done.output
