"""The spool of a collector that pushes: numbered batches on disk until the server has them.

A directory, one collector's alone (a lock file says so):

    stream                 this collector's name for its batches, made once
    acked                  the number of the last batch the server acknowledged
    0000000000000042.jsonl a batch not yet acknowledged: JSON Lines of observations
    quarantine/…42.jsonl   a batch the server refused as malformed, and why (….why)

Every batch is written whole (a temporary file, synced, renamed, the directory
synced) before it is sent, so that a batch the sender holds survives a crash or
a restart of the collector, which sends what it finds here first, in order.
`acked` is written (and synced) before its batch is removed: a crash between
the two re-sends a batch the server knows already, never reuses a number.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

_BATCH = re.compile(r"^(\d{16})\.jsonl$")


class SpoolError(RuntimeError):
    """The spool cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    seq: int
    body: bytes
    observations: int


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    """`data` at `path`, whole or not at all, on disk before this returns."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    _sync_dir(path.parent)


def _stream_name() -> str:
    """The host's name and 48 random bits: two collectors on one host have their own."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64] or "host"
    return f"{host}-{secrets.token_hex(6)}"


class Spool:
    """Batches waiting for the server, oldest first. Thread-safe: one thread appends,
    another sends."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise SpoolError(f"the spool's bound must be more than zero, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.quarantine_dir = self.path / "quarantine"
        try:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.path / "lock").open("a+")
        except OSError as e:
            raise SpoolError(f"cannot use spool {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise SpoolError(
                f"spool {self.path} is in use by another vtrail record (give each its own --spool)"
            ) from None
        self._guard = threading.Lock()
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink()  # a write a crash cut short: its batch was never numbered for good
        stream_file = self.path / "stream"
        if not stream_file.exists():
            _write_synced(stream_file, _stream_name().encode())
        self.stream = stream_file.read_text().strip()
        acked = self.path / "acked"
        self._acked = int(acked.read_text() or 0) if acked.exists() else 0
        #: seq → (bytes, observations), in order.
        self._pending: dict[int, tuple[int, int]] = {}
        for seq, f in sorted(self._numbered(self.path)):
            data = f.read_bytes()
            self._pending[seq] = (len(data), data.count(b"\n"))
        quarantined = [seq for seq, _ in self._numbered(self.quarantine_dir)]
        self._next = max([self._acked, *self._pending, *quarantined]) + 1
        self._bytes = sum(size for size, _ in self._pending.values())

    @staticmethod
    def _numbered(folder: Path) -> list[tuple[int, Path]]:
        found = []
        for f in folder.iterdir():
            m = _BATCH.match(f.name)
            if m:
                found.append((int(m.group(1)), f))
        return found

    def _file(self, seq: int, folder: Path | None = None) -> Path:
        return (folder or self.path) / f"{seq:016d}.jsonl"

    # -- the state -------------------------------------------------------------------

    @property
    def full(self) -> bool:
        with self._guard:
            return self._bytes >= self.max_bytes

    def counts(self) -> tuple[int, int, int]:
        """Batches, observations and bytes waiting."""
        with self._guard:
            return (
                len(self._pending),
                sum(n for _, n in self._pending.values()),
                self._bytes,
            )

    def quarantined(self) -> list[Path]:
        return sorted(f for _, f in self._numbered(self.quarantine_dir))

    # -- batches ---------------------------------------------------------------------

    def append(self, body: bytes, observations: int) -> int:
        """Keep a batch (JSON Lines, each line ending in a newline); its number."""
        with self._guard:
            seq = self._next
            self._next += 1
        _write_synced(self._file(seq), body)
        with self._guard:
            self._pending[seq] = (len(body), observations)
            self._bytes += len(body)
        return seq

    def oldest(self) -> SpooledBatch | None:
        with self._guard:
            if not self._pending:
                return None
            seq = next(iter(self._pending))
            n = self._pending[seq][1]
        return SpooledBatch(seq, self._file(seq).read_bytes(), n)

    def acked(self, seq: int) -> None:
        """The server has batch `seq`: forget it."""
        _write_synced(self.path / "acked", str(seq).encode())
        self._file(seq).unlink()
        self._forget(seq)

    def quarantine(self, seq: int, why: str) -> Path:
        """The server refused batch `seq` as malformed: set it aside with the reason."""
        kept = self._file(seq, self.quarantine_dir)
        self._file(seq).replace(kept)
        _write_synced(kept.with_suffix(".why"), (why + "\n").encode())
        self._forget(seq)
        return kept

    def _forget(self, seq: int) -> None:
        with self._guard:
            size, _ = self._pending.pop(seq)
            self._bytes -= size

    def close(self) -> None:
        self._lock_file.close()


def default_spool() -> Path:
    """`$XDG_STATE_HOME/vtrail/spool` (~/.local/state/vtrail/spool)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vtrail" / "spool"
