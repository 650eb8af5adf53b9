"""The lease file collector: a snapshot of the live leases whenever the file changes
(a new inode, size or modification time) or a lease in it expires, polled, since a
server rewrites its file by renaming a new one over it."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

from vtrail.collectors.base import Emit, SourceError
from vtrail.collectors.leases.parse import Parsed, parse
from vtrail.collectors.leases.transform import live, to_observation
from vtrail.model import Observation

PREFIX = "leases:"


def parse_source_uri(uri: str) -> tuple[Path, str]:
    """`leases:PATH[?space=NAME]` → the path, absolute, and the address space its
    leases are in (by default the host's name: what its root namespace is called)."""
    if not uri.startswith(PREFIX):
        raise ValueError(f"not a lease source {uri!r}: expected leases:PATH")
    rest, _, query = uri.removeprefix(PREFIX).partition("?")
    if not rest:
        raise ValueError("leases: needs a path, e.g. leases:/var/lib/misc/dnsmasq.leases")
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"space"})
    if unknown:
        raise ValueError(f"{uri!r}: unknown parameter {unknown[0]!r} (known: space)")
    space = params.get("space", [socket.gethostname()])[-1].strip()
    if not space:
        raise ValueError(f"{uri!r}: space= needs a name")
    return Path(rest).absolute(), space


class LeaseFile:
    """The Collector protocol over a lease file (see the module doc)."""

    def __init__(self, path: Path, space: str, *, poll_interval: float = 0.5) -> None:
        self.path = path
        self.space = space
        self.source = f"{PREFIX}{path}"
        self.poll_interval = poll_interval
        self.skipped = 0
        self._closed = threading.Event()

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = self.path.stat()
        except OSError as e:
            raise SourceError(f"{self.source}: {e.strerror or e}") from e
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _read(self) -> Parsed:
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise SourceError(f"{self.source}: cannot read: {e.strerror or e}") from e
        found = parse(data.decode("utf-8", "replace"))
        self.skipped = found.skipped
        return found

    def snapshot(self) -> Observation:
        return to_observation(self.source, self.space, self._read().leases, datetime.now(UTC))

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        self._closed.clear()
        seen = self._stat()
        expiry = _next_expiry(self._read(), time.time())
        while not (stop.is_set() or self._closed.is_set()):
            stop.wait(self.poll_interval)
            st = self._stat()
            if st != seen or (expiry is not None and time.time() >= expiry):
                seen = st
                found = self._read()
                at = datetime.now(UTC)
                emit(to_observation(self.source, self.space, found.leases, at))
                expiry = _next_expiry(found, at.timestamp())

    def close(self) -> None:
        self._closed.set()

    def check(self) -> None:
        self._stat()


def _next_expiry(found: Parsed, now: float) -> float | None:
    """When the next live lease expires: the file need not change for it to end."""
    return min((x.expires for x in live(found.leases, now) if x.expires is not None), default=None)
