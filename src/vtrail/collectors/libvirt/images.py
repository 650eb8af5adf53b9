"""Reading a domain's disk files on this host: format, virtual size, backing chain, checksum.

This is the `get` side of images: it reads files, never interprets them into
entities (`transform` does). The chain comes from `qemu-img info --backing-chain`
(Debian's qemu-utils), with `-U` so that a disk a running guest holds locked is
still read; without qemu-img, or for a file it cannot open, the file is left out
and `transform` falls back to what the domain XML says.

A checksum reads the whole file, so it is kept by (path, size, mtime) and taken
again only when one of them changes. It is not taken:

- of a disk the guest may write (no `<readonly/>`, the top of its chain): its bytes
  change while it runs, and an id that changed with every write would name nothing;
- of what is not a regular file (a block device, a network volume);
- of a file larger than `HASH_MAX_BYTES`;
- of a file this process may not read.

Then `unhashed` says which, and the image is identified by its path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vtrail.collectors.libvirt.payload import ImageFile

log = logging.getLogger(__name__)

#: Files larger than this are identified by path: hashing 64 GiB takes minutes.
HASH_MAX_BYTES = 64 * 1024**3
#: How long one `qemu-img info` may take before the file is taken as unreadable.
QEMU_IMG_TIMEOUT = 10.0
#: The longest backing chain followed (qemu's own limit is deeper; a loop must end).
CHAIN_MAX = 64


@dataclass(frozen=True, slots=True)
class DiskFile:
    """A disk as the domain XML gives it: its file, and whether the guest may write it."""

    path: str
    readonly: bool


_FileKey = tuple[str, int, int]
_hashes: dict[_FileKey, str] = {}
_lock = threading.Lock()


def _file_key(path: str) -> tuple[_FileKey | None, str | None]:
    """(path, size, mtime) of a regular file, or None and why it is not one."""
    try:
        st = Path(path).stat()
    except OSError as e:
        return None, f"not readable here: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    return (path, st.st_size, st.st_mtime_ns), None


def checksum(path: str) -> tuple[str | None, str | None]:
    """(sha256, None) of a file, from the cache while its size and mtime stay; else
    (None, why not)."""
    key, why = _file_key(path)
    if key is None:
        return None, why
    if key[1] > HASH_MAX_BYTES:
        return None, f"larger than {HASH_MAX_BYTES // 1024**3} GiB"
    with _lock:
        found = _hashes.get(key)
    if found is not None:
        return found, None
    try:
        with Path(path).open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        return None, f"not readable here: {e.strerror}"
    with _lock:
        _hashes[key] = digest
    return digest, None


def _qemu_img(path: str) -> list[dict[str, object]] | None:
    exe = shutil.which("qemu-img")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "info", "-U", "--output=json", "--backing-chain", path],
            capture_output=True,
            timeout=QEMU_IMG_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        log.debug("qemu-img info %s: %s", path, e)
        return None
    if done.returncode != 0:
        log.debug("qemu-img info %s: %s", path, done.stderr.decode(errors="replace").strip())
        return None
    try:
        layers = json.loads(done.stdout)
    except ValueError:
        return None
    return [x for x in layers if isinstance(x, dict)] if isinstance(layers, list) else None


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def chain(disk: DiskFile) -> list[ImageFile]:
    """The files of one disk, top first; empty when qemu-img cannot read it."""
    top = str(Path(disk.path).absolute())
    if not Path(top).exists():
        return []  # a missing file costs a stat, not a process
    layers = _qemu_img(top)
    if not layers:
        return []
    out: list[ImageFile] = []
    path = top
    for i, layer in enumerate(layers[:CHAIN_MAX]):
        backing = _text(layer.get("full-backing-filename")) or _text(layer.get("backing-filename"))
        if backing is not None and not Path(backing).is_absolute():
            backing = str(Path(path).parent / backing)
        size = layer.get("virtual-size")
        if i == 0 and not disk.readonly:
            digest: str | None = None
            why: str | None = "written by the guest"
        else:
            digest, why = checksum(path)
        out.append(
            ImageFile(
                path=path,
                format=_text(layer.get("format")),
                virtual_size=size if isinstance(size, int) else None,
                backing=backing,
                checksum=digest,
                unhashed=why,
            )
        )
        if backing is None:
            break
        path = backing
    return out


def read_images(disks: Iterable[DiskFile]) -> tuple[ImageFile, ...]:
    """Every file of these disks' chains that could be read, each path once."""
    seen: dict[str, ImageFile] = {}
    for d in disks:
        if str(Path(d.path).absolute()) in seen:
            continue
        for f in chain(d):
            seen.setdefault(f.path, f)
    return tuple(seen.values())
