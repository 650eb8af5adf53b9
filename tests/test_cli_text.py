"""What the user typed and what the store holds prints as it is: never read as Rich markup
or emoji codes, in error lines and in tables alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app

WIDE = {"COLUMNS": "250"}
T0, T1 = "2026-11-20T03:00:00Z", "2026-11-20T03:10:00Z"
VM = "vm:[bold]x[/]:x:"
HOST = "host:[i]h:smile:"
SOURCE = "[b]src[/b]"
NAME = "[red]evil[/]"
NOTE = "^[a-z][a-z0-9_.]*$"


def run(*argv: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(argv), env=WIDE)
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.parametrize("typed", ["vm:x:", "vm:[bold]x[/]", "web-[red]1", "vm:x\\"])
def test_an_unknown_id_is_quoted_as_typed(tmp_path: Path, typed: str) -> None:
    db = tmp_path / "v.db"
    assert run("ingest", "-", "--db", str(db))[0] == 0
    code, out, err = run("show", typed, "--db", str(db))
    assert code == 1 and out == ""
    assert err == f"error: nothing recorded matches {typed!r} (an id, VM name, MAC or IP)\n"


def test_a_metric_pattern_in_an_error_keeps_its_brackets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    line = {
        "source": "s",
        "observed_at": T0,
        "kind": "snapshot",
        "entities": [{"id": "vm:1", "attrs": {}}],
        "samples": [{"entity": "vm:1", "metric": "Bad-Metric", "value": 1}],
    }
    bad.write_text(json.dumps(line) + "\n")
    code, _, err = run("ingest", str(bad), "--db", str(tmp_path / "v.db"))
    assert code == 1
    assert err.startswith("error: line 1: samples.0.metric: ")
    assert f"'{NOTE}'\n" in err


def test_a_store_path_with_brackets_prints_as_typed(tmp_path: Path) -> None:
    db = tmp_path / "[red]odd" / "v.db"
    code, _, err = run("stats", "--db", str(db))
    assert code == 1 and err == f"error: no store at {db} (record something first, or pass --db)\n"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A store whose ids, names, attribute values and source look like markup."""
    db = tmp_path / "[i]store" / "v.db"
    db.parent.mkdir()
    obs = [
        {
            "source": SOURCE,
            "observed_at": t,
            "kind": "snapshot",
            "entities": [
                {"id": VM, "attrs": {"name": name, "note": NOTE}},
                {"id": HOST, "attrs": {"name": ":x:"}},
            ],
            "relations": [{"src": VM, "rel": "runs_on", "dst": HOST}],
        }
        for t, name in ((T0, NAME), (T1, NAME + "2"))
    ]
    lines = tmp_path / "obs.jsonl"
    lines.write_text("".join(json.dumps(o) + "\n" for o in obs))
    code, _, err = run("ingest", str(lines), "--db", str(db))
    assert code == 0, err
    return db


QUESTIONS = {
    "show": (["show", VM, "--at", T1], [VM, SOURCE, NAME + "2", NOTE, HOST]),
    "where": (["where", VM, "--at", T0], [VM, NAME, HOST]),
    "history": (["history", VM], [VM, SOURCE, f"name={NAME}", f"note={NOTE}", HOST]),
    "diff": (["diff", "--from", "2026-11-20T03:05Z", "--to", T1], [VM, NAME, NAME + "2"]),
    "snapshot": (["snapshot", "--at", T0], [VM, HOST, f"name={NAME}", "name=:x:", SOURCE]),
    "lifetime": (["lifetime", VM], [VM]),
    "stats": (["stats"], [SOURCE, "[i]store"]),
    "topology": (["topology", "--at", T0], [HOST]),
}


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_store_text_in_tables_prints_as_it_is(hostile: Path, question: str) -> None:
    argv, expected = QUESTIONS[question]
    code, out, err = run(*argv, "--db", str(hostile))
    assert code == 0, err
    for text in expected:
        assert text in out, f"{text!r} missing from:\n{out}"
    assert "❌" not in out and "😄" not in out


def test_a_token_name_prints_as_it_is(tmp_path: Path) -> None:
    db = str(tmp_path / "v.db")
    assert run("token", "create", "--role", "reader", "--name", "[red]ci[/]", "--db", db)[0] == 0
    code, out, _ = run("token", "list", "--db", db)
    assert code == 0 and "[red]ci[/]" in out
