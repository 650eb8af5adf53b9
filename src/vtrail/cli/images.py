"""`vtrail images`, `vtrail image show|set|exposure`: the images VMs ran, their catalog
facts, and who ran them when (docs/images.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from vtrail.cli import columns
from vtrail.cli.columns import Col, Row
from vtrail.cli.common import (
    AtOption,
    DbOption,
    Output,
    OutputOption,
    console,
    emit,
    fail,
    open_store,
    when,
)
from vtrail.images.catalog import CatalogChange, set_catalog, show_image
from vtrail.images.exposure import ExposureAnswer, exposure
from vtrail.images.facts import ImageError, ImageFacts
from vtrail.images.listing import ImagesAnswer, images
from vtrail.recording.recorder import Recorder

app = typer.Typer(
    name="image",
    help="One image: its facts and catalog record, setting them, and its exposure "
    "(docs/images.md).",
    no_args_is_help=True,
)

ImageArg = Annotated[
    str,
    typer.Argument(help="An image id, sha256:<hex>, a catalog NAME@VERSION, or a path."),
]


def _name(f: ImageFacts) -> str:
    return f"{f.name}@{f.version}" if f.name and f.version else ""


def _images_table(a: ImagesAnswer) -> None:
    rows = [
        Row(
            [
                _name(x.facts),
                str(x.vms),
                str(x.running),
                x.facts.format or "",
                ", ".join(x.facts.flags),
            ],
            [x.facts.id],
        )
        for x in a.images
    ]
    cols = [
        Col("catalog name"),
        Col("vms", right=True),
        Col("running", right=True),
        Col("format"),
        Col("flags"),
    ]
    title = f"Images in use at {columns.instant(a.at)}"
    columns.table(console, title, cols, rows, empty="no VM used an image then")


def _when(t: datetime | None) -> str:
    return "" if t is None else f" at {columns.instant(t)}"


def _show_table(f: ImageFacts) -> None:
    lines = [
        ("image", f.id),
        ("identity", f.identity + ("" if f.recorded else " (not recorded then)")),
        ("catalog name", _name(f)),
        ("checksum", f.checksum or f"none: {f.unhashed}" if f.unhashed else f.checksum or ""),
        ("paths", ", ".join(f.paths)),
        ("format", f.format or ""),
        ("virtual size", "" if f.virtual_size is None else f"{f.virtual_size} bytes"),
        ("creator", f.creator or ""),
        ("certified", f"by {f.certified_by}{_when(f.certified_at)}" if f.certified_by else "no"),
        ("security", f"{f.security}{_when(f.security_at)}" if f.security else ""),
        ("advisories", ", ".join(f.advisories)),
        ("support end", f.support_end or ""),
        ("location", f.location or ""),
        ("flags", ", ".join(f.flags)),
    ]
    for label, value in lines:
        if value:
            console.print(Text(f"{label:>13}  {value}"), soft_wrap=True, highlight=False)


def _exposure_table(a: ExposureAnswer) -> None:
    rows = [
        Row(
            [x.name or x.entity, x.owner or "", x.host, x.t_from, x.t_to, f"{x.seconds:.0f}"],
            [x.entity] if x.name else [],
        )
        for x in a.vms
    ]
    cols = [
        Col("vm", spill=True),
        Col("owner"),
        Col("host"),
        Col("from"),
        Col("to"),
        Col("seconds", right=True),
    ]
    title = (
        f"Exposure to {a.image}: {a.vm_count} VMs on {len(a.hosts)} hosts, "
        f"{a.vm_hours:.2f} VM-hours"
    )
    columns.table(console, title, cols, rows, empty="no VM ran it in the window")


@app.command(name="show")
def show_cmd(
    image: ImageArg, at: AtOption = "now", output: OutputOption = Output.table, db: DbOption = None
) -> None:
    """An image's facts at an instant: its file and its catalog record."""
    t = when(at)
    with open_store(db) as store:
        try:
            answer = show_image(store, image, t)
        except ImageError as e:
            fail(str(e))
    emit(answer, output, _show_table)


@app.command(name="set")
def set_cmd(
    image: ImageArg,
    name: Annotated[str | None, typer.Option("--name", help="Its catalog NAME@VERSION.")] = None,
    creator: Annotated[str | None, typer.Option("--creator", help="Who made it.")] = None,
    certified_by: Annotated[
        str | None, typer.Option("--certified-by", help="Who certified it ('' uncertifies).")
    ] = None,
    certified_at: Annotated[
        str | None, typer.Option("--certified-at", help="When (ISO 8601; default now).")
    ] = None,
    security: Annotated[
        str | None, typer.Option("--security", help="ok, vulnerable or unknown.")
    ] = None,
    advisory: Annotated[
        list[str] | None,
        typer.Option("--advisory", help="An advisory or CVE id (repeat; one '' clears)."),
    ] = None,
    security_at: Annotated[
        str | None, typer.Option("--security-at", help="When the status was set (default now).")
    ] = None,
    support_end: Annotated[
        str | None, typer.Option("--support-end", help="The last day of support, YYYY-MM-DD.")
    ] = None,
    location: Annotated[
        str | None, typer.Option("--location", help="Where the image is stored.")
    ] = None,
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Record catalog facts of an image, as from now; the others stay as they were."""
    advisories = None if advisory is None else tuple(a for a in advisory if a.strip())
    change = CatalogChange(
        name, creator, certified_by, certified_at, security, advisories, security_at,
        support_end, location,
    )  # fmt: skip
    with open_store(db, readonly=False) as store:
        recorder = Recorder(store)
        try:
            answer = set_catalog(
                store, lambda o: recorder.record([o]), image, change, datetime.now(UTC)
            )
        except ImageError as e:
            fail(str(e))
    emit(answer, output, _show_table)


@app.command(name="exposure")
def exposure_cmd(
    image: ImageArg,
    t_from: Annotated[str, typer.Option("--from", help="Window start (any time form).")],
    t_to: Annotated[str, typer.Option("--to", help="Window end (default: now).")] = "now",
    output: OutputOption = Output.table,
    db: DbOption = None,
) -> None:
    """Every VM that ran the image, or an image backed by it, in the window: hosts,
    owners, intervals (VMs that lived seconds too) and the VM-hours."""
    lo, hi = when(t_from), when(t_to)
    with open_store(db) as store:
        try:
            answer = exposure(store, image, lo, hi)
        except ImageError as e:
            fail(str(e))
    emit(answer, output, _exposure_table)


def register(parent: typer.Typer) -> None:
    @parent.command("images", rich_help_panel="Ask")
    def images_cmd(
        at: AtOption = "now", output: OutputOption = Output.table, db: DbOption = None
    ) -> None:
        """The images in use at an instant, how many VMs use each, and which are
        uncertified, insecure or out of support."""
        t = when(at)
        with open_store(db) as store:
            answer = images(store, t)
        emit(answer, output, _images_table)

    parent.add_typer(app, rich_help_panel="Operations")
