"""The README's table of commands and docs/api.md say what the code has, no more, no less."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount
from typer.core import TyperGroup

from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli_app

ROOT = Path(__file__).resolve().parents[1]


def cli_commands() -> set[str]:
    group = typer.main.get_command(cli_app)
    assert isinstance(group, TyperGroup)
    return set(group.commands)


def api_routes(tmp_path: Path) -> set[str]:
    """`METHOD /path` of every route; the page's static files are the page's."""
    app = create_app(Settings(db=tmp_path / "vtrail.db"))
    out = set()
    for r in iter_route_contexts(app.routes):
        if not isinstance(r.original_route, Mount):
            out |= {f"{m} {r.path_format}" for m in (r.methods or set()) - {"HEAD"}}
    return out


def readme_commands(text: str) -> set[str]:
    """The commands named in the first column of the table under "What it answers"."""
    section = text.split("## What it answers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `vtrail")]
    return {name for row in rows for name in re.findall(r"`vtrail ([a-z-]+)", row.split(" | ")[0])}


def documented_routes(text: str) -> set[str]:
    """Every `METHOD /path` written as code, its query string left off."""
    return {f"{m} {p}" for m, p in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", text)}


def test_the_readme_table_lists_every_command() -> None:
    listed = readme_commands((ROOT / "README.md").read_text())
    commands = cli_commands()
    assert commands - listed == set(), "commands missing from the README's table"
    assert listed - commands == set(), "the README's table lists commands that do not exist"


def test_docs_api_lists_every_route(tmp_path: Path) -> None:
    listed = documented_routes((ROOT / "docs" / "api.md").read_text())
    routes = api_routes(tmp_path)
    assert routes - listed == set(), "routes missing from docs/api.md"
    assert listed - routes == set(), "docs/api.md documents routes that do not exist"


def test_the_readers_find_what_a_doc_says() -> None:
    table = (
        "## What it answers\n\n| command | question |\n| --- | --- |\n"
        "| `vtrail where X --at T` | where |\n| `vtrail serve` / `vtrail token create` | api |\n"
        "\n## How it works\n\n| `vtrail elsewhere` | not in the table |\n"
    )
    assert readme_commands(table) == {"where", "serve", "token"}
    doc = "| `GET /api/show/{id}` | x |\n`GET /api/timeline?from&to` and `POST /api/observations`"
    assert documented_routes(doc) == {
        "GET /api/show/{id}",
        "GET /api/timeline",
        "POST /api/observations",
    }
