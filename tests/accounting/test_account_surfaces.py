"""`vtrail account` and `GET /api/account` over the story (story.py): the same answer on
both sides, CSV, and bad input refused in one line with nothing changed. And the
`accounting:` section of a policy file: read, refused, written back and recorded."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accounting.story import HV_A, WEB, h, record
from factory import at
from stores import STORES, contents, recorded
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.policy.accounting import Accounting
from vtrail.policy.document import to_yaml
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.record import from_attrs, to_observation
from vtrail.timeexpr import iso

T0, T10 = iso(at(0)), iso(at(h(10)))


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "surfaces", record)


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=db))) as c:
        yield c


def run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "200"})


def test_the_cli_and_the_api_give_one_answer(db: Path, client: TestClient) -> None:
    for by in ("vm", "owner", "service", "host"):
        done = run(db, "account", "--from", T0, "--to", T10, "--by", by, "-o", "json")
        assert done.exit_code == 0, done.output
        got = client.get("/api/account", params={"from": T0, "to": T10, "by": by})
        assert got.status_code == 200, got.text
        assert json.loads(done.stdout) == got.json()
    answer = got.json()
    assert answer["by"] == "host" and answer["from"] == T0 and answer["to"] == T10
    assert [r["key"] for r in answer["rows"]] == [HV_A, "host:hv-b"]
    assert answer["rows"][0]["vcpu_hours"] == 40.0 and answer["rows"][0]["cost"] == 57.0


def test_csv_on_both_sides(db: Path, client: TestClient) -> None:
    done = run(db, "account", "--from", T0, "--to", T10, "-o", "csv")
    assert done.exit_code == 0, done.output
    got = client.get("/api/account", params={"from": T0, "to": T10, "output": "csv"})
    assert got.headers["content-type"].startswith("text/csv")
    assert got.text == done.stdout
    lines = list(csv.DictReader(io.StringIO(done.stdout)))
    web = next(x for x in lines if x["key"] == WEB)
    assert (web["name"], web["vcpu_hours"], web["cpu_seconds"], web["cost"]) == (
        "web-1", "20.0", "17100.0", "25.0",
    )  # fmt: skip
    assert web["idle_cost"] == ""


def test_the_table_names_each_vm_and_splits_a_migration(db: Path) -> None:
    done = run(db, "account", "--from", T0, "--to", T10)
    assert done.exit_code == 0, done.output
    assert "web-1" in done.stdout and WEB in done.stdout
    assert "on hv-a: 8.00 vCPU·h, 16.00 GiB·h, 7,200.00 CPU s, cost 10.00" in done.stdout
    assert "on hv-b: 12.00 vCPU·h, 24.00 GiB·h, 9,900.00 CPU s, cost 15.00" in done.stdout
    assert "Idle capacity of the hosts" in done.stdout


@pytest.mark.parametrize(
    ("args", "params", "said", "said_api"),
    [
        (["--from", T10, "--to", T0], {"from": T10, "to": T0}, "the window ends (", None),
        (["--from", T0, "--to", T0], {"from": T0, "to": T0}, "window ends when it starts", None),
        (
            ["--from", T0, "--by", "team"], {"from": T0, "by": "team"},
            "unknown grouping 'team': --by is one of vm, owner, service, host",
            "by: Input should be 'vm', 'owner', 'service' or 'host'",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(
    db: Path,
    client: TestClient,
    args: list[str],
    params: dict[str, str],
    said: str,
    said_api: str | None,
) -> None:
    before = contents(db)
    done = run(db, "account", *args)
    assert done.exit_code == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and said in done.stderr
    got = client.get("/api/account", params=params)
    assert got.status_code == 422 and (said_api or said) in got.json()["detail"]
    assert contents(db) == before


CARD = """
services: {}
accounting:
  states: [running, paused]
  rates: {vcpu-hour: 0.04, gib-hour: 0.01, disk-gb: 0.1, network-gb: 0.05}
  bill: max
  share-idle: true
"""


def test_a_card_is_read_written_back_and_recorded() -> None:
    p = parse_policy(CARD, "p.yaml")
    assert p.accounting == Accounting(("running", "paused"), 0.04, 0.01, 0.1, 0.05, "max", True)
    assert parse_policy(to_yaml(p), "again.yaml") == p
    obs = to_observation(p, at(0))
    assert from_attrs((e.id, e.attrs) for e in obs.entities) == p
    bare = parse_policy("services: {}\naccounting: {}\n", "p.yaml")
    assert bare.accounting == Accounting() and not bare.accounting.priced


@pytest.mark.parametrize(
    ("card", "said"),
    [
        ("states: [running, sleeping]", "accounting: states[1]: unknown state 'sleeping'"),
        ("states: []", "accounting: states: no state listed"),
        ("rates: {vcpu-hour: -1}", "accounting: rates.vcpu-hour: -1 is out of range"),
        ("rates: {cpu-hour: 1}", "accounting: rates.cpu-hour: unknown key 'cpu-hour'"),
        ("rates: {gib-hour: cheap}", "expected a price (a number), got the text 'cheap'"),
        ("bill: most", "accounting: bill: unknown bill 'most'"),
        ("share-idle: yes please", "accounting: share-idle: expected true or false"),
        ("currency: EUR", "accounting: currency: unknown key 'currency'"),
    ],
)
def test_a_bad_card_is_refused_in_one_line(card: str, said: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(f"services: {{}}\naccounting:\n  {card}\n", "p.yaml")
    assert said in str(e.value) and "\n" not in str(e.value)


def test_applying_a_bad_card_changes_nothing(db: Path, tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("services: {}\naccounting:\n  rates: {vcpu-hour: -1}\n")
    shown = run(db, "policy", "show", "--at", T10, "-o", "json")
    before = contents(db)
    done = run(db, "policy", "apply", str(file))
    assert done.exit_code != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert "rates.vcpu-hour: -1 is out of range" in done.stderr
    assert run(db, "policy", "show", "--at", T10, "-o", "json").stdout == shown.stdout
    assert '"rates"' in shown.stdout
    assert contents(db) == before
