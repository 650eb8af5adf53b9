"""The client library each live source needs, and the package extra that installs it.

`pip install vtrail` leaves them out (libvirt-python compiles against libvirt's
headers); `vtrail[libvirt]`, `vtrail[netlink]`, `vtrail[ovs]` or `vtrail[all]`
bring them (pyproject.toml). Nothing imports them until a source is opened, and
then `require` turns their absence into one sentence that says what to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Library:
    module: str
    package: str
    extra: str


#: By source: what `--source libvirt+…`, `netlink…` and `ovs+…` import.
LIBRARIES = {
    "libvirt": Library("libvirt", "libvirt-python", "libvirt"),
    "netlink": Library("pyroute2", "pyroute2", "netlink"),
    "ovs": Library("ovs", "ovs", "ovs"),
    # `--source probe`: ICMP and HTTP (TCP is asyncio's own).
    "probe": Library("icmplib", "icmplib", "probe"),
    "probe-http": Library("httpx2", "httpx2", "probe"),
    # Not a source: `vtrail record --push` sends what the sources see over HTTP.
    "push": Library("httpx2", "httpx2", "push"),
}


class MissingLibrary(ImportError):
    """A source's client library is not installed (or does not load)."""


def require(source: str) -> None:
    """Import the library `source` needs, or raise `MissingLibrary` naming its extra."""
    lib = LIBRARIES[source]
    install = f"pip install 'vtrail[{lib.extra}]'"
    try:
        importlib.import_module(lib.module)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != lib.module:
            # Installed, but something it imports is not: say so, not "install it".
            raise MissingLibrary(
                f"the {source} source needs {lib.package}, which does not load: {e}"
            ) from e
        raise MissingLibrary(f"the {source} source needs {lib.package}: {install}") from e
    except ImportError as e:
        # libvirt-python is there but libvirt's shared library is not, or is too old.
        raise MissingLibrary(
            f"the {source} source needs {lib.package}, which does not load: {e}"
        ) from e
