"""`vtrail serve` (the REST API and the page) and `vtrail token` (who may use them)."""

from __future__ import annotations

import gc
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from vtrail.cli.common import (
    DbOption,
    Output,
    OutputOption,
    console,
    err_console,
    esc,
    fail,
    open_store,
)
from vtrail.store import StoreError, default_path
from vtrail.store import tokens as token_store
from vtrail.timeexpr import from_us, iso

token_app = typer.Typer(
    help="Bearer tokens for the REST API: writers may POST observations, readers only read.",
    no_args_is_help=True,
)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="reader or writer.")],
    name: Annotated[str, typer.Option("--name", help="Who or what will use it.")] = "",
    db: DbOption = None,
) -> None:
    """Create a token and print it once: only its hash is stored."""
    if role not in token_store.ROLES:
        fail(f"--role must be reader or writer, not {role!r}", 2)
    with open_store(db, readonly=False) as store:
        info, secret = token_store.create(store, "writer" if role == "writer" else "reader", name)
    err_console.print(f"created {info.role} token #{info.id}; it is shown only now:")
    sys.stdout.write(secret + "\n")


@token_app.command("list")
def token_list(output: OutputOption = Output.table, db: DbOption = None) -> None:
    """Tokens by id, role and name (never the secrets)."""
    with open_store(db, readonly=False) as store:
        found = token_store.listing(store)
    if output is Output.json:
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "created": iso(from_us(t.created_at)),
                "revoked": iso(from_us(t.revoked_at)) if t.revoked_at else None,
            }
            for t in found
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "role", "name", "created", "revoked"):
        table.add_column(col)
    for t in found:
        revoked = iso(from_us(t.revoked_at)) if t.revoked_at else ""
        table.add_row(str(t.id), t.role, esc(t.name), iso(from_us(t.created_at)), revoked)
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (vtrail token list).")],
    db: DbOption = None,
) -> None:
    """Revoke a token: requests bearing it are refused from now on."""
    with open_store(db, readonly=False) as store:
        if not token_store.revoke(store, token_id):
            fail(f"no live token #{token_id}")
    err_console.print(f"revoked token #{token_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token", rich_help_panel="Serve")

    @app.command(rich_help_panel="Serve")
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8421,
        read_token: Annotated[
            bool,
            typer.Option(
                "--read-token",
                help="Reads need a token even on loopback (beyond loopback they always do).",
            ),
        ] = False,
        max_body: Annotated[
            int, typer.Option("--max-body", min=1, help="Largest POST body, in bytes.")
        ] = 16 * 1024 * 1024,
        db: DbOption = None,
    ) -> None:
        """The REST API (/api, OpenAPI at /api/openapi.json), the page (/) and /metrics."""
        import uvicorn

        from vtrail.api import Settings, create_app, is_loopback

        path = db or default_path()
        protect = read_token or not is_loopback(host)
        try:
            app = create_app(Settings(db=path, read_token=protect, max_body=max_body))
        except StoreError as e:
            fail(str(e))
        reads = "reads need a token" if protect else "reads are open (loopback only)"
        where = f"{path} on http://{host}:{port}/"
        err_console.print(f"serving {esc(where)} ; {reads}, writes need one")
        # A pass of the cyclic collector over the 86,000 objects of the modules and the
        # app took 47 ms, a pause of every request under way and of any allocator
        # queued behind one in its turn (bench/ipam.py): they live as long as the
        # server, and are left out of every pass.
        gc.freeze()
        uvicorn.run(
            app,
            host=host,
            port=port,
            http="httptools",
            loop="uvloop",
            log_level="warning",
            access_log=False,
        )
