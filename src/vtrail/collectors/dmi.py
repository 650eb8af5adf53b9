"""`dmi[:DIR][@HOST]`: a physical host's vendor, model, serial and BIOS, from its DMI table.

Linux exposes the firmware's DMI table as one small file per field under
`/sys/class/dmi/id` (`sys_vendor`, `product_name`, `product_serial`,
`bios_date`, ...). Some are readable by root only (the serial); a virtual
machine or a board may leave some out or fill them with placeholders. This
source reads the ones it can and says them as `hw.*` attributes of
`host:<HOST>` (this machine's name unless `@HOST` gives it), the name the
libvirt and netlink collectors give the same machine (docs/assets.md). A
machine that exposes none of them is an error, not an empty snapshot.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from vtrail.assetattrs import HARDWARE
from vtrail.collectors.base import Emit, SourceError
from vtrail.ids import host_id
from vtrail.model import EntityObs, JSONValue, Observation

PREFIX = "dmi"
SYSFS = Path("/sys/class/dmi/id")
#: What firmware writes where a field was never filled in: no fact at all.
PLACEHOLDERS = frozenset(
    {"", "to be filled by o.e.m.", "default string", "not specified", "system serial number",
     "none", "n/a", "0", "system product name", "system manufacturer"}
)  # fmt: skip
#: A DMI field is a short string; more than this is not one.
FIELD_MAX = 256


def parse_source_uri(uri: str) -> tuple[Path, str | None]:
    """`dmi`, `dmi:DIR`, `dmi@HOST` or `dmi:DIR@HOST` → (the directory, the host or None)."""
    if uri != PREFIX and not uri.startswith((f"{PREFIX}:", f"{PREFIX}@")):
        raise ValueError(f"not a DMI source {uri!r}: expected dmi, dmi:DIR or dmi@HOST")
    rest = uri.removeprefix(PREFIX)
    where, at, host = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if at and not host:
        raise ValueError(f"{uri!r}: @ needs a host name after it")
    directory = where.removeprefix(":")
    if where.startswith(":") and not directory:
        raise ValueError(f"{uri!r}: dmi: needs a directory, e.g. dmi:/sys/class/dmi/id")
    return (Path(directory).absolute() if directory else SYSFS), (host or None)


def read_dmi(directory: Path) -> dict[str, JSONValue]:
    """The `hw.*` attributes of every readable, filled-in field under `directory`."""
    out: dict[str, JSONValue] = {}
    for name, attr in HARDWARE.items():
        try:
            with (directory / name).open("rb") as f:
                raw = f.read(FIELD_MAX + 1)
        except OSError:
            continue  # absent on this machine, or root's only
        text = raw.decode("utf-8", "replace").strip()
        if len(raw) <= FIELD_MAX and text.lower() not in PLACEHOLDERS:
            out[attr] = text
    return out


class DmiCollector:
    def __init__(self, directory: Path = SYSFS, host: str | None = None) -> None:
        self.directory = directory
        self.host = host or socket.gethostname()
        self.source = f"{PREFIX}@{self.host}"

    def snapshot(self) -> Observation:
        attrs = read_dmi(self.directory)
        if not attrs:
            raise SourceError(f"{self.source}: no DMI field readable under {self.directory}")
        entity = EntityObs(host_id(self.host), "host", attrs)
        return Observation(self.source, datetime.now(UTC), "snapshot", entities=(entity,))

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        """The table changes only with the firmware: the interval's snapshots suffice."""
        stop.wait()

    def close(self) -> None:
        """Nothing is held open."""
