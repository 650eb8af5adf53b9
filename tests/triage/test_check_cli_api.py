"""`vtrail check` and `/api/check` on the story: the same JSON, tables that fit, one-line
refusals of a bad policy file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.cells import cell_len
from typer.testing import CliRunner

from api.story import DB, STORY_POLICY, WEB, apply_story_policy, at, record_story
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.timeexpr import iso

WINDOW = ["--from", iso(at(2)), "--to", iso(at(25))]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_story(tmp_path_factory.mktemp("check") / "vtrail.db")


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=db, workers=1))) as c:
        yield c


def cli(db: Path, *argv: str, width: int = 200) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["check", *argv, "--db", str(db)], env={"COLUMNS": str(width)})
    return done.exit_code, done.stdout, done.stderr


def test_the_story_breaks_the_rules_when_it_should(db: Path) -> None:
    code, out, err = cli(db, *WINDOW, "--policy", str(STORY_POLICY), "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["from"], answer["to"], answer["at"]) == (iso(at(2)), iso(at(25)), iso(at(25)))
    rules = {r["name"]: r for r in answer["rules"]}
    assert list(rules) == ["web-with-db", "web-near-db", "app-off-hv-a", "one-rack"]
    assert rules["app-off-hv-a"]["holds"] and rules["app-off-hv-a"]["violations"] == []
    affinity = rules["web-with-db"]
    assert affinity["holds"] is False and affinity["members"] == [WEB]
    assert affinity["reason"] == "web-1 on hv-b, apart from db-1 on hv-a"
    assert [(v["from"], v["to"], v["members"]) for v in affinity["violations"]] == [
        (iso(at(10)), None, [WEB])
    ]
    [cut] = rules["web-near-db"]["violations"]
    assert (cut["from"], cut["to"], cut["members"]) == (iso(at(20)), None, [WEB, DB])
    assert rules["one-rack"]["reason"] == "web-1 is outside rack-a, where db-1 is"


def test_the_cli_and_the_api_answer_the_same(db: Path, client: TestClient) -> None:
    for argv, params in (
        (WINDOW, {"from": iso(at(2)), "to": iso(at(25))}),
        (["--at", iso(at(12))], {"at": iso(at(12))}),
    ):
        code, out, err = cli(db, *argv, "--policy", str(STORY_POLICY), "-o", "json")
        assert code == 0, err
        got = client.post("/api/check", params=params, content=STORY_POLICY.read_bytes())
        assert got.status_code == 200, got.text
        assert got.json() == {**json.loads(out), "policy": "request body"}


def test_a_check_at_an_instant_lists_what_is_broken_then(db: Path) -> None:
    code, out, _ = cli(db, "--at", iso(at(12)), "--policy", str(STORY_POLICY), "-o", "json")
    assert code == 0
    answer = json.loads(out)
    assert answer["at"] == iso(at(12)) and answer["from"] is None and answer["to"] is None
    broken = {r["name"]: r["violations"] for r in answer["rules"] if not r["holds"]}
    assert set(broken) == {"web-with-db", "one-rack"}
    assert [(v["from"], v["to"]) for v in broken["web-with-db"]] == [(iso(at(12)), None)]


@pytest.mark.parametrize("width", [80, 200])
def test_the_tables_fit_the_terminal_with_every_id_whole(db: Path, width: int) -> None:
    code, out, err = cli(db, *WINDOW, "--policy", str(STORY_POLICY), width=width)
    assert code == 0, err
    assert "Rules at 2026-11-20T03:25:00Z: 1 hold, 3 violated" in out
    assert "Violations from 2026-11-20T03:02:00Z to 2026-11-20T03:25:00Z" in out
    for line in out.splitlines():
        assert cell_len(line) <= width, f"wider than {width}:\n{line}"
    for eid in (WEB, DB):
        assert any(line.strip() == eid for line in out.splitlines()), out
    assert "web-1 on hv-b, apart from db-1 on hv-a" in out


BAD = {
    "rules:\n  - {name: r, anti-affinity: nope}\n": "rules[0] (r): anti-affinity[0]: unknown service 'nope'",
    "services:\n  web: {members: {kind: vm}, colour: red}\n": "services.web: colour: unknown key 'colour'",
    "rules: [\n": "not YAML",
}


@pytest.mark.parametrize("text", sorted(BAD))
def test_a_bad_policy_is_refused_in_one_line(
    db: Path, client: TestClient, tmp_path: Path, text: str
) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(text)
    code, out, err = cli(db, "--at", iso(at(12)), "--policy", str(draft))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {draft}:") and BAD[text] in err and err.count("\n") == 1
    got = client.post("/api/check", params={"at": iso(at(12))}, content=text.encode())
    assert got.status_code == 422
    detail = got.json()["detail"]
    assert detail.startswith("request body") and BAD[text] in detail and "\n" not in detail


def test_without_a_policy_in_force_the_answer_says_how_to_give_one(
    db: Path, client: TestClient
) -> None:
    code, out, err = cli(db, "--at", iso(at(12)))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: no policy was in force at {iso(at(12))}: ")
    assert "vtrail policy apply FILE" in err and err.count("\n") == 1
    got = client.get("/api/check", params={"at": iso(at(12))})
    assert got.status_code == 404
    assert got.json()["detail"] == err.removeprefix("error: ").strip()


def test_the_recorded_policy_is_the_one_checked(tmp_path: Path) -> None:
    store_path = record_story(tmp_path / "vtrail.db")
    apply_story_policy(store_path)

    code, out, err = cli(store_path, *WINDOW, "-o", "json")
    assert code == 0, err
    recorded = json.loads(out)
    _, out, _ = cli(store_path, *WINDOW, "--policy", str(STORY_POLICY), "-o", "json")
    from_file = json.loads(out)
    assert recorded["policy"] == "recorded" and from_file["policy"] == str(STORY_POLICY)
    # The recorded policy lists its rules by name; the file, in its own order.
    by_name = {r["name"]: r for r in recorded["rules"]}
    assert by_name == {r["name"]: r for r in from_file["rules"]}
    assert {**recorded, "policy": None, "rules": None} == {
        **from_file,
        "policy": None,
        "rules": None,
    }
    assert any(not r["holds"] for r in recorded["rules"])
    # Before the policy was applied, nothing was in force to check.
    assert cli(store_path, "--at", iso(at(0)))[0] == 2

    with TestClient(create_app(Settings(db=store_path, workers=1))) as c:
        got = c.get("/api/check", params={"from": iso(at(2)), "to": iso(at(25))})
    assert got.status_code == 200 and got.json() == recorded


def test_a_window_and_an_instant_together_are_refused(db: Path, client: TestClient) -> None:
    code, _, err = cli(db, "--at", iso(at(12)), *WINDOW, "--policy", str(STORY_POLICY))
    assert code == 1 and err.startswith("error: a check is at an instant") and "not both" in err
    got = client.post(
        "/api/check",
        params={"at": iso(at(12)), "from": iso(at(2)), "to": iso(at(25))},
        content=STORY_POLICY.read_bytes(),
    )
    assert got.status_code == 422 and "not both" in got.json()["detail"]
