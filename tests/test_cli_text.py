"""What the user typed and what the store holds prints as it is: never read as Rich markup
or emoji codes, in error lines and in tables alike; tables fit the terminal with every
id whole; long work shows a bar on a terminal only."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

import vtrail
from stores import STORES, location, module_location
from vtrail.cli import ingest as ingest_cli
from vtrail.cli.main import app
from vtrail.store import server_url

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
@pytest.mark.both_stores
def test_an_unknown_id_is_quoted_as_typed(typed: str, db_location: str) -> None:
    db = Path(db_location)
    assert run("ingest", "-", "--db", str(db))[0] == 0
    code, out, err = run("show", typed, "--db", str(db))
    assert code == 1 and out == ""
    assert err == f"error: nothing recorded matches {typed!r} (an id, VM name, MAC or IP)\n"


@pytest.mark.both_stores
def test_a_metric_pattern_in_an_error_keeps_its_brackets(tmp_path: Path, db_location: str) -> None:
    bad = tmp_path / "bad.jsonl"
    line = {
        "source": "s",
        "observed_at": T0,
        "kind": "snapshot",
        "entities": [{"id": "vm:1", "attrs": {}}],
        "samples": [{"entity": "vm:1", "metric": "Bad-Metric", "value": 1}],
    }
    bad.write_text(json.dumps(line) + "\n")
    code, _, err = run("ingest", str(bad), "--db", db_location)
    assert code == 1
    assert err.startswith("error: line 1: samples.0.metric: ")
    assert f"'{NOTE}'\n" in err


def test_a_store_path_with_brackets_prints_as_typed(tmp_path: Path) -> None:
    db = tmp_path / "[red]odd" / "v.db"
    code, _, err = run("stats", "--db", str(db))
    assert code == 1 and err == f"error: no store at {db} (record something first, or pass --db)\n"


@pytest.fixture
def hostile(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> Path:
    """A store whose ids, names, attribute values and source look like markup (and, on
    SQLite, its file's folder too)."""
    (tmp_path / "[i]store").mkdir()
    db = Path(location(request, store_kind, tmp_path / "[i]store" / "v.db"))
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


@pytest.mark.both_stores
@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_store_text_in_tables_prints_as_it_is(hostile: Path, question: str) -> None:
    argv, expected = QUESTIONS[question]
    if server_url(hostile) is not None:
        expected = [text for text in expected if text != "[i]store"]  # a file's folder
    code, out, err = run(*argv, "--db", str(hostile))
    assert code == 0, err
    for text in expected:
        assert text in out, f"{text!r} missing from:\n{out}"
    assert "❌" not in out and "😄" not in out


@pytest.mark.both_stores
def test_a_token_name_prints_as_it_is(db_location: str) -> None:
    db = db_location
    assert run("token", "create", "--role", "reader", "--name", "[red]ci[/]", "--db", db)[0] == 0
    code, out, _ = run("token", "list", "--db", db)
    assert code == 0 and "[red]ci[/]" in out


# -- fitting the terminal --------------------------------------------------------------

DAY = Path(vtrail.__file__).parent / "data" / "example-day.jsonl"
WEB1 = "vm:6695eb01-f6a4-8304-79aa-000000000001"
CACHE1 = "vm:6695eb01-f6a4-8304-79aa-000000000004"
ID = re.compile(r"(host|vm|nic|port|bridge|router|ip|net):\S+")
ASKED = {
    "where": ["where", "web-1", "--at", "2026-11-20T03:00Z"],
    "ghosts": ["ghosts", "--from", "2026-11-20T00:00Z", "--to", "2026-11-21T00:00Z"],
    "diff": ["diff", "--from", "2026-11-20T00:00Z", "--to", "2026-11-20T23:00Z"],
    "history": ["history", "web-1"],
    "lifetime": ["lifetime", "52:54:00:00:00:04"],
    "snapshot": ["snapshot", "--at", "2026-11-20T12:00Z"],
}


@pytest.fixture(scope="module", params=STORES)
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example day: three hypervisors, VMs with uuids, a migration, ghosts,
    on a SQLite file, then on a real PostgreSQL server."""
    db = module_location(request, tmp_path_factory, "day")
    code, _, err = run("ingest", str(DAY), "--db", str(db))
    assert code == 0, err
    return db


def at_width(width: int, *argv: str) -> str:
    done = CliRunner().invoke(app, list(argv), env={"COLUMNS": str(width)})
    assert done.exit_code == 0, done.stderr
    return done.stdout


def ids_in(value: object) -> set[str]:
    if isinstance(value, str):
        return {value} if ID.fullmatch(value) else set()
    if isinstance(value, dict):
        return set().union(*map(ids_in, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(ids_in, value)) if value else set()
    return set()


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("question", sorted(ASKED))
def test_tables_fit_the_terminal_and_show_every_id_whole(
    day: Path, question: str, width: int
) -> None:
    argv = [*ASKED[question], "--db", str(day)]
    out = at_width(width, *argv)
    wanted = ids_in(json.loads(at_width(width, *argv, "-o", "json")))
    assert wanted, "the question should name some things"
    assert "…" not in out
    for line in out.splitlines():
        # Every id of the example day is shorter than 80 columns: nothing needs wrapping.
        assert cell_len(line) <= width, f"wider than {width}:\n{line}"
    for eid in wanted:
        assert eid in out, f"{eid} is not shown whole at {width} columns:\n{out}"


def test_a_vm_shows_by_its_name_with_its_id_on_the_next_line(day: Path) -> None:
    out = at_width(80, *ASKED["ghosts"], "--db", str(day)).splitlines()
    row = next(i for i, line in enumerate(out) if line.startswith(" cache-1 "))
    assert out[row + 1].strip() == CACHE1
    diff = at_width(80, *ASKED["diff"], "--db", str(day)).splitlines()
    moved = next(i for i, line in enumerate(diff) if line.split()[:2] == ["web-1", "runs_on"])
    assert diff[moved].split()[2:] == ["host:hv-a", "host:hv-b"]
    assert diff[moved + 1].strip() == WEB1


def test_columns_are_chosen_by_width(day: Path) -> None:
    """Wide, a ghost's counters are a column; at 80 they go on a line of their own."""
    nic = "nic:6695eb01-f6a4-8304-79aa-000000000005/52:54:00:00:00:05"
    wide = at_width(200, *ASKED["ghosts"], "--db", str(day)).splitlines()
    assert wide[1].split()[-1] == "carried"
    i = next(i for i, line in enumerate(wide) if line.startswith(" 52:54:00:00:00:05 "))
    assert "2026-11-20T00:00:02Z" in wide[i] and "rx_bytes=11,972,714" in wide[i]
    assert wide[i + 1].strip() == nic
    narrow = at_width(80, *ASKED["ghosts"], "--db", str(day)).splitlines()
    assert "carried" not in narrow[1]
    i = next(i for i, line in enumerate(narrow) if line.startswith(" 52:54:00:00:00:05 "))
    assert "2026-11-20T00:00:02Z" in narrow[i] and "rx_bytes" not in narrow[i]
    assert narrow[i + 1].strip() == nic
    assert narrow[i + 2].split() == ["carried", "rx_bytes=11,972,714", "tx_bytes=6,072,200"]


def test_instants_drop_their_shared_date_only_when_nothing_else_fits(day: Path) -> None:
    argv = ["history", "port:hv-b/vnet2", "--db", str(day)]
    assert "2026-11-20T00:00:01Z" in at_width(200, *argv)
    narrow = at_width(60, *argv)
    assert "(times on 2026-11-20, UTC)" in narrow and " 00:00:01 " in narrow


# -- progress --------------------------------------------------------------------------


def many(tmp_path: Path, n: int = 2500) -> Path:
    """More observations than one progress tick (every thousand)."""
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "source": "gen",
                    "observed_at": 1_763_596_800 + i,
                    "kind": "snapshot",
                    "entities": [{"id": f"vm:{i % 50}", "attrs": {"n": i}}],
                }
            )
            + "\n"
            for i in range(n)
        )
    )
    return path


@pytest.mark.both_stores
def test_without_a_terminal_long_work_prints_its_summary_only(
    tmp_path: Path, db_location: str
) -> None:
    """One line each, not folded at the 80 columns a pipe is given: a log reads it whole."""
    db = db_location

    def narrow(*argv: str) -> tuple[int, str, str]:
        done = CliRunner().invoke(app, list(argv), env={"COLUMNS": "80"})
        return done.exit_code, done.stdout, done.stderr

    code, out, err = narrow("ingest", str(many(tmp_path)), "--db", db)
    assert code == 0 and out == ""
    assert err == (
        "recorded 2,500 observations (0 already known, 9,998 rows, 0 samples, "
        "0 late arrivals put in place)\n"
    )
    code, out, err = narrow("rebuild", "--db", db)
    assert code == 0 and out == ""
    # A server's store is rebuilt in a schema of its own: it names that, not a file.
    store = "the store" if server_url(db) else db
    assert err.startswith(f"rebuilt {store} from 2,500 observations; ") and err.count("\n") == 1


@pytest.mark.parametrize("command", ["ingest", "rebuild"])
@pytest.mark.both_stores
def test_on_a_terminal_long_work_shows_a_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, db_location: str
) -> None:
    db = db_location
    feed = str(many(tmp_path))
    if command == "rebuild":
        assert run("ingest", feed, "--db", db)[0] == 0
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, emoji=False)
    monkeypatch.setattr(ingest_cli, "err_console", terminal)
    code, _, err = run(command, *([feed] if command == "ingest" else []), "--db", db)
    assert code == 0 and err == ""
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    # The bar's last frame, drawn as it stops, tells the count of the last report.
    verb = "recorded 2,000" if command == "ingest" else "replayed 2,500"
    assert f"{verb} observations" in shown
    assert "━" in shown and "%" in shown
    # Transient: the bar is cleared, the summary stays.
    assert shown.rstrip().splitlines()[-1].startswith(("recorded 2,500 ", "rebuilt "))
