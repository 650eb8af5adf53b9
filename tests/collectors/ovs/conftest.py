"""Fixtures: a private ovsdb-server per test, and ovs-vswitchd where the host allows.

The daemons and the reason they run as they do are in `ovs_testbed.py`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.ovs.ovs_testbed import (
    PrivateOvsdb,
    PrivateVswitchd,
    ovsdb_unavailable,
    start_ovsdb,
    start_vswitchd,
    stop,
    vswitchd_unavailable,
)


@pytest.fixture
def ovs_dir() -> Iterator[Path]:
    # mkdtemp under /tmp, not tmp_path: unix socket paths must stay < 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="vtovs-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ovsdb(ovs_dir: Path) -> Iterator[PrivateOvsdb]:
    reason = ovsdb_unavailable()
    if reason:
        pytest.skip(reason)
    server = start_ovsdb(ovs_dir)
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture
def vswitchd(ovsdb: PrivateOvsdb) -> Iterator[PrivateVswitchd]:
    reason = vswitchd_unavailable()
    if reason:
        pytest.skip(reason)
    daemon = start_vswitchd(ovsdb)
    try:
        yield daemon
    finally:
        stop(daemon.proc)
