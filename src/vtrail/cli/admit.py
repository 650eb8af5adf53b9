"""`vtrail admit DOMAIN.xml` and `vtrail admit install-hook`: admission before a VM starts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import DbOption, Output, OutputOption, console, emit, fail, open_store, when
from vtrail.provisioning.admission import Admission, BadDomain, NoParser, admit
from vtrail.provisioning.hook import HOOKS_DIR, InstallError, install
from vtrail.store import default_path

#: The subcommand a domain file is handed to: `vtrail admit web-1.xml` is `admit check`.
_CHECK = "check"


class _Admit(TyperGroup):
    """A group whose first argument is a domain file unless it names a subcommand."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and (args[0] == "-" or args[0][0] != "-"):
            return _CHECK, self.commands[_CHECK], args
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="admit",
    cls=_Admit,
    help="Whether the policy in force allows a VM to start: vtrail admit DOMAIN.xml, with "
    "--owner, --host, --at and -o json as `vtrail admit check --help` says (- reads the XML "
    "from stdin); and install-hook, the libvirt hook that asks it (docs/provisioning.md).",
    no_args_is_help=True,
)


def table(a: Admission) -> None:
    verdict = "ALLOWED" if a.allow else "DENIED"
    title = f"{a.domain}: {verdict} at {columns.instant(a.at)}"
    console.print(
        Text(f"owner {a.owner or '(none)'}, host {a.host or '(not given)'}", style="dim"),
        soft_wrap=True,
    )
    rows = [Row([d.target, d.source or "(no source)", d.image or "unknown image"]) for d in a.disks]
    columns.table(console, "Disks", [Col("disk"), Col("source"), Col("image")], rows,
                  empty="no disks")  # fmt: skip
    if a.quota is not None and a.usage_with_vm is not None:
        cells = [f"{k} {a.usage_with_vm[k]} of {v}" for k, v in a.quota.items()]
        console.print(Text(f"quota with this VM: {', '.join(cells)}", style="dim"))
    rows = [Row([r.rule, r.kind, r.reason]) for r in a.reasons]
    cols = [Col("rule"), Col("kind"), Col("why", spill=True)]
    columns.table(console, title, cols, rows, empty="every provisioning rule and quota allows it")


def _read(domain: str) -> str:
    try:
        data = sys.stdin.buffer.read() if domain == "-" else Path(domain).read_bytes()
    except FileNotFoundError:
        fail(f"no such file: {domain}", 2)
    except OSError as e:
        fail(f"cannot read {domain}: {e.strerror}", 2)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{domain} is not UTF-8 text", 2)


@app.command(_CHECK, hidden=True)
def check_cmd(
    domain: Annotated[str, typer.Argument(help="The domain XML file, or - for stdin.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Its owner (default: its vtrail metadata's).")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="The host it is to start on (default: host rules untested)."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Decide as of this instant (default: now).")
    ] = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Allow or deny, with every reason; writes nothing. Exits 1 on deny."""
    xml = _read(domain)
    instant = when(at) if at else datetime.now(UTC)
    with open_store(db) as store:
        try:
            found = admit(store, xml, instant, owner=owner, host=host)
        except BadDomain as e:
            fail(str(e), 2)
        except NoParser as e:
            fail(str(e))
    emit(found, output, table)
    if not found.allow:
        raise typer.Exit(1)


@app.command("install-hook")
def install_hook(
    directory: Annotated[
        Path, typer.Option("--dir", help="libvirt's hooks directory.")
    ] = HOOKS_DIR,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Ask this vtrail server (http://HOST:PORT) instead of --db."),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="A reader token for --server.")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="This host's name (default: its hostname).")
    ] = None,
    on_error: Annotated[
        str, typer.Option("--on-error", help="When vtrail cannot be asked: deny or allow.")
    ] = "deny",
    force: Annotated[bool, typer.Option("--force", help="Replace another hook.")] = False,
    db: DbOption = None,
) -> None:
    """Install the qemu hook that refuses to start a VM the policy denies."""
    kw: dict[str, Any] = {"server": server, "token_file": token_file, "host": host}
    if server is None:
        with open_store(db):
            pass  # refused here, in one line, if it cannot be opened
        kw["db"] = db or default_path()
    try:
        target = install(directory, on_error=on_error, force=force, **kw)
    except InstallError as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot write the hook in {directory}: {e.strerror}", 1)
    console.print(
        Text(f"installed {target}; restart libvirtd (or virtqemud) for it to take effect"),
        soft_wrap=True,
    )


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, rich_help_panel="Ask")
