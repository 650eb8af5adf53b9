"""`vtrail health` and `vtrail triage` (and /api/health, /api/triage) on the probe story:
probe results ingested as any monitor's, degraded intervals to the sample instant, the
replug that cut web-1 off named first, one-line refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.story import DB, STORY_POLICY, WEB, at, record_story
from triage.probe_story import CULPRIT, FIRST_BAD, GOOD_AGAIN, SOURCE, record_probe_story
from vtrail.api import Settings, create_app
from vtrail.cli.main import app
from vtrail.policy.load import load_policy
from vtrail.recording.ingest import ingest_lines
from vtrail.store import SqliteStore
from vtrail.timeexpr import from_us, iso
from vtrail.triage.incident import triage
from vtrail.triage.rounds import Degraded, Round, intervals, judge

WINDOW = ["--from", iso(at(0)), "--to", iso(at(40))]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_probe_story(tmp_path_factory.mktemp("triage") / "vtrail.db")


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=db, workers=1))) as c:
        yield c


def cli(db: Path, *argv: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, [*argv, "--db", str(db)], env={"COLUMNS": "200"})
    return done.exit_code, done.stdout, done.stderr


def cli_json(db: Path, *argv: str) -> dict:
    code, out, err = cli(db, *argv, "-o", "json")
    assert code == 0, err
    return json.loads(out)


# -- health -------------------------------------------------------------------------------


def test_health_gives_the_degraded_interval_to_the_sample_instant(db: Path) -> None:
    answer = cli_json(db, "health", "db", *WINDOW)
    assert (answer["group"], answer["kind"]) == ("db", "service")
    [member] = answer["members"]
    assert member["entity"] == DB
    [series] = member["series"]
    assert (series["source"], series["probe"], series["vantage"]) == (SOURCE, "web-to-db", "web-1")
    [gap] = series["intervals"]
    assert (gap["from"], gap["to"]) == (iso(at(FIRST_BAD)), iso(at(GOOD_AGAIN)))
    assert gap["reason"] == "loss 1 > 0.2" and gap["rounds"] == 20
    assert series["loss_max"] == 1.0 and series["degraded"] is False


def test_health_at_an_instant_says_what_is_open_then_and_since_when(db: Path) -> None:
    answer = cli_json(db, "health", "db", "--at", iso(at(25)))
    [member] = answer["members"]
    assert member["degraded"] is True
    [series] = member["series"]
    assert series["loss"] == 1.0 and series["last_round"] == iso(at(24.5 + 5 / 60))
    assert [(i["from"], i["to"]) for i in series["intervals"]] == [(iso(at(FIRST_BAD)), None)]
    before = cli_json(db, "health", "db", "--at", iso(at(20)))
    assert before["members"][0]["degraded"] is False
    assert before["members"][0]["series"][0]["intervals"] == []


def test_a_domain_is_a_group_too(db: Path) -> None:
    answer = cli_json(db, "health", "rack-a", "--at", iso(at(25)))
    assert answer["kind"] == "domain"
    members = {m["entity"]: m for m in answer["members"]}
    assert "host:hv-a" in members and members[DB]["degraded"] is True


def test_rtt_above_three_times_its_own_median_is_degraded_to_the_round() -> None:
    t0 = 1_000_000_000_000
    rtts = [1.0, 1.1, 0.9, 1.0, 4.0, 3.5, 1.0, 1.2]
    # Rounds a few µs off their 10 s: an interval begins and ends at the instants read.
    found = [Round(t0 + i * 10_000_000 + i * 7, rtt=v) for i, v in enumerate(rtts)]
    why = judge(found, Degraded())
    assert why[:4] == [None] * 4 and why[6:] == [None, None]
    assert why[4] == "rtt 4.0 ms > 3 x 1.0 ms"
    [gap] = intervals(found, why, t0)
    assert gap.rounds == 2 and not gap.in_force_at_start
    assert (gap.t_from, gap.t_to) == (from_us(found[4].t), from_us(found[6].t))


def test_too_few_readings_make_no_baseline() -> None:
    found = [Round(i * 10_000_000, rtt=v) for i, v in enumerate([1.0, 1.0, 50.0])]
    assert judge(found, Degraded()) == [None, None, None]


def test_an_unknown_group_or_a_bad_time_is_refused_in_one_line(
    db: Path, client: TestClient
) -> None:
    code, _, err = cli(db, "health", "dbx", "--at", iso(at(25)))
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: 'dbx' is neither a service nor a domain of the policy in force")
    got = client.get("/api/health", params={"what": "dbx", "at": iso(at(25))})
    assert got.status_code == 404 and got.json()["detail"] == err.removeprefix("error: ").strip()
    code, _, err = cli(db, "health", "db", "--at", "2026-13-45T00:00Z")
    assert code == 2 and err.count("\n") == 1
    got = client.get("/api/health", params={"what": "db", "at": "2026-13-45T00:00Z"})
    assert got.status_code == 422
    got = client.get("/api/health", params={"what": "db", "from": iso(at(30)), "to": iso(at(2))})
    assert got.status_code == 422


def test_health_over_http_is_the_cli_answer(db: Path, client: TestClient) -> None:
    answer = cli_json(db, "health", "db", *WINDOW)
    got = client.get("/api/health", params={"what": "db", "from": iso(at(0)), "to": iso(at(40))})
    assert got.status_code == 200 and got.json() == answer


# -- triage -------------------------------------------------------------------------------


def test_triage_names_the_replug_first(db: Path) -> None:
    answer = cli_json(db, "triage", "db", "--at", iso(at(25)))
    assert answer["onset"] == iso(at(FIRST_BAD))
    assert answer["last_healthy"] == iso(at(FIRST_BAD - 0.5))
    assert answer["onset_reason"] == "loss began"
    assert [a["entity"] for a in answer["affected"]] == [DB]
    [p] = answer["paths"]
    assert (p["a"], p["b"]) == (WEB, DB)
    assert p["first_difference"] == 4
    assert (p["differs_before"], p["differs_at_onset"]) == (
        "bridge:hv-b/br-web",
        "bridge:hv-b/br-iso",
    )
    assert p["broken_at"] == "bridge:hv-b/br-iso"
    first = answer["suspects"][0]
    assert (first["entity"], first["kind"], first["at"], first["hops"]) == (
        CULPRIT, "moved", iso(at(20)), 0,
    )  # fmt: skip
    assert first["reason"] == (
        "port vnet1 moved from bridge br-web to bridge br-iso, 5 s before loss began; "
        "hop 3 of web-1 → db-1"
    )
    assert set(first["parts"]) == {"time", "distance", "kind"}
    # web-1's migration is on the path too, but ten minutes before: far below.
    scores = {s["entity"]: s["score"] for s in answer["suspects"]}
    assert scores[WEB] < first["score"] - 0.3
    assert answer["changes"] >= len(answer["suspects"])
    assert [s["score"] for s in answer["suspects"]] == sorted(
        (s["score"] for s in answer["suspects"]), reverse=True
    )


def test_triage_between_two_endpoints_reads_their_probes(db: Path) -> None:
    answer = cli_json(db, "triage", "web-1", "db-1", "--at", iso(at(25)), "--window", "30m")
    assert answer["onset"] == iso(at(FIRST_BAD)) and answer["targets"] == ["web-1", "db-1"]
    assert answer["from"] == iso(at(FIRST_BAD) - timedelta(minutes=30))
    assert answer["suspects"][0]["entity"] == CULPRIT
    # The probe's vantage (web-1) and the pair asked trace one path: said once.
    assert len(answer["paths"]) == 1


def test_without_probes_the_onset_is_the_instant_asked(tmp_path: Path) -> None:
    path = record_story(tmp_path / "vtrail.db")
    answer = cli_json(path, "triage", "web-1", "db-1", "--at", iso(at(20.5)), "--window", "5m")
    assert answer["affected"] == [] and answer["onset"] == iso(at(20.5))
    assert answer["onset_reason"] == "the instant asked"
    assert answer["last_healthy"] == iso(at(15.5))
    assert answer["suspects"][0]["entity"] == CULPRIT


def test_probes_pushed_later_by_another_monitor_count_the_same(tmp_path: Path) -> None:
    path = record_story(tmp_path / "vtrail.db")
    store = SqliteStore(path)
    line = {
        "source": "smokeping",
        "observed_at": iso(at(20.2)),
        "kind": "event",
        "samples": [{"entity": DB, "metric": "probe.loss", "value": 0.6, "type": "gauge"}],
    }
    ok = {**line, "observed_at": iso(at(19.8)),
          "samples": [{"entity": DB, "metric": "probe.loss", "value": 0.0, "type": "gauge"}]}  # fmt: skip
    ingest_lines(store, [json.dumps(ok), json.dumps(line)])
    store.close()
    answer = cli_json(path, "triage", "web-1", "db-1", "--at", iso(at(25)))
    assert answer["onset"] == iso(at(20.2))
    assert answer["affected"][0]["source"] == "smokeping"
    assert answer["affected"][0]["vantage"] is None


def test_the_policy_sets_the_weights(tmp_path: Path, db: Path) -> None:
    text = STORY_POLICY.read_text()
    f = tmp_path / "policy.yaml"
    f.write_text(text + "triage: {weights: {time: 1, distance: 0, kind: 0}}\n")
    policy = load_policy(f)
    store = SqliteStore(db, readonly=True)
    try:
        answer = triage(store, ["db"], at(25), policy=policy)
    finally:
        store.close()
    assert all(s.score == pytest.approx(s.parts.time, abs=1e-4) for s in answer.suspects)
    assert answer.weights.time == 1.0


def test_triage_over_http_is_the_cli_answer_and_md_a_ticket(db: Path, client: TestClient) -> None:
    answer = cli_json(db, "triage", "db", "--at", iso(at(25)), "--limit", "5")
    got = client.get("/api/triage", params={"what": "db", "at": iso(at(25)), "limit": 5})
    assert got.status_code == 200 and got.json() == answer
    assert len(answer["suspects"]) == 5
    code, md, err = cli(db, "triage", "db", "--at", iso(at(25)), "-o", "md")
    assert code == 0, err
    assert md.startswith("## Triage: db at ")
    assert "| 4 ⚠ | bridge br-web | bridge br-iso |" in md
    assert "| 1 | 0.978 |" in md and "port vnet1 moved from bridge br-web to bridge br-iso" in md
    web = client.get("/api/triage", params={"what": "db", "at": iso(at(25)), "output": "md"})
    assert web.status_code == 200 and web.headers["content-type"].startswith("text/markdown")
    assert web.text == md


@pytest.mark.parametrize(
    ("argv", "params", "status", "says"),
    [
        (["dbx"], {"what": "dbx"}, 404, "'dbx' is neither a service nor a domain"),
        (["web-1", "nothing-9"], {"what": ["web-1", "nothing-9"]}, 404, "nothing recorded matches"),
        (["a", "b", "c"], {"what": ["a", "b", "c"]}, 422, "at most 2"),
    ],
)
def test_bad_questions_are_refused_in_one_line(
    db: Path, client: TestClient, argv: list[str], params: dict, status: int, says: str
) -> None:
    code, _, err = cli(db, "triage", *argv, "--at", iso(at(25)))
    assert code == 1 and err.count("\n") == 1, err
    got = client.get("/api/triage", params={**params, "at": iso(at(25))})
    assert got.status_code == status and says in got.json()["detail"]
    if status == 404:
        assert got.json()["detail"] == err.removeprefix("error: ").strip()
    else:
        assert err.startswith("error: triage is about a service or a domain (triage web), or two")


def test_an_impossible_time_or_window_is_refused(db: Path, client: TestClient) -> None:
    code, _, err = cli(db, "triage", "db", "--at", "yesterday 25:00")
    assert code == 2 and err.count("\n") == 1
    code, _, err = cli(db, "triage", "db", "--at", iso(at(25)), "--window", "forever")
    assert code == 2 and err.startswith("error: --window: cannot read duration 'forever'")
    got = client.get("/api/triage", params={"what": "db", "window": "forever"})
    assert got.status_code == 422 and got.json()["detail"].startswith("window: ")
    got = client.get("/api/triage", params={"what": "db", "at": "2026-11-20T99:00Z"})
    assert got.status_code == 422


def test_a_probes_degraded_settings_judge_its_own_series_only() -> None:
    from vtrail.policy.model import Degraded as Settings
    from vtrail.policy.model import Policy, Probe, ProbeTo
    from vtrail.triage.health import DEFAULT_DEGRADED, degraded_for

    strict = Probe(
        "web-to-db",
        ProbeTo("service", ("db",)),
        degraded=Settings(loss=0.5, rtt=2.0, baseline=timedelta(minutes=5)),
    )
    policy = Policy(probes={"web-to-db": strict})
    mine = degraded_for(policy, "probe:web-to-db@netns:h-web")
    assert (mine.loss, mine.rtt_factor, mine.baseline) == (0.5, 2.0, timedelta(minutes=5))
    # Another probe's results, or an outside monitor's, keep the defaults.
    assert degraded_for(policy, "probe:other@netns:h-web") == DEFAULT_DEGRADED
    assert degraded_for(policy, "blackbox@mon-1") == DEFAULT_DEGRADED
    rounds = [Round(int(m * 60e6), loss=0.4) for m in range(3)]
    assert judge(rounds, DEFAULT_DEGRADED) == ["loss 0.4 > 0.2"] * 3
    assert judge(rounds, mine) == [None] * 3
