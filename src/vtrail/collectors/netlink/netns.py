"""Network namespaces: listing them, holding one open, running code inside one.

A socket is bound to the namespace of the thread that creates it, and
/proc/sys/net answers for the reading thread's namespace. So `in_netns()`
runs a function in a short-lived thread that has `setns()`-ed into the
namespace: setns changes only the calling thread, no child process is forked
(pyroute2 forks one per socket), and the rest of the process never leaves its
own namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pyroute2 import netns as pyroute2_netns

from vtrail.collectors.base import SourceError

NETNS_DIR = "/run/netns"
_SELF_NS = "/proc/self/ns/net"
_CLONE_NEWNET = 0x40000000

T = TypeVar("T")


class NamespaceGone(SourceError):
    """The namespace no longer exists under its name (removed, or the name reused)."""


def _nsfs_dev() -> int:
    return Path(_SELF_NS).stat().st_dev


def list_namespaces(netns_dir: str = NETNS_DIR) -> list[str]:
    """Names under `netns_dir` that are mounted namespaces, sorted.

    `ip netns add` creates the file before bind-mounting the namespace on it,
    so a bare name can be a plain empty file for a moment: skip those.
    """
    dev = _nsfs_dev()
    names = []
    for name in pyroute2_netns.listnetns(netns_dir):
        with contextlib.suppress(OSError):
            if (Path(netns_dir) / name).stat().st_dev == dev:
                names.append(name)
    return sorted(names)


class Netns:
    """An open handle on one network namespace. It pins the namespace while open.

    `name` is None for the process's own namespace; `label` is what entity ids
    use: the name, or the hostname for the root namespace.
    """

    def __init__(self, name: str | None, label: str, fd: int, path: str) -> None:
        self.name = name
        self.label = label
        self.fd = fd
        self.path = path
        st = os.fstat(fd)
        self.ident = (st.st_dev, st.st_ino)

    def alive(self) -> bool:
        """Does the name still lead to this very namespace?"""
        if self.name is None:
            return True
        try:
            st = Path(self.path).stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.ident

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Netns({self.label!r})"


def open_netns(
    name: str | None, *, hostname: str | None = None, netns_dir: str = NETNS_DIR
) -> Netns:
    """Open (and pin) a namespace by name; None or "" is the root namespace."""
    if not name:
        fd = os.open(_SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
        return Netns(None, hostname or socket.gethostname(), fd, _SELF_NS)
    path = str(Path(netns_dir) / name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceGone(f"network namespace {name!r} does not exist") from None
    except OSError as e:
        raise SourceError(f"cannot open network namespace {name!r}: {e.strerror}") from None
    if os.fstat(fd).st_dev != _nsfs_dev():
        os.close(fd)
        raise NamespaceGone(f"{path} is not a mounted network namespace")
    return Netns(name, name, fd, path)


@contextlib.contextmanager
def handle(netns: Netns | str | None) -> Iterator[Netns]:
    if isinstance(netns, Netns):
        yield netns
    else:
        with open_netns(netns) as ns:
            yield ns


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(ns: Netns, fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh thread that has joined `ns` (directly for the root namespace)."""
    if ns.name is None:
        return fn()
    if ns.fd < 0:
        raise SourceError(f"network namespace {ns.label!r}: handle is closed")
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _setns(ns.fd)
            result.append(fn())
        except BaseException as e:  # handed to the caller's thread below
            failure.append(e)

    thread = threading.Thread(target=run, name=f"netns-{ns.label}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]  # callers turn OSError into SourceError with their own context
    return result[0]
