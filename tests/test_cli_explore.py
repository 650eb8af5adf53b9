"""`vtrail timeline`, `counters` and `search`: the page's questions in a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.story import GHOST, WEB, at, record_story
from stores import STORES, recorded
from vtrail.cli.main import app
from vtrail.timeexpr import iso

WIDE = {"COLUMNS": "120"}


@pytest.fixture(scope="module", params=STORES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(request, tmp_path_factory, "explore", record_story)


def run(db: Path, *argv: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, [*argv, "--db", str(db)], env=WIDE)
    return done.exit_code, done.stdout, done.stderr


def test_timeline_lists_the_slices_that_changed(db: Path) -> None:
    code, out, _ = run(db, "timeline", "--buckets", "40")
    assert code == 0
    assert f"recorded {iso(at(0))} → {iso(at(40))}" in out
    assert "40 slices of 60 s" in out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith(" 2")}
    # Minute 5 the ghost bridge and its port appear; minute 6 nothing changes.
    assert int(lines[iso(at(5))]) > 0 and iso(at(6)) not in lines
    assert f"{40 - len(lines)} slices without a change" in out


def test_counters_show_each_series(db: Path) -> None:
    code, out, _ = run(db, "counters", "br-tmp")
    assert code == 0
    assert f"counters of {GHOST}" in out
    (row,) = [line for line in out.splitlines() if "tx_bytes" in line]
    assert row.split() == ["tx_bytes", "2", iso(at(5)), "80,000,000"]


def test_search_finds_by_name_first(db: Path) -> None:
    code, out, _ = run(db, "search", "web-1", "--limit", "1")
    assert code == 0
    assert [line.split() for line in out.splitlines()[1:]] == [[WEB, "vm", "web-1"]]
    code, out, _ = run(db, "search", "nothing-like-it")
    assert code == 0 and out == "nothing recorded matches 'nothing-like-it'\n"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["search", "  "], "error: nothing to search for: the text is blank\n"),
        (["counters", "web-9"], "error: nothing recorded matches 'web-9' (an id, VM name, MAC or IP)\n"),
        (["timeline", "--from", "half past"], "error: cannot read time 'half past'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(db: Path, argv: list[str], error: str) -> None:
    code, out, err = run(db, *argv)
    assert code in (1, 2) and out == ""
    assert err.startswith(error) and err.count("\n") == 1
