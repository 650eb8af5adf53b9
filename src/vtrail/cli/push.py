"""`vtrail record --push`: its options checked, its writer opened, its spool shown."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from vtrail.cli.common import fail
from vtrail.collectors.libraries import MissingLibrary, require
from vtrail.recording.push import PushStats, PushWriter
from vtrail.recording.spool import Spool, SpoolError
from vtrail.recording.writer import WriterStats

#: The spool's default bound: a day of a busy hypervisor's observations, on any disk.
SPOOL_MAX = 1 << 30


def check_push(url: str, token: str | None) -> None:
    """A usable `--push URL` and a token, or one line and exit 2."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"--push: {url!r} is not an http:// or https:// URL of a vtrail serve", 2)
    if parts.query or parts.fragment:
        fail(f"--push: {url!r}: give the server's address, without a query", 2)
    if not token:
        fail("--push needs a writer token of that server: --token or $VTRAIL_TOKEN", 2)
    try:
        require("push")
    except MissingLibrary as e:
        fail(str(e))


def push_writer(url: str, token: str, spool: Path, spool_max: int) -> PushWriter:
    try:
        return PushWriter(url, token, Spool(spool, spool_max))
    except SpoolError as e:
        fail(str(e))


def spool_line(w: WriterStats) -> str:
    """The status line's part about the spool (Rich markup), for a writer that pushes."""
    if not isinstance(w, PushStats):
        return ""
    line = f" · spool {w.spooled_batches:,} batches ({w.spool_bytes / 1e6:.1f} MB)"
    if w.quarantined:
        line += f" · [red]{w.quarantined:,} refused, in quarantine[/]"
    return line
