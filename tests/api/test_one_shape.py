"""One name, one answer, one JSON (issue 9).

Every question is a CLI command and an API route of the same name, taking the
same parameters; what is on one side only is listed here with the reason. Every
answer says its instants in ISO 8601 with the zone and its windows as `from`
and `to`, whichever side is asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.testing import CliRunner

from api.story import GHOST, STORY_POLICY, WEB, at
from stores import STORES, recorded
from triage.probe_story import record_probe_story
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli_app

#: Commands that ask nothing of the record, so the API has no route for them.
CLI_ONLY = {
    "record": "runs collectors on this machine; their observations reach a remote store "
    "through POST /api/observations",
    "ingest": "a write (a file of observations); over HTTP that is POST /api/observations",
    "rebuild": "rewrites the store from its journal, with the store closed to everyone else",
    "compact": "maintenance of the store's files, with the store closed to everyone else",
    "serve": "starts the API itself",
    "token": "makes the tokens the API checks; handing them out over HTTP would defeat them",
    "demo": "builds a real fabric on this machine, as root",
    "tour": "replays the bundled day into a store of its own and asks it the questions",
    "policy apply": "a write (a policy file); over HTTP that is PUT /api/policy",
    "inventory": "a write (an inventory file); over HTTP that is POST /api/observations",
    "ipam allocate": "a write; over HTTP that is POST /api/ipam/allocate",
    "ipam release": "a write; over HTTP that is POST /api/ipam/release",
    "admit": "decides on a domain XML file, which over HTTP is the body of "
    "POST /api/admission; `admit install-hook` writes libvirt's hook on this machine",
    "image set": "a write; over HTTP that is POST /api/image/set",
}

#: Routes that are not questions, so the CLI has no command for them.
API_ONLY = {
    "POST /api/observations": "a write: the CLI records with `ingest` and `record`",
    "PUT /api/policy": "a write: the CLI applies a policy file with `policy apply`",
    "POST /api/ipam/allocate": "a write: the CLI allocates with `ipam allocate`",
    "POST /api/ipam/release": "a write: the CLI releases with `ipam release`",
    "POST /api/image/set": "a write: the CLI records catalog facts with `image set`",
    "GET /metrics": "Prometheus' scrape of the server's own counters",
    "GET /": "the page, which asks the questions over HTTP",
    "GET /api/openapi.json": "the document this test walks",
    "GET /api/docs": "the document's browser",
    "POST /api/check": "`check` with a draft policy in the body, which the CLI reads from "
    "`--policy FILE`",
    "POST /api/admission": "`admit` with the domain XML as the body, which the CLI reads "
    "from a file",
    "POST /api/plan/review": "`plan review` with a saved plan in the body, which the CLI "
    "reads from `--plan FILE`",
}

#: CLI options that the API takes otherwise than as a query parameter of the same name.
CLI_ELSEWHERE = {
    ("check", "policy"): "a draft policy file is the body of POST /api/check",
    ("plan review", "plan"): "a saved plan is the body of POST /api/plan/review",
}

#: Options every command has that say where the store is and how to print, not what to ask.
#: An `--output` that offers more than a table, YAML or JSON (topology's `dot`) is a parameter.
CLI_PLUMBING = {"db"}
PRINTS = {"table", "yaml", "json"}


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """With the story's policy and a probe, which `health` and `triage` read: a SQLite
    file, or a PostgreSQL database for a test parametrised over STORES."""
    return recorded(request, tmp_path_factory, "shape", record_probe_story)


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=db))) as c:
        yield c


def commands() -> dict[str, Any]:
    """Every command by name; a group's as `GROUP SUB` (`policy show`), but for a group
    on the CLI only as a whole (`token`)."""
    group = typer.main.get_command(cli_app)
    assert isinstance(group, TyperGroup)
    out: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        if isinstance(cmd, TyperGroup) and name not in CLI_ONLY:
            out |= {f"{name} {sub}": c for sub, c in cmd.commands.items()}
        else:
            out[name] = cmd
    return out


def groups() -> set[str]:
    return {name.split(" ")[0] for name in commands() if " " in name}


def question_commands() -> dict[str, TyperCommand]:
    return {n: c for n, c in commands().items() if n not in CLI_ONLY}


def routes(client: TestClient) -> set[str]:
    """`METHOD /path` of everything the server answers, but the page's static files."""
    out = set()
    for r in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(r.original_route, Mount):
            continue  # /static: the page's files, served as they are
        out |= {f"{m} {r.path_format}" for m in (r.methods or set()) - {"HEAD"}}
    return out


def question_routes(client: TestClient) -> dict[str, tuple[str, dict[str, Any]]]:
    """Question name -> (path, operation) for every GET under /api in the document. A
    group's questions are under its name (`/api/policy/diff` is `policy diff`), and its
    `show` is the group's own path (`/api/policy` is `policy show`)."""
    doc = client.get("/api/openapi.json").json()
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if f"{method.upper()} {path}" in API_ONLY:
                continue
            assert method == "get", f"{method.upper()} {path} is neither a question nor listed"
            parts = path.removeprefix("/api/").split("/")
            if parts[0] in groups():
                name = " ".join(parts[:2]) if len(parts) > 1 else f"{parts[0]} show"
            else:
                name = parts[0]
            assert name not in out, f"{path} and {out[name][0]} answer one name"
            out[name] = (path, op)
    return out


def test_every_question_is_asked_on_both_sides_under_one_name(client: TestClient) -> None:
    assert set(CLI_ONLY) <= set(commands()), "a listed command is gone: take it off the list"
    assert set(API_ONLY) <= routes(client), "a listed route is gone: take it off the list"
    cli, api = set(question_commands()), set(question_routes(client))
    assert cli - api == set(), "CLI commands without an API route of the same name"
    assert api - cli == set(), "API routes without a CLI command of the same name"


def test_every_route_is_in_the_document_or_listed(client: TestClient) -> None:
    documented = {f"GET {p}" for p, _ in question_routes(client).values()}
    assert routes(client) - documented == set(API_ONLY)


def _cli_params(cmd: TyperCommand) -> tuple[int, set[str]]:
    """The number of positional arguments and the long names of the options."""
    positional = [p for p in cmd.params if isinstance(p, TyperArgument)]
    named = set()
    for p in cmd.params:
        if isinstance(p, TyperOption):
            long = [o for o in p.opts if o.startswith("--")]
            assert long, f"{cmd.name}: option {p.opts} has no long name"
            name = long[0].removeprefix("--")
            if name == "output" and set(_choices(p)) <= PRINTS:
                continue
            named.add(name)
    return len(positional), named - CLI_PLUMBING


def _choices(option: TyperOption) -> list[str]:
    return [str(c.value) for c in option.type_descriptor.annotation]


@pytest.mark.parametrize("name", sorted(question_commands()))
def test_a_question_takes_the_same_parameters_on_both_sides(client: TestClient, name: str) -> None:
    positional, named = _cli_params(question_commands()[name])
    named -= {option for command, option in CLI_ELSEWHERE if command == name}
    _, op = question_routes(client)[name]
    params = op.get("parameters", [])
    in_path = [p["name"] for p in params if p["in"] == "path"]
    in_query = {p["name"] for p in params if p["in"] == "query"}
    # What the CLI takes as an argument, the API takes in the path or as a required query
    # parameter of the same meaning (`what`, `a`, `b`, `q`); everything else by one name.
    assert named - in_query == set(), f"{name}: CLI options the API does not take"
    extra = in_query - named
    assert all(p["required"] for p in params if p["name"] in extra), (name, extra)
    assert positional == len(in_path) + len(extra), (name, in_path, extra)


# -- the JSON of every answer --------------------------------------------------------------

T2, T6, T12, T25 = (at(m).isoformat() for m in (2, 6, 12, 25))

#: One asking of each question: a new question must come with one.
EXAMPLES: dict[str, list[str]] = {
    "where": ["web-1", "--at", T12],
    "show": [GHOST, "--at", T6],
    "history": [WEB],
    "lifetime": [GHOST],
    "diff": ["--from", T2, "--to", T12],
    "ghosts": ["--from", T2, "--to", T25],
    "snapshot": ["--at", T25],
    "stats": [],
    "topology": ["--at", T12],
    "path": ["web-1", "db-1", "--at", T2, "--compare", T12],
    "timeline": ["--from", T2, "--to", T25, "--buckets", "5"],
    "counters": [GHOST],
    "search": ["br-"],
    "policy show": ["--at", T25],
    "policy diff": ["--from", T2, "--to", T25],
    "check": ["--from", T2, "--to", T25, "--policy", str(STORY_POLICY)],
    "health": ["db", "--from", T2, "--to", T25],
    "triage": ["web-1", "db-1", "--at", T25, "--window", "30m"],
    "assets": ["--at", T12],
    "asset": [WEB, "--at", T12],
    "ipam pools": ["--at", T25],
    "ipam who": ["10.0.1.10", "--from", T2, "--to", T25],
    "ipam conflicts": ["--from", T2, "--to", T25],
    "ipam usage": ["--from", T2, "--to", T25, "--points", "3"],
    "ipam export": ["--format", "csv", "--at", T25],
    "quota": ["--from", T2, "--to", T25],
    "account": ["--from", T2, "--to", T25, "--by", "host"],
    "plan drain": ["hv-a", "--at", T12],
    # While web-1 is cut off: at minute 12 db-1 could not leave hv-a (hv-b has no
    # br-db, and web-near-db binds it), at 25 the rule is broken whatever moves.
    "plan rolling": ["--hosts", "hv-a", "--at", T25],
    "plan review": ["--from", T2, "--to", T25],
    "images": ["--at", T25],
    "image show": [f"sha256:{'a' * 64}", "--at", T25],
    "image exposure": [f"sha256:{'a' * 64}", "--from", T2, "--to", T25],
}

#: The keys an instant goes under, in every answer; each means an instant wherever it is.
INSTANTS = {
    "at", "from", "to", "first", "last", "since", "first_seen", "last_seen", "ended",
    "first_at", "last_at", "last_observed", "journal_kept_from", "reporting_since",
    "onset", "last_healthy", "last_round", "certified_at", "security_at",
}  # fmt: skip
#: Lists of instants (`points` are `[instant, value]` pairs).
INSTANT_LISTS = {"vanished_between"}
#: What a source said, as it said it: not the answer's own shape. A policy, and its
#: changes, are in the file's form, which an operator wrote (max-hops has its own `from`).
SOURCE_DATA = {"attrs", "changes", "policy"}

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(\d{3})?Z$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:")


def _misspoken(value: Any, key: str = "", path: str = "$") -> Iterator[str]:
    """Where an answer says an instant or a window otherwise than the rule."""
    if isinstance(value, dict):
        if key in SOURCE_DATA:
            return
        for k, v in value.items():
            if k.endswith(("_ts", "_us")) or k in ("t_from", "t_to", "valid_from", "valid_to"):
                yield f"{path}.{k}: an instant or window key the rule does not name"
            yield from _misspoken(v, k, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if key == "points":
                yield from _misspoken(v[0], "at", f"{path}[{i}][0]")
            else:
                yield from _misspoken(v, "at" if key in INSTANT_LISTS else key, f"{path}[{i}]")
    elif key in INSTANTS:
        if value is not None and not (isinstance(value, str) and ISO.match(value)):
            yield f"{path}: {value!r} is not an ISO 8601 instant with its zone"
    elif isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        yield f"{path}: an instant under {key!r}, which is not one of the instants' keys"
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 10**9:
        # The story's counters and sizes stay below 10^9: this is a clock (s, ms or µs).
        yield f"{path}: {value} looks like a raw timestamp"


def cli_json(db: Path, name: str) -> Any:
    args = [*name.split(" "), *EXAMPLES[name], "--db", str(db), "-o", "json"]
    done = CliRunner().invoke(cli_app, args)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_every_question_has_an_example() -> None:
    assert set(EXAMPLES) == set(question_commands())


@pytest.mark.parametrize("db", STORES, indirect=True)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_answer_says_instants_and_windows_one_way(db: Path, name: str) -> None:
    answer = cli_json(db, name)
    assert isinstance(answer, dict), f"{name}: an answer is one object, not a bare list"
    assert list(_misspoken(answer)) == []


def test_the_rule_finds_what_it_refuses() -> None:
    bad = {
        "t_from": "2026-11-20T03:00:00.000Z",
        "at": 1795662720000000,
        "counters": [{"first_ts": 1795662720000000, "total": 5}],
        "when": "2026-11-20T03:00:00.000Z",
        "points": [["2026-11-20 03:00", 1]],
        "vanished_between": ["2026-11-20T03:00:00+00:00", None],
        "attrs": {"created": "2026-11-20T03:00:00"},
        "to": None,
    }
    found = " ".join(_misspoken(bad))
    for where in ("$.t_from:", "$.at:", "$.counters[0].first_ts:", "$.when:", "$.points[0][0]:",
                  "$.vanished_between[0]:"):  # fmt: skip
        assert where in found
    assert "attrs" not in found and "$.to" not in found and "vanished_between[1]" not in found
