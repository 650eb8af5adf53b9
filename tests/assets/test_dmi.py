"""A host's vendor, model, serial and BIOS from its DMI table.

The reader is the real one, pointed at a temporary directory laid out as
`/sys/class/dmi/id` is (one small file per field): this machine's own table may
be absent (a container) or hold other values, so the files are the test's.
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app
from vtrail.collectors.base import SourceError
from vtrail.collectors.dmi import DmiCollector, parse_source_uri, read_dmi
from vtrail.recording.recorder import Recorder
from vtrail.recording.sources import parse_source
from vtrail.store import open_store


def sysfs(tmp_path: Path, **fields: str) -> Path:
    d = tmp_path / "dmi-id"
    d.mkdir()
    for name, text in fields.items():
        (d / name).write_text(text + "\n")
    return d


def test_the_fields_the_machine_fills_in_are_read(tmp_path: Path) -> None:
    d = sysfs(
        tmp_path,
        sys_vendor="Dell Inc.",
        product_name="PowerEdge R650",
        product_serial="7XK2QF3",
        bios_date="03/14/2024",
        bios_version="To Be Filled By O.E.M.",
        board_name="0NVX3H",
    )
    (d / "bios_vendor").mkdir()  # unreadable as a file, as root-only fields are to others
    assert read_dmi(d) == {
        "hw.vendor": "Dell Inc.",
        "hw.model": "PowerEdge R650",
        "hw.serial": "7XK2QF3",
        "hw.bios_date": "03/14/2024",
    }


@pytest.mark.both_stores
def test_the_host_card_shows_its_hardware(tmp_path: Path, db_location: str) -> None:
    d = sysfs(
        tmp_path, sys_vendor="HPE", product_name="ProLiant DL360 Gen10", bios_date="01/02/2023"
    )
    collector = DmiCollector(d, "hv-z")
    obs = collector.snapshot()
    assert obs.source == "dmi@hv-z" and [e.id for e in obs.entities] == ["host:hv-z"]
    db = db_location
    with closing(open_store(db)) as store:
        Recorder(store).record([obs])
    done = CliRunner().invoke(app, ["asset", "host:hv-z", "--db", db, "-o", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["hardware"] == {
        "vendor": "HPE",
        "model": "ProLiant DL360 Gen10",
        "bios_date": "01/02/2023",
    }


def test_a_machine_without_a_table_is_an_error_not_an_empty_host(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no DMI field readable"):
        DmiCollector(sysfs(tmp_path), "hv-z").snapshot()


def test_the_source_uri(tmp_path: Path) -> None:
    assert parse_source_uri("dmi") == (Path("/sys/class/dmi/id"), None)
    assert parse_source_uri(f"dmi:{tmp_path}@hv-q") == (tmp_path, "hv-q")
    assert parse_source_uri("dmi@hv-q") == (Path("/sys/class/dmi/id"), "hv-q")
    assert parse_source("dmi@hv-q").uri == "dmi@hv-q"
    with pytest.raises(ValueError, match="@ needs a host name"):
        parse_source_uri("dmi@")
