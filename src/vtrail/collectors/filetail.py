"""`file:PATH.jsonl`: follow a file of observations as it grows, like `tail -F`.

The file is read from its start: the recorder ignores an observation it
already has, so re-reading after a restart costs time, never correctness.
Then new lines are picked up as they are appended; a file replaced (new
inode, as logrotate does) or truncated is read again from its start. A line
that is not a valid observation is reported and skipped, so that one bad line
does not stop the rest; a line still being written (no newline yet) waits.

The observations carry their own `source`; this collector has none of its own
to reconcile, so the runner never asks it for a snapshot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vtrail.collectors.base import Emit, SourceError
from vtrail.model import Observation
from vtrail.wire import ObservationError, parse_line

PREFIX = "file:"
#: A line longer than this is not an observation anyone meant to write.
MAX_LINE = 64 << 20


def parse_source_uri(uri: str) -> Path:
    """`file:PATH` or `file:///abs/PATH` → the path (relative to the working directory)."""
    if not uri.startswith(PREFIX):
        raise ValueError(f"not a file source {uri!r}: expected file:PATH.jsonl")
    rest = uri.removeprefix(PREFIX)
    if rest.startswith("//"):
        rest = rest.removeprefix("//")
        if not rest.startswith("/"):
            raise ValueError(f"file URI {uri!r} names a host; only local files can be tailed")
    if not rest:
        raise ValueError("file: needs a path, e.g. file:observations.jsonl")
    return Path(rest).absolute()


class FileTail:
    """The Collector protocol over a growing JSONL file (see the module doc)."""

    def __init__(
        self, path: Path, report: Callable[[str], None], *, poll_interval: float = 0.2
    ) -> None:
        self.path = path
        self.source = f"{PREFIX}{path}"
        self.report = report
        self.poll_interval = poll_interval
        # Where reading resumes after a reconnect: (inode, byte offset, line number).
        self._inode: int | None = None
        self._offset = 0
        self._line = 0
        self._closed = threading.Event()

    def check(self) -> None:
        """Raise `SourceError` unless the file can be read now."""
        if not os.access(self.path, os.R_OK):
            why = "no such file" if not self.path.exists() else "not readable"
            raise SourceError(f"{self.source}: {why}")

    def snapshot(self) -> Observation:
        raise SourceError(f"{self.source}: a file of observations has no snapshot")

    def watch(self, emit: Emit, stop: threading.Event) -> None:
        self._closed.clear()
        while not (stop.is_set() or self._closed.is_set()):
            self._follow(emit, stop)  # returns when the file was replaced or truncated

    def _follow(self, emit: Emit, stop: threading.Event) -> None:
        try:
            f = self.path.open("rb")
        except OSError as e:
            raise SourceError(f"{self.source}: cannot open: {e.strerror}") from e
        with f:
            inode = os.fstat(f.fileno()).st_ino
            if inode != self._inode:
                self._inode, self._offset, self._line = inode, 0, 0
            f.seek(self._offset)
            while not (stop.is_set() or self._closed.is_set()):
                if self._read_lines(f, emit):
                    continue
                if self._replaced(f):
                    return
                stop.wait(self.poll_interval)

    def close(self) -> None:
        self._closed.set()

    def _read_lines(self, f: BinaryIO, emit: Emit) -> bool:
        """Emit every complete line after the offset; True if any was read."""
        got = False
        while True:
            raw = f.readline(MAX_LINE)
            if not raw:
                return got
            if not raw.endswith(b"\n") and len(raw) < MAX_LINE:
                f.seek(self._offset)  # half-written: wait for the rest
                return got
            got = True
            self._offset += len(raw)
            self._line += 1
            if not raw.strip():
                continue
            try:
                # The bytes as read: a line that is not UTF-8 is refused, not altered.
                emit(parse_line(raw, self._line))
            except ObservationError as e:
                self.report(f"{self.path.name}: {e}")

    def _replaced(self, f: BinaryIO) -> bool:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False  # mid-rotation: keep the old file until a new one appears
        if st.st_ino != os.fstat(f.fileno()).st_ino:
            return True
        if st.st_size < self._offset:  # truncated in place
            self._inode = None
            return True
        return False
